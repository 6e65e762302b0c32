"""The wts.h5.zip bundle container (docs/persistence.md section 3), without any framework."""

from __future__ import annotations

import io
import json
import pickle
import stat
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from backends.bundle import (
    BundleBackendMismatchError,
    LegacyBundleError,
    check_save_gate,
    check_snapshot_consistency,
    detect_backend,
    read_bundle,
    resolve_bundle_path,
    restore_params,
    sha256_hex,
    write_bundle,
)
from backends.config import ModelConfig, TrainingConfig
from backends.config.legacy import LegacyParams, to_legacy_snapshot, update_legacy_dict

CREATED = {"created_utc": "2024-01-01T00:00:00Z", "framework_version": "test"}
TF_PAYLOAD = {
    "diffraction_to_obj": {"model.weights.h5": b"weights-d2o"},
    "autoencoder": {"model.weights.h5": b"weights-ae"},
}
TF_FORMATS = {"diffraction_to_obj": "keras-weights-h5", "autoencoder": "keras-weights-h5"}


def _probe() -> np.ndarray:
    rng = np.random.default_rng(0)
    return (rng.standard_normal((64, 64)) + 1j * rng.standard_normal((64, 64))).astype(np.complex64)


def _params(backend: str = "tensorflow", **model: Any) -> dict[str, Any]:
    legacy = LegacyParams()
    update_legacy_dict(legacy, TrainingConfig(model=ModelConfig(**model), backend=backend))
    snap = dict(legacy)
    snap["probe"] = _probe()[..., None]
    snap["intensity_scale"] = 1000.0
    snap["bigN"] = 99
    snap["_version"] = "1.0"
    return snap


def _write(bundle_dir: Path, **overrides: Any) -> Path:
    kwargs: dict[str, Any] = {
        "backend": "tensorflow",
        "payloads": TF_PAYLOAD,
        "payload_formats": TF_FORMATS,
        "params": _params(),
        "producer": CREATED,
    }
    kwargs.update(overrides)
    return write_bundle(bundle_dir, **kwargs)


def _rewrite(
    src: Path,
    dst: Path,
    *,
    replace: dict[str, bytes] | None = None,
    drop: tuple[str, ...] = (),
    add: list[tuple[zipfile.ZipInfo | str, bytes]] | None = None,
    manifest: Any = None,
) -> Path:
    """Copy a bundle with members replaced, dropped or added (tampering)."""
    replace = dict(replace or {})
    if manifest is not None:
        m = json.loads(zipfile.ZipFile(src).read("manifest.json"))
        manifest(m)
        replace["manifest.json"] = json.dumps(m).encode()
    dst.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            if info.filename in drop:
                continue
            zout.writestr(info.filename, replace.pop(info.filename, zin.read(info.filename)))
        for name, data in replace.items():
            zout.writestr(name, data)
        for info_or_name, data in add or []:
            zout.writestr(info_or_name, data)
    return dst


def _listing(d: Path) -> dict[str, bytes]:
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


# ----------------------------------------------------------------------------- round trip


def test_round_trip_params_and_payloads(tmp_path: Path) -> None:
    params = _params()
    params["output_prefix"] = Path()  # a Path() becomes "."
    params["bounds"] = (0.1, 0.9)
    params["np_int"] = np.int64(7)
    params["np_float"] = np.float32(0.5)
    params["np_bool"] = np.bool_(True)
    params["mask"] = np.arange(6, dtype=np.float64).reshape(2, 3)
    path = _write(tmp_path, params=params, intensity_scale=987.5)
    assert path == tmp_path / "wts.h5.zip"
    contents = read_bundle(tmp_path, expected_backend="tensorflow")
    p = contents.params
    assert p["probe"].dtype == np.complex64
    np.testing.assert_array_equal(p["probe"], params["probe"])
    np.testing.assert_array_equal(p["mask"], params["mask"])
    assert p["output_prefix"] == "."
    assert p["bounds"] == [0.1, 0.9]
    assert p["np_int"] == 7 and type(p["np_int"]) is int
    assert p["np_float"] == 0.5 and type(p["np_float"]) is float
    assert p["np_bool"] is True
    assert "bigN" not in p and "_version" not in p
    assert p["intensity_scale"] == 987.5
    assert p["backend"] == "tensorflow"
    assert p["N"] == 64 and p["gridsize"] == 1 and p["object.big"] is True
    assert "outer_offset_train" in p and p["outer_offset_train"] is None  # None values are kept
    assert set(contents.arrays) == {"probe", "mask"}
    assert contents.payload("diffraction_to_obj") == {"model.weights.h5": b"weights-d2o"}
    assert contents.payload("autoencoder") == {"model.weights.h5": b"weights-ae"}
    assert contents.payload_format("diffraction_to_obj") == "keras-weights-h5"


