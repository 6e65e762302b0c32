"""Fuzzing the reader, the writer and ``parity simulate``: only KeyError/ValueError escape, and
nothing half-written is ever left behind."""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backends.data import RawData, load_npz, save_npz
from tests.backends.data.conftest import make_arrays

KEYS = [
    "diff3d",
    "diffraction",
    "xcoords",
    "ycoords",
    "xcoords_start",
    "ycoords_start",
    "probeGuess",
    "scan_index",
    "objectGuess",
    "Y",
    "ground_truth_patches",
    "_metadata",
    "other",
    "dir/key",
]
DTYPES = [
    "float32",
    "float64",
    "float16",
    ">f8",
    "int16",
    "uint16",
    "uint8",
    "int64",
    "complex64",
    "complex128",
    "bool",
    "<U3",
    "S2",
    "object",
]

FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def random_array(draw) -> np.ndarray:
    dtype = draw(st.sampled_from(DTYPES))
    shape = tuple(draw(st.lists(st.sampled_from([0, 1, 2, 4, 5]), min_size=0, max_size=4)))
    size = int(np.prod(shape)) if shape else 1
    if dtype == "object":
        return np.array([{"a": i} for i in range(size)] or [None], dtype=object)[:size].reshape(
            shape
        )
    values = np.arange(size, dtype=np.float64).reshape(shape) * 0.5
    return values.astype(dtype)


@st.composite
def mutated_mapping(draw) -> dict:
    """A valid scan with random keys removed, replaced or added."""
    arrays: dict = make_arrays(M=4, N=4, seed=draw(st.integers(0, 3)))
    for _ in range(draw(st.integers(0, 4))):
        key = draw(st.sampled_from(KEYS))
        action = draw(st.sampled_from(["delete", "replace", "replace"]))
        if action == "delete":
            arrays.pop(key, None)
        else:
            arrays[key] = draw(random_array())
    if draw(st.booleans()):
        arrays["_metadata"] = np.array(
            draw(st.sampled_from(['{"nphotons": 1e6}', "not json", "[1, 2]", '{"nphotons": "x"}']))
        )
    return arrays


def _only_documented_errors(fn, *args, **kwargs):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fn(*args, **kwargs)
    except (KeyError, ValueError):
        return None


@FUZZ
@given(arrays=mutated_mapping())
def test_reader_on_random_keys_dtypes_shapes(arrays):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz.npz"
        np.savez(path, **arrays)
        result = _only_documented_errors(load_npz, path, ground_truth_patches=True)
        assert result is None or isinstance(result, RawData)


@FUZZ
@given(
    cut=st.floats(0.0, 1.0),
    flips=st.lists(st.tuples(st.floats(0.0, 1.0), st.integers(0, 255)), max_size=4),
)
def test_reader_on_truncated_and_corrupted_files(cut, flips):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "scan.npz"
        np.savez(path, **make_arrays(M=4, N=4))
        data = bytearray(path.read_bytes())
        for where, value in flips:
            data[int(where * (len(data) - 1))] = value
        path.write_bytes(bytes(data[: max(0, int(cut * len(data)))] if cut < 1.0 else data))
        result = _only_documented_errors(load_npz, path)
        assert result is None or isinstance(result, RawData)


@FUZZ
@given(payload=st.binary(max_size=300), zip_magic=st.booleans())
def test_reader_on_arbitrary_bytes(payload, zip_magic):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bytes.npz"
        path.write_bytes((b"PK\x03\x04" if zip_magic else b"") + payload)
        assert _only_documented_errors(load_npz, path) is None


@FUZZ
@given(arrays=mutated_mapping())
def test_writer_leaves_complete_file_or_nothing(arrays):
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "out.npz"
        written = _only_documented_errors(save_npz, arrays, target)
        names = sorted(p.name for p in Path(tmp).iterdir())
        if written is None:
            assert names == []
        else:
            assert names == ["out.npz"]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                assert isinstance(load_npz(target), RawData)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    N=st.sampled_from([-2, 0, 1, 2, 8, 16]),
    n_images=st.sampled_from([-1, 0, 1, 5]),
    nphotons=st.sampled_from([-1.0, 0.0, 1e4, float("inf"), float("nan")]),
    object_size=st.sampled_from([None, 1, 3, 7, 8, 40]),
    kind=st.sampled_from(["lines", "grf"]),
)
def test_simulate_command_exit_codes_and_no_partial_output(
    N, n_images, nphotons, object_size, kind
):
    from parity.cli import main

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "sub" / "sim.npz"
        argv = [
            "simulate",
            "--object",
            kind,
            "-N",
            str(N),
            "--n-images",
            str(n_images),
            "--nphotons",
            str(nphotons),
            "-o",
            str(out),
        ]
        if object_size is not None:
            argv += ["--object-size", str(object_size)]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            code = main(argv)
        assert code in (0, 2)
        if code == 0:
            assert [p.name for p in out.parent.iterdir()] == ["sim.npz"]
            assert load_npz(out).n_patterns == n_images
        else:
            assert not out.exists()
            assert not out.parent.exists() or list(out.parent.iterdir()) == []
