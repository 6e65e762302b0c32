"""The NPZ contract (data.md section 1) and the file rows of the validation table (section 2)."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import numpy as np
import pytest

from backends.data import RawData, load_npz, save_npz
from tests.backends.data.conftest import make_arrays


def _write(path: Path, arrays: dict) -> Path:
    np.savez(path, **arrays)
    return path


def _load(tmp_path: Path, arrays: dict, **kwargs) -> RawData:
    return load_npz(_write(tmp_path / "scan.npz", arrays), **kwargs)


# ----------------------------------------------------------------- row 1: missing keys
@pytest.mark.parametrize("key", ["xcoords", "ycoords", "probeGuess"])
def test_missing_required_key_raises_keyerror_naming_it(tmp_path, arrays, key):
    del arrays[key]
    with pytest.raises(KeyError) as info:
        _load(tmp_path, arrays)
    message = info.value.args[0]
    assert repr(key) in message
    assert "scan.npz" in message


def test_missing_both_diffraction_keys(tmp_path, arrays):
    del arrays["diff3d"]
    del arrays["xcoords"]
    with pytest.raises(KeyError) as info:
        _load(tmp_path, arrays)
    message = info.value.args[0]
    assert "'diff3d' (or 'diffraction')" in message and "'xcoords'" in message


def test_diffraction_key_used_when_diff3d_absent(tmp_path, arrays):
    arrays["diffraction"] = arrays.pop("diff3d")
    raw = _load(tmp_path, arrays)
    assert raw.diffraction_key == "diffraction"
    np.testing.assert_array_equal(raw.diff3d, arrays["diffraction"])


def test_diff3d_wins_over_diffraction(tmp_path, arrays):
    arrays["diffraction"] = np.zeros_like(arrays["diff3d"])
    raw = _load(tmp_path, arrays)
    np.testing.assert_array_equal(raw.diff3d, arrays["diff3d"])


# ----------------------------------------------------------------- row 2: dtype
@pytest.mark.parametrize("dtype", [np.uint16, np.int32, np.int64, np.uint8])
def test_integer_diffraction_rejected_with_sqrt_hint(tmp_path, arrays, dtype):
    arrays["diff3d"] = (arrays["diff3d"] * 100).astype(dtype)
    with pytest.raises(ValueError, match="integer dtype") as info:
        _load(tmp_path, arrays)
    assert "sqrt" in str(info.value) and "'diff3d'" in str(info.value)


def test_complex_diffraction_rejected(tmp_path, arrays):
    arrays["diff3d"] = arrays["diff3d"].astype(np.complex64)
    with pytest.raises(ValueError, match="complex dtype complex64"):
        _load(tmp_path, arrays)


def test_float64_diffraction_accepted_and_kept(tmp_path, arrays):
    arrays["diff3d"] = arrays["diff3d"].astype(np.float64)
    assert _load(tmp_path, arrays).diff3d.dtype == np.float64


# ----------------------------------------------------------------- rows 3-4: coordinates
@pytest.mark.parametrize("key", ["xcoords", "ycoords", "xcoords_start", "ycoords_start"])
def test_coordinate_shapes_must_match(tmp_path, arrays, key):
    arrays[key] = arrays[key][:-1]
    with pytest.raises(ValueError, match="coordinate arrays must have matching shapes") as info:
        _load(tmp_path, arrays)
    assert f"{key} ({len(arrays[key])},)" in str(info.value)


def test_coordinates_must_be_1d(tmp_path, arrays):
    for key in ("xcoords", "ycoords", "xcoords_start", "ycoords_start"):
        arrays[key] = arrays[key][:, None]
    with pytest.raises(ValueError, match=r"'xcoords' must be 1-D \(M,\); got shape \(12, 1\)"):
        _load(tmp_path, arrays)


# ----------------------------------------------------------------- row 5: diffraction shape
def test_diffraction_must_be_3d(tmp_path, arrays):
    arrays["diff3d"] = arrays["diff3d"][0]
    with pytest.raises(ValueError, match=r"must be 3-D \(M, N, N\); got shape \(8, 8\)"):
        _load(tmp_path, arrays)


def test_diffraction_must_be_square(tmp_path, arrays):
    arrays["diff3d"] = np.ones((12, 8, 6), np.float32)
    with pytest.raises(ValueError, match=r"must be square .* got shape \(12, 8, 6\)"):
        _load(tmp_path, arrays)


def test_legacy_layout_transposed_with_warning(tmp_path, arrays):
    legacy = np.transpose(arrays["diff3d"], (1, 2, 0))  # (N, N, M) = (8, 8, 12)
    arrays["diff3d"] = legacy
    with pytest.warns(UserWarning, match="legacy layout"):
        raw = _load(tmp_path, arrays)
    np.testing.assert_array_equal(raw.diff3d, np.transpose(legacy, (2, 0, 1)))


def test_genuine_stack_with_fewer_patterns_than_pixels_not_transposed(tmp_path):
    arrays = make_arrays(M=5, N=8)  # (5, 8, 8): upstream's a < c rule would misfire
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        raw = _load(tmp_path, arrays)
    np.testing.assert_array_equal(raw.diff3d, arrays["diff3d"])


# ----------------------------------------------------------------- rows 6-8
def test_pattern_count_must_match_positions(tmp_path, arrays):
    arrays["diff3d"] = arrays["diff3d"][:10]
    with pytest.raises(
        ValueError, match=r"number of patterns in 'diff3d' \(10.*positions in 'xcoords' \(12\)"
    ):
        _load(tmp_path, arrays)


def test_probe_must_be_2d(tmp_path, arrays):
    arrays["probeGuess"] = arrays["probeGuess"][..., None]
    with pytest.raises(ValueError, match=r"'probeGuess' must be 2-D .* got shape \(8, 8, 1\)"):
        _load(tmp_path, arrays)


def test_probe_must_match_pattern_side(tmp_path, arrays):
    arrays["probeGuess"] = np.ones((16, 16), np.complex64)
    with pytest.raises(ValueError, match=r"\(N, N\) = \(8, 8\); got shape \(16, 16\)"):
        _load(tmp_path, arrays)


def test_real_probe_is_cast_to_complex64(tmp_path, arrays):
    arrays["probeGuess"] = np.abs(arrays["probeGuess"]).astype(np.float32)
    raw = _load(tmp_path, arrays)
    assert raw.probeGuess.dtype == np.complex64
    np.testing.assert_array_equal(raw.probeGuess.real, arrays["probeGuess"])


@pytest.mark.parametrize("shape", [(40,), (2, 40, 40)])
def test_object_must_be_2d(tmp_path, arrays, shape):
    arrays["objectGuess"] = np.ones(shape, np.complex64)
    with pytest.raises(ValueError, match=r"'objectGuess' must be 2-D"):
        _load(tmp_path, arrays)


# ----------------------------------------------------------------- table order
def test_rows_checked_in_table_order(tmp_path, arrays):
    bad = dict(arrays)
    bad["diff3d"] = (bad["diff3d"] * 10).astype(np.int16)  # row 2
    bad["ycoords"] = bad["ycoords"][:3]  # row 3
    bad["probeGuess"] = np.ones(3)  # row 7
    with pytest.raises(ValueError, match="integer dtype"):
        _load(tmp_path, bad)
    bad["diff3d"] = np.ones((4, 8), np.float32)  # row 5, after row 3
    with pytest.raises(ValueError, match="matching shapes"):
        _load(tmp_path, bad)
    del bad["xcoords"]  # row 1 comes first of all
    with pytest.raises(KeyError):
        _load(tmp_path, bad)


# ----------------------------------------------------------------- beyond the table
def test_non_finite_values_rejected(tmp_path, arrays):
    arrays["diff3d"][3, 2, 2] = np.nan
    with pytest.raises(ValueError, match="1 non-finite"):
        _load(tmp_path, arrays)


def test_integer_valued_float_patterns_warn_as_counts(tmp_path, arrays):
    arrays["diff3d"] = np.round(arrays["diff3d"] * 50).astype(np.float32)
    with pytest.warns(UserWarning, match="look like intensities"):
        _load(tmp_path, arrays)


def test_y_with_trailing_channel_is_squeezed_and_wrong_count_ignored(tmp_path, arrays):
    arrays["Y"] = np.ones((12, 8, 8, 1), np.complex64) * 2
    raw = _load(tmp_path, arrays)
    assert raw.Y is not None and raw.Y.shape == (12, 8, 8)
    arrays["Y"] = np.ones((3, 8, 8), np.complex64)
    with pytest.warns(UserWarning, match="'Y' ignored"):
        assert _load(tmp_path, arrays).Y is None


def test_ground_truth_patches_read_only_on_request(tmp_path, arrays):
    arrays["ground_truth_patches"] = np.full((12, 8, 8, 1), 2 + 1j, np.complex64)
    path = _write(tmp_path / "scan.npz", arrays)
    assert load_npz(path).ground_truth_patches is None
    np.testing.assert_array_equal(
        load_npz(path, ground_truth_patches=True).ground_truth_patches,
        arrays["ground_truth_patches"],
    )


# ----------------------------------------------------------------- metadata
def test_metadata_nphotons_override_top_level_and_nested(tmp_path, arrays):
    arrays["_metadata"] = np.array(json.dumps({"nphotons": 5e8}))
    assert _load(tmp_path, arrays).nphotons == 5e8
    arrays["_metadata"] = np.array(json.dumps({"physics_parameters": {"nphotons": 2e6}}))
    assert _load(tmp_path, arrays).nphotons == 2e6
    arrays["_metadata"] = np.array(
        json.dumps({"physics_parameters": {"nphotons": 2e6}, "nphotons": 3e7})
    )
    assert _load(tmp_path, arrays).nphotons == 3e7
    arrays["_metadata"] = np.array(json.dumps({"other": 1}))
    assert _load(tmp_path, arrays).nphotons is None


def test_pickled_metadata_skipped_with_warning(tmp_path, arrays):
    arrays["_metadata"] = np.array({"nphotons": 5e8}, dtype=object)  # upstream's 0-d object array
    with pytest.warns(UserWarning, match="pickled object array and was skipped"):
        raw = _load(tmp_path, arrays)
    assert raw.nphotons is None and raw.metadata is None


def test_invalid_metadata_nphotons_rejected(tmp_path, arrays):
    arrays["_metadata"] = np.array(json.dumps({"nphotons": -1}))
    with pytest.raises(ValueError, match="nphotons=-1"):
        _load(tmp_path, arrays)


def test_pickled_required_array_is_a_valueerror(tmp_path, arrays):
    arrays["xcoords"] = np.array(list(arrays["xcoords"]), dtype=object)
    with pytest.raises(ValueError, match="'xcoords' is an object array"):
        _load(tmp_path, arrays)


# ----------------------------------------------------------------- transforms
def test_coordinate_transforms_in_upstream_order(tmp_path, arrays):
    x, y = arrays["xcoords"], arrays["ycoords"]
    xs, ys = arrays["xcoords_start"], arrays["ycoords_start"]
    raw = _load(tmp_path, arrays, flip_x=True, swap_xy=True, coord_scale=2.0)
    np.testing.assert_array_equal(raw.xcoords, 2.0 * y)
    np.testing.assert_array_equal(raw.ycoords, -2.0 * x)
    np.testing.assert_array_equal(raw.xcoords_start, 2.0 * ys)
    np.testing.assert_array_equal(raw.ycoords_start, -2.0 * xs)
    raw = _load(tmp_path, arrays, flip_y=True)
    np.testing.assert_array_equal(raw.ycoords, -y)
    np.testing.assert_array_equal(raw.xcoords, x)


def test_start_coordinates_default_to_actual(tmp_path, arrays):
    del arrays["xcoords_start"], arrays["ycoords_start"]
    raw = _load(tmp_path, arrays)
    np.testing.assert_array_equal(raw.xcoords_start, arrays["xcoords"])
    np.testing.assert_array_equal(raw.scan_index, np.zeros(12))


# ----------------------------------------------------------------- writing
def test_save_load_round_trip_in_client_schema(tmp_path, arrays):
    arrays["_metadata"] = json.dumps({"nphotons": 1e7, "note": "x"})
    path = save_npz(arrays, tmp_path / "out.npz")
    with np.load(path, allow_pickle=False) as f:
        keys = set(f.files)
        assert f["_metadata"].shape == () and f["_metadata"].dtype.kind == "U"
        assert f["diff3d"].dtype == np.float32 and f["probeGuess"].dtype == np.complex64
    assert keys == {
        "xcoords",
        "ycoords",
        "xcoords_start",
        "ycoords_start",
        "diff3d",
        "probeGuess",
        "objectGuess",
        "scan_index",
        "_metadata",
    }
    raw = load_npz(path)
    for key in (
        "xcoords",
        "ycoords",
        "xcoords_start",
        "ycoords_start",
        "diff3d",
        "probeGuess",
        "objectGuess",
    ):
        np.testing.assert_array_equal(getattr(raw, key), arrays[key])
    assert raw.metadata == {"nphotons": 1e7, "note": "x"} and raw.nphotons == 1e7
    assert [p.name for p in tmp_path.iterdir()] == ["out.npz"]


def test_save_validates_before_writing(tmp_path, arrays):
    arrays["diff3d"] = arrays["diff3d"].astype(np.int32)
    with pytest.raises(ValueError, match="integer dtype"):
        save_npz(arrays, tmp_path / "out.npz")
    assert list(tmp_path.iterdir()) == []


def test_save_is_atomic_when_writing_fails(tmp_path, arrays, monkeypatch):
    target = tmp_path / "out.npz"
    target.write_bytes(b"previous")

    def failing(handle, **kw):
        handle.write(b"PK partial")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", failing)
    with pytest.raises(OSError, match="disk full"):
        save_npz(arrays, target)
    assert target.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["out.npz"]


def test_save_to_missing_directory_raises(tmp_path, arrays):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        save_npz(arrays, tmp_path / "nope" / "out.npz")


# ----------------------------------------------------------------- damaged files
def test_non_npz_bytes_raise_valueerror_naming_file(tmp_path):
    path = tmp_path / "junk.npz"
    path.write_bytes(b"this is not a zip archive at all")
    with pytest.raises(ValueError, match=r"junk\.npz: is not a readable NPZ archive"):
        load_npz(path)


def test_plain_npy_file_raises_valueerror(tmp_path):
    path = tmp_path / "array.npy"
    np.save(path, np.ones(3))
    with pytest.raises(ValueError, match=r"array\.npy"):
        load_npz(path)


def test_truncated_file_raises_valueerror(tmp_path, arrays):
    path = _write(tmp_path / "scan.npz", arrays)
    data = path.read_bytes()
    for cut in (10, len(data) // 2, len(data) - 5):
        path.write_bytes(data[:cut])
        with pytest.raises(ValueError, match=r"scan\.npz"):
            load_npz(path)


def test_corrupted_member_raises_valueerror(tmp_path, arrays):
    path = _write(tmp_path / "scan.npz", arrays)
    data = bytearray(path.read_bytes())
    start = data.find(b"diff3d.npy") + 200  # inside the diff3d payload
    data[start : start + 8] = b"\x00" * 8
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"cannot read key 'diff3d'.*CRC"):
        load_npz(path)


def test_missing_file_is_filenotfound(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"missing\.npz"):
        load_npz(tmp_path / "missing.npz")


def test_directory_is_valueerror(tmp_path):
    with pytest.raises(ValueError, match="is a directory"):
        load_npz(tmp_path)


def test_forged_header_does_not_allocate(tmp_path):
    import io
    import zipfile

    buffer = io.BytesIO()
    header = {"descr": "<f4", "fortran_order": False, "shape": (100000, 100000, 1000)}
    np.lib.format.write_array_header_1_0(buffer, header)
    path = tmp_path / "forged.npz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("diff3d.npy", buffer.getvalue() + b"\x00" * 16)
    with pytest.raises(ValueError, match="announces"):
        load_npz(path)
    assert os.path.exists(path)