def test_manifest_fields(tmp_path: Path) -> None:
    _write(
        tmp_path,
        intensity_scale=12.0,
        checkpoint="checkpoints/last.ckpt",
        custom_objects=["B", "A"],
    )
    m = read_bundle(tmp_path, expected_backend="tensorflow").manifest
    assert m["format"] == "ptychopinn-model-bundle"
    assert m["format_version"] == "1.0"
    assert m["backend"] == "tensorflow"
    assert m["version"] == "1.0"
    assert m["models"] == ["autoencoder", "diffraction_to_obj"]
    assert m["params_file"] == "params.json"
    assert m["intensity_scale"] == 12.0
    assert m["model_geometry"] == {"N": 64, "gridsize": 1, "channels": 1, "model_type": "pinn"}
    assert m["arrays"]["probe"]["path"] == "arrays/probe.npy"
    assert m["payloads"]["diffraction_to_obj"]["files"]["model.weights.h5"] == sha256_hex(
        b"weights-d2o"
    )
    assert m["producer"]["framework"] == "tensorflow"
    assert m["producer"]["created_utc"] == CREATED["created_utc"]
    assert m["checkpoint"] == "checkpoints/last.ckpt"
    assert m["custom_objects"] == ["A", "B"]


def test_pytorch_alias_and_extra_files(tmp_path: Path) -> None:
    hparams = b'{"model_config": {}}'
    _write(
        tmp_path,
        backend="pytorch",
        params=_params("pytorch", gridsize=2),
        payloads={
            "diffraction_to_obj": {"model.safetensors": b"st"},
            "autoencoder": {"alias_of": "diffraction_to_obj"},
        },
        payload_formats={"diffraction_to_obj": "torch-safetensors"},
        extra_files={"diffraction_to_obj/hparams.json": hparams, "notes/readme.txt": b"hi"},
    )
    c = read_bundle(tmp_path, expected_backend="pytorch")
    assert c.manifest["version"] == "2.0-pytorch"
    assert c.manifest["payloads"]["autoencoder"] == {"alias_of": "diffraction_to_obj"}
    assert c.manifest["model_geometry"]["channels"] == 4
    assert c.payload("autoencoder") == c.payload("diffraction_to_obj")
    assert c.payload("diffraction_to_obj")["hparams.json"] == hparams
    assert c.files["notes/readme.txt"] == b"hi"
    assert c.resolve("autoencoder") == "diffraction_to_obj"


def test_deterministic_bytes(tmp_path: Path) -> None:
    a = _write(tmp_path / "a").read_bytes()
    b = _write(tmp_path / "b").read_bytes()
    assert a == b
    names = zipfile.ZipFile(io.BytesIO(a)).namelist()
    assert names == sorted(names)
    for info in zipfile.ZipFile(io.BytesIO(a)).infolist():
        assert info.date_time == (1980, 1, 1, 0, 0, 0)
    manifest_text = zipfile.ZipFile(io.BytesIO(a)).read("manifest.json").decode()
    assert manifest_text == json.dumps(json.loads(manifest_text), sort_keys=True, indent=2) + "\n"


