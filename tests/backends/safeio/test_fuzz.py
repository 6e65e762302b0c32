"""Fuzzing every reader of the reading layer: structure-aware (a valid file with one field
mutated) and raw (bytes flipped, truncated). Each reader may raise only its documented error;
anything else (a framework traceback, a hang, a crash) fails the test.

The ``ci`` profile runs a small derandomized sample; ``nox -s fuzz`` runs the ``fuzz`` profile.
"""

from __future__ import annotations

import contextlib
import io
import json
import struct
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from backends.bundle import read_bundle
from backends.config import io as config_io
from backends.data._npzio import read_npz
from backends.safeio import NpzFileError, TraceFileError, WeightsFileError, open_hdf5
from backends.safeio.weights import check_safetensors, reading_weights
from tests.backends.test_bundle import _write as write_test_bundle

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)  # fmt: skip
FLIPS = st.lists(st.tuples(st.floats(0.0, 1.0), st.integers(0, 255)), min_size=1, max_size=6)


def _mutate(data: bytes, flips: list[tuple[float, int]], cut: float = 1.0) -> bytes:
    out = bytearray(data)
    for where, value in flips:
        out[int(where * (len(out) - 1))] = value
    return bytes(out[: int(cut * len(out))])


def _npz_bytes() -> bytes:
    buf = io.BytesIO()
    np.savez_compressed(buf, diff3d=np.ones((3, 4, 4), np.float32), xcoords=np.arange(3.0))
    return buf.getvalue()


NPZ = _npz_bytes()


@given(flips=FLIPS, cut=st.floats(0.05, 1.0))
def test_npz_reader_on_corrupted_bytes(flips, cut) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.npz"
        path.write_bytes(_mutate(NPZ, flips, cut))
        with contextlib.suppress(NpzFileError):
            read_npz(path)


@given(
    shape=st.lists(st.integers(-3, 2**62), max_size=4),
    descr=st.sampled_from(["<f4", "|O", "<c16", ">i8", "V8", "<U4", "zz"]),
    fortran=st.booleans(),
)
def test_npz_reader_on_forged_array_headers(shape, descr, fortran) -> None:
    header = repr({"descr": descr, "fortran_order": fortran, "shape": tuple(shape)}).encode()
    header += b" " * (-(len(header) + 11) % 64) + b"\n"
    member = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + bytes(64)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.npz"
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr("probeGuess.npy", member)
        try:
            arrays, _, _ = read_npz(path)
        except NpzFileError:
            return
        assert all(array.nbytes <= 64 for array in arrays.values())


_BUNDLE: dict[str, bytes] = {}


def _bundle_members() -> dict[str, bytes]:
    if not _BUNDLE:
        with tempfile.TemporaryDirectory() as tmp:
            path = write_test_bundle(Path(tmp) / "b")
            with zipfile.ZipFile(path) as zf:
                _BUNDLE.update({n: zf.read(n) for n in zf.namelist()})
    return _BUNDLE


def _set_path(doc: Any, path: list[Any], value: Any) -> None:
    """Replace the value at ``path`` (a walk of keys, taken modulo each container's size)."""
    for i, step in enumerate(path):
        last = i == len(path) - 1
        if isinstance(doc, dict) and doc:
            key = sorted(doc)[step % len(doc)]
        elif isinstance(doc, list) and doc:
            key = step % len(doc)
        else:
            return
        if last or not isinstance(doc[key], dict | list):
            doc[key] = value
            return
        doc = doc[key]


@given(
    member=st.sampled_from(["manifest.json", "params.json"]),
    where=st.lists(st.integers(0, 50), min_size=1, max_size=4),
    value=JSON_VALUES,
)
def test_bundle_reader_on_one_mutated_json_field(member, where, value) -> None:
    members = dict(_bundle_members())
    doc = json.loads(members[member])
    _set_path(doc, where, value)
    members[member] = json.dumps(doc).encode()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "wts.h5.zip"
        with zipfile.ZipFile(path, "w") as zf:
            for name, data in members.items():
                zf.writestr(name, data)
        # documented: BundleFileError and the format's ValueError/KeyError
        with contextlib.suppress(ValueError, KeyError):
            read_bundle(path, expected_backend=None)


@given(flips=FLIPS, cut=st.floats(0.05, 1.0))
def test_bundle_reader_on_corrupted_bytes(flips, cut) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in _bundle_members().items():
            zf.writestr(name, data)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "wts.h5.zip"
        path.write_bytes(_mutate(buf.getvalue(), flips, cut))
        with contextlib.suppress(ValueError, KeyError):
            read_bundle(path, expected_backend=None)


@given(
    suffix=st.sampled_from([".toml", ".yaml", ".json"]),
    key=st.sampled_from(["nepochs", "batch_size", "model", "train_data_file", "n_groups", "x"]),
    value=JSON_VALUES,
)
def test_config_reader_on_one_mutated_field(suffix, key, value) -> None:
    doc = {"nepochs": 2, "model": {"N": 64}, key: value}
    text = {
        ".json": lambda: json.dumps(doc),
        ".yaml": lambda: json.dumps(doc),  # JSON is YAML
        ".toml": lambda: "\n".join(f"{k} = {json.dumps(v)}" for k, v in doc.items()),
    }[suffix]()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"c{suffix}"
        path.write_text(text)
        # documented: ConfigFileError for the file, ValueError naming a field
        with contextlib.suppress(ValueError):
            config_io.load_config(path)


@given(text=st.text(max_size=200), suffix=st.sampled_from([".toml", ".yaml", ".json"]))
def test_config_reader_on_arbitrary_text(text, suffix) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"c{suffix}"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        with contextlib.suppress(ValueError):
            config_io.load_config(path)


def _h5_bytes() -> bytes:
    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        f.attrs["format_version"] = "1.0"
        f.create_dataset("tensors/x", data=np.arange(64.0), compression="gzip")
        f["params/legacy"] = json.dumps({"N": 64})
    return buf.getvalue()


H5 = _h5_bytes()


@given(flips=FLIPS, cut=st.floats(0.5, 1.0))
def test_hdf5_reader_on_corrupted_bytes(flips, cut) -> None:
    try:
        with open_hdf5(_mutate(H5, flips, cut), TraceFileError, name="t.h5") as handle:
            handle.visit(lambda name: None)
    except TraceFileError:
        pass


SAFETENSORS = struct.pack("<Q", 64) + json.dumps(
    {"w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}}
).encode().ljust(64) + bytes(16)  # fmt: skip


@given(flips=FLIPS, cut=st.floats(0.05, 1.0))
def test_safetensors_reader_on_corrupted_bytes(flips, cut) -> None:
    from safetensors.numpy import load

    data = _mutate(SAFETENSORS, flips, cut)
    try:
        with reading_weights("m.safetensors", "safetensors"):
            load(check_safetensors(data, "m.safetensors"))
    except WeightsFileError:
        pass