def test_highly_compressible_member_is_stored_so_it_can_be_read(tmp_path: Path) -> None:
    params = _params()
    params["zeros"] = np.zeros((512, 512), np.float32)  # deflates far beyond 200:1
    _write(tmp_path, params=params)
    info = zipfile.ZipFile(tmp_path / "wts.h5.zip").getinfo("arrays/zeros.npy")
    assert info.compress_type == zipfile.ZIP_STORED
    np.testing.assert_array_equal(
        read_bundle(tmp_path, expected_backend="tensorflow").params["zeros"], 0
    )


def test_backend_key_overridden_with_warning(tmp_path: Path) -> None:
    params = _params("pytorch")
    with pytest.warns(UserWarning, match="backend='pytorch'.*'tensorflow' backend"):
        _write(tmp_path, params=params)
    assert read_bundle(tmp_path, expected_backend="tensorflow").params["backend"] == "tensorflow"


def test_h5_path_names_the_archive(tmp_path: Path) -> None:
    params = _params()
    params["h5_path"] = "other.h5"
    assert _write(tmp_path, params=params).name == "other.h5.zip"


@given(
    values=st.dictionaries(
        st.from_regex(r"[a-z][a-z_.]{0,8}", fullmatch=True).filter(
            lambda k: k not in ("bigN", "_version")
        ),
        st.one_of(
            st.none(),
            st.booleans(),
            st.integers(-(2**53), 2**53),
            st.floats(allow_nan=False, allow_infinity=False),
            st.text(max_size=10),
            st.lists(st.integers(-5, 5), max_size=4),
        ),
        max_size=8,
    ),
    dtype=st.sampled_from(["complex64", "complex128", "float32", "int16", "bool", "uint8"]),
)
def test_round_trip_property(
    tmp_path_factory: pytest.TempPathFactory, values: dict[str, Any], dtype: str
) -> None:
    d = tmp_path_factory.mktemp("rt")
    params = _params()
    for k in list(values):
        if k in params:
            del values[k]
    params.update(values)
    params["arr"] = (np.arange(12).reshape(3, 4) % 3).astype(dtype)
    _write(d, params=params)
    p = read_bundle(d, expected_backend="tensorflow").params
    for k, v in values.items():
        assert p[k] == v
    assert p["arr"].dtype == np.dtype(dtype)
    np.testing.assert_array_equal(p["arr"], params["arr"])


# ----------------------------------------------------------------------------- write refusals


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), np.float32("-inf")])
def test_nonfinite_float_refused_naming_key(tmp_path: Path, bad: float) -> None:
    params = _params()
    params["sim_jitter_scale"] = bad
    with pytest.raises(ValueError, match="'sim_jitter_scale'"):
        _write(tmp_path / "b", params=params)
    assert not (tmp_path / "b").exists()


@pytest.mark.parametrize(
    "bad", [{1, 2}, object(), 1 + 2j, np.array(["a", "b"], dtype=object), {"a": 1}]
)
def test_unsupported_type_refused_naming_key(tmp_path: Path, bad: Any) -> None:
    params = _params()
    params["weird"] = bad
    with pytest.raises(TypeError, match="'weird'"):
        _write(tmp_path / "b", params=params)
    assert not (tmp_path / "b").exists()


def test_nested_nan_in_list_refused(tmp_path: Path) -> None:
    params = _params()
    params["bounds"] = [0.1, float("nan")]
    with pytest.raises(ValueError, match=r"'bounds\[1\]'"):
        _write(tmp_path, params=params)


@pytest.mark.parametrize("scale", [None, 0.0, -1.0, float("nan")])
def test_intensity_scale_required_finite_positive(tmp_path: Path, scale: float | None) -> None:
    params = _params()
    del params["intensity_scale"]
    with pytest.raises(ValueError, match="intensity_scale"):
        _write(tmp_path / "b", params=params, intensity_scale=scale)
    assert not (tmp_path / "b").exists()


def test_failed_write_leaves_previous_bundle_and_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write(tmp_path)
    before = _listing(tmp_path)
    params = _params()
    params["bad"] = float("nan")
    with pytest.raises(ValueError):
        _write(tmp_path, params=params)
    assert _listing(tmp_path) == before

    def boom(*_a: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("backends.core.files.os.replace", boom)
    with pytest.raises(OSError, match="disk full"):
        _write(tmp_path, intensity_scale=5.0)
    assert _listing(tmp_path) == before


def test_geometry_must_agree_with_params(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="gridsize"):
        _write(tmp_path / "b", model_geometry={"N": 64, "gridsize": 2, "model_type": "pinn"})
    assert not (tmp_path / "b").exists()


def test_unknown_payload_format_and_bad_names(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="payload format 'pickle'"):
        _write(tmp_path, payload_formats={"diffraction_to_obj": "pickle", "autoencoder": "pickle"})
    with pytest.raises(ValueError, match="must include 'diffraction_to_obj'"):
        _write(tmp_path, payloads={"autoencoder": {"a": b""}})
    with pytest.raises(ValueError, match=r"'\.\./x'"):
        _write(tmp_path, payloads={"diffraction_to_obj": {"../x": b""}})
    assert not list(tmp_path.iterdir())


# ----------------------------------------------------------------------------- save gate


def test_gate_empty_dict() -> None:
    with pytest.raises(ValueError, match="empty") as info:
        check_save_gate({}, populated=True)
    assert "update_legacy_dict" in str(info.value)
    assert "refused to prevent an unreloadable bundle" in str(info.value)


def test_gate_import_defaults_do_not_count() -> None:
    legacy = LegacyParams()  # import-time defaults, never populated
    with pytest.raises(ValueError, match="not populated from a canonical config") as info:
        check_save_gate(legacy)
    msg = str(info.value)
    assert "update_legacy_dict" in msg
    assert "backend" in msg  # absent at import
    assert "refused to prevent an unreloadable bundle" in msg


def test_gate_names_missing_keys() -> None:
    legacy = LegacyParams()
    update_legacy_dict(legacy, TrainingConfig(model=ModelConfig()))
    del legacy["nphotons"]
    legacy["probe.mask"] = None
    with pytest.raises(ValueError, match=r"missing or None: probe\.mask, nphotons"):
        check_save_gate(legacy)


def test_gate_passes_after_update_legacy_dict() -> None:
    legacy = LegacyParams()
    update_legacy_dict(legacy, TrainingConfig(model=ModelConfig()))
    check_save_gate(legacy)
    legacy.restore_from_bundle({"N": 64})
    with pytest.raises(ValueError, match="update_legacy_dict"):
        check_save_gate(legacy)  # a bundle restore is not a canonical population


def test_write_bundle_applies_key_gate(tmp_path: Path) -> None:
    params = _params()
    del params["gridsize"]
    with pytest.raises(ValueError, match=r"gridsize.*update_legacy_dict"):
        _write(tmp_path / "b", params=params)
    assert not (tmp_path / "b").exists()


def test_snapshot_consistency_lists_fields() -> None:
    cfg = TrainingConfig(model=ModelConfig())
    snap = to_legacy_snapshot(cfg)
    check_snapshot_consistency(dict(snap), snap)
    bad = dict(snap, **{"probe.big": False, "N": 128})
    with pytest.raises(ValueError) as info:
        check_snapshot_consistency(bad, snap)
    assert "probe.big" in str(info.value) and "N: 128" in str(info.value)


# ----------------------------------------------------------------------------- read refusals


@pytest.fixture
def good(tmp_path: Path) -> Path:
    return _write(tmp_path / "good")


def _refused(path: Path, exc: type[BaseException], match: str, **kw: Any) -> str:
    before = _listing(path.parent)
    legacy = LegacyParams()
    state = legacy.snapshot()
    with pytest.raises(exc, match=match) as info:
        contents = read_bundle(
            path, expected_backend=kw.pop("expected_backend", "tensorflow"), **kw
        )
        restore_params(legacy, contents)
    assert _listing(path.parent) == before  # nothing written, extracted or left behind
    assert legacy.snapshot() == state  # nothing touched
    return str(info.value)


def test_bad_checksum(good: Path, tmp_path: Path) -> None:
    bad = _rewrite(
        good,
        tmp_path / "t" / "wts.h5.zip",
        replace={"diffraction_to_obj/model.weights.h5": b"evil"},
    )
    msg = _refused(bad, ValueError, "checksum")
    assert "diffraction_to_obj/model.weights.h5" in msg


def test_bad_checksum_of_params_and_arrays(good: Path, tmp_path: Path) -> None:
    arr = io.BytesIO()
    np.save(arr, np.zeros((64, 64, 1), np.complex64))
    bad = _rewrite(
        good, tmp_path / "t" / "wts.h5.zip", replace={"arrays/probe.npy": arr.getvalue()}
    )
    assert "arrays/probe.npy" in _refused(bad, ValueError, "checksum")
    params = json.loads(zipfile.ZipFile(good).read("params.json"))
    params["N"] = 128
    bad2 = _rewrite(
        good, tmp_path / "u" / "wts.h5.zip", replace={"params.json": json.dumps(params).encode()}
    )
    assert "params.json" in _refused(bad2, ValueError, "checksum")


def test_missing_listed_entry(good: Path, tmp_path: Path) -> None:
    bad = _rewrite(good, tmp_path / "t" / "wts.h5.zip", drop=("autoencoder/model.weights.h5",))
    _refused(bad, ValueError, "'autoencoder/model.weights.h5'.*missing")


@pytest.mark.parametrize(
    ("name", "match"),
    [
        ("../evil.txt", r"'\.\.'"),
        ("a/../../evil", r"'\.\.'"),
        ("/etc/passwd", "absolute"),
        ("a\\b", "backslash"),
        ("C:/x", "absolute"),
    ],
)
def test_unsafe_member_names(good: Path, tmp_path: Path, name: str, match: str) -> None:
    bad = _rewrite(good, tmp_path / "t" / "wts.h5.zip", add=[(zipfile.ZipInfo(name), b"x")])
    _refused(bad, ValueError, match)
    assert not (tmp_path / "evil.txt").exists()


def test_duplicate_member(good: Path, tmp_path: Path) -> None:
    with pytest.warns(UserWarning, match="Duplicate name"):
        bad = _rewrite(good, tmp_path / "t" / "wts.h5.zip", add=[("params.json", b"{}")])
    _refused(bad, ValueError, "more than once")


def test_symlink_member(good: Path, tmp_path: Path) -> None:
    info = zipfile.ZipInfo("link")
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    bad = _rewrite(good, tmp_path / "t" / "wts.h5.zip", add=[(info, b"/etc/passwd")])
    _refused(bad, ValueError, "symbolic link")


def test_symlinked_archive_not_followed(good: Path, tmp_path: Path) -> None:
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "wts.h5.zip").symlink_to(good)
    _refused(tmp_path / "s" / "wts.h5.zip", ValueError, "symbolic link")


def test_too_many_members(good: Path, tmp_path: Path) -> None:
    extra: list[tuple[zipfile.ZipInfo | str, bytes]] = [(f"junk/{i}", b"") for i in range(260)]
    bad = _rewrite(good, tmp_path / "t" / "wts.h5.zip", add=extra)
    _refused(bad, ValueError, "more than the limit of 256")


def test_compression_ratio_bomb(good: Path, tmp_path: Path) -> None:
    bad = _rewrite(good, tmp_path / "t" / "wts.h5.zip", add=[("junk.bin", bytes(2_000_000))])
    assert zipfile.ZipFile(bad).getinfo("junk.bin").compress_size * 200 < 2_000_000
    _refused(bad, ValueError, "'junk.bin' is compressed more than 200:1")


def test_total_size_limit(good: Path) -> None:
    total = sum(i.file_size for i in zipfile.ZipFile(good).infolist())
    _refused(good, ValueError, "total uncompressed size", max_total_bytes=total - 1)
    read_bundle(good, expected_backend="tensorflow", max_total_bytes=total)


def test_unknown_major_version(good: Path, tmp_path: Path) -> None:
    bad = _rewrite(
        good, tmp_path / "t" / "wts.h5.zip", manifest=lambda m: m.update(format_version="2.0")
    )
    msg = _refused(bad, ValueError, "format_version 2.0")
    assert "1.0" in msg


def test_newer_minor_and_unknown_keys_accepted(good: Path, tmp_path: Path) -> None:
    def edit(m: dict[str, Any]) -> None:
        m.update(format_version="1.7", future_key={"x": 1})

    ok = _rewrite(
        good, tmp_path / "t" / "wts.h5.zip", manifest=edit, add=[("future/file.bin", b"?")]
    )
    assert read_bundle(ok, expected_backend="tensorflow").manifest["future_key"] == {"x": 1}


def test_wrong_format(good: Path, tmp_path: Path) -> None:
    bad = _rewrite(good, tmp_path / "t" / "wts.h5.zip", manifest=lambda m: m.update(format="other"))
    _refused(bad, ValueError, "manifest format 'other'")


@pytest.mark.parametrize("key", ["N", "gridsize"])
def test_missing_required_params(good: Path, tmp_path: Path, key: str) -> None:
    params = json.loads(zipfile.ZipFile(good).read("params.json"))
    params[key] = None
    data = json.dumps(params).encode()
    bad = _rewrite(
        good,
        tmp_path / "t" / "wts.h5.zip",
        replace={"params.json": data},
        manifest=lambda m: m.update(params_sha256=sha256_hex(data)),
    )
    msg = _refused(bad, ValueError, "Required parameters missing")
    assert key in msg and "cannot reconstruct the model architecture" in msg


def test_wrong_backend(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "torch",
        backend="pytorch",
        params=_params("pytorch"),
        payloads={
            "diffraction_to_obj": {"model.safetensors": b"st"},
            "autoencoder": {"alias_of": "diffraction_to_obj"},
        },
        payload_formats={"diffraction_to_obj": "torch-safetensors"},
    )
    msg = _refused(path, BundleBackendMismatchError, "cross-backend loading is not supported")
    assert str(path) in msg
    assert "written by the 'pytorch' backend but the 'tensorflow' loader was used" in msg
    assert "set backend='pytorch'" in msg
    assert issubclass(BundleBackendMismatchError, ValueError)


def test_backend_checked_before_checksums(good: Path, tmp_path: Path) -> None:
    bad = _rewrite(
        good, tmp_path / "t" / "wts.h5.zip", replace={"diffraction_to_obj/model.weights.h5": b"x"}
    )
    _refused(bad, BundleBackendMismatchError, "'tensorflow' backend", expected_backend="pytorch")


def test_requested_models_not_found(good: Path) -> None:
    _refused(
        good, ValueError, r"Requested models not found in archive: \['encoder'\]", names=["encoder"]
    )
    c = read_bundle(good, expected_backend="tensorflow", names=["diffraction_to_obj"])
    assert set(c.files) == {"diffraction_to_obj/model.weights.h5"}


def test_missing_diffraction_to_obj_is_key_error(good: Path, tmp_path: Path) -> None:
    def edit(m: dict[str, Any]) -> None:
        m["models"] = ["autoencoder"]
        del m["payloads"]["diffraction_to_obj"]

    bad = _rewrite(good, tmp_path / "t" / "wts.h5.zip", manifest=edit)
    msg = _refused(bad, KeyError, "autoencoder")
    assert "diffraction_to_obj" in msg


class _Exploit:
    """Unpickling this creates a marker file: proof the loader never unpickles."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (self.marker,))


@pytest.mark.parametrize(
    ("version", "member", "backend"),
    [("2.0-pytorch", "model.pth", "pytorch"), ("1.0", "model.keras", "tensorflow")],
)
def test_upstream_dill_bundle_refused_without_unpickling(
    tmp_path: Path, version: str, member: str, backend: str
) -> None:
    marker = tmp_path / "executed"
    manifest = pickle.dumps(
        {"models": ["autoencoder", "diffraction_to_obj"], "version": version, "x": _Exploit(marker)}
    )
    d = tmp_path / "up"
    d.mkdir()
    with zipfile.ZipFile(d / "wts.h5.zip", "w") as zf:
        zf.writestr("manifest.dill", manifest)
        zf.writestr(f"diffraction_to_obj/{member}", b"\x80\x04N.")
        zf.writestr("diffraction_to_obj/params.dill", pickle.dumps(_Exploit(marker)))
    msg = _refused(d / "wts.h5.zip", LegacyBundleError, "pickle", expected_backend=backend)
    assert "execute code" in msg
    assert "convert" in msg and "parity train" in msg
    assert f"{backend!r} backend" in msg
    assert not marker.exists()


def test_not_a_bundle(tmp_path: Path) -> None:
    (tmp_path / "wts.h5.zip").write_bytes(b"not a zip")
    _refused(tmp_path / "wts.h5.zip", ValueError, "not a zip archive")
    d = tmp_path / "empty"
    d.mkdir()
    with zipfile.ZipFile(d / "wts.h5.zip", "w") as zf:
        zf.writestr("hello.txt", b"hi")
    _refused(d / "wts.h5.zip", ValueError, "no manifest.json")


# ----------------------------------------------------------------------------- path resolution


def test_path_resolution(good: Path, tmp_path: Path) -> None:
    assert resolve_bundle_path(good.parent) == good
    assert resolve_bundle_path(good) == good
    assert resolve_bundle_path(good.parent / "wts.h5") == good
    with pytest.raises(ValueError, match="Model directory does not exist"):
        resolve_bundle_path(tmp_path / "nowhere")
    (tmp_path / "emptydir").mkdir()
    with pytest.raises(
        FileNotFoundError, match=r"Model archive not found: expected .*emptydir/wts\.h5\.zip"
    ):
        resolve_bundle_path(tmp_path / "emptydir")
    # the client passes output_dir's parent after training: no search below it
    with pytest.raises(FileNotFoundError, match="Model archive not found"):
        resolve_bundle_path(tmp_path)


# ----------------------------------------------------------------------------- restore


def test_restore_params_into_legacy_object(good: Path) -> None:
    legacy = LegacyParams()
    legacy["bigN"] = 12345  # a stale cached value
    legacy["outer_offset_train"] = 3
    legacy["label"] = "kept"
    legacy["not_in_snapshot"] = "untouched"
    contents = read_bundle(good, expected_backend="tensorflow")
    restore_params(legacy, contents)
    assert legacy.populated_from == "bundle"
    assert "bigN" not in dict(legacy)
    assert "_version" not in dict(legacy)
    assert legacy["outer_offset_train"] is None  # None overwrites (upstream TF semantics)
    assert legacy["not_in_snapshot"] == "untouched"
    assert legacy["N"] == 64 and legacy["gridsize"] == 1
    assert legacy["intensity_scale"] == 1000.0
    np.testing.assert_array_equal(legacy["probe"], contents.params["probe"])
    legacy["probe"][0, 0, 0] = 0  # the restored array is a copy
    assert contents.params["probe"][0, 0, 0] != 0


def test_restore_params_into_plain_dict(good: Path) -> None:
    cfg: dict[str, Any] = {"bigN": 1, "other": 2}
    restore_params(cfg, read_bundle(good, expected_backend="tensorflow").params)
    assert "bigN" not in cfg and cfg["other"] == 2 and cfg["N"] == 64


# ----------------------------------------------------------------------------- upstream


def test_detect_backend_rules() -> None:
    assert detect_backend({"backend": "pytorch", "version": "1.0"}, ["a/model.keras"]) == "pytorch"
    assert detect_backend({"version": "2.0-pytorch"}, []) == "pytorch"
    assert detect_backend({"version": "1.0"}, ["diffraction_to_obj/model.pth"]) == "pytorch"
    assert detect_backend(None, ["diffraction_to_obj/model.keras"]) == "tensorflow"
    assert detect_backend(None, ["x/saved_model.pb"]) == "tensorflow"
    assert detect_backend({}, []) == "tensorflow"
