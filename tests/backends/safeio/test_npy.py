"""``.npy`` arrays (NPZ members, bundle arrays): a forged header never reaches the allocator."""

from __future__ import annotations

import io
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest

from backends.bundle import decode_npy
from backends.data import load_npz
from backends.safeio import BundleFileError, NpzFileError


def _npy(header: dict, body: bytes = b"") -> bytes:
    text = repr(header).encode()
    text += b" " * (-(len(text) + 11) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text + body


PROBE_1E15 = _npy({"descr": "<c8", "fortran_order": False, "shape": (10**15,)}, bytes(64))


def test_bundle_array_with_a_forged_shape() -> None:
    with pytest.raises(BundleFileError, match=r"announces 8000000000000000 bytes .* only 64"):
        decode_npy(PROBE_1E15, name="arrays/probe.npy")


def test_npz_probe_with_a_forged_shape(tmp_path: Path) -> None:
    path = tmp_path / "scan.npz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("probeGuess.npy", PROBE_1E15)
    with pytest.raises(NpzFileError, match=r"'probeGuess'.*announces 8000000000000000 bytes"):
        load_npz(path)


def test_bundle_array_that_needs_pickle_or_has_a_bad_header() -> None:
    pickled = _npy({"descr": "|O", "fortran_order": False, "shape": (1,)}, bytes(8))
    with pytest.raises(BundleFileError, match="needs pickle"):
        decode_npy(pickled, name="a.npy")
    with pytest.raises(BundleFileError, match=r"damaged \.npy header") as info:
        decode_npy(b"\x93NUMPY\x01\x00\x04\x00{{{{", name="a.npy")
    assert info.value.__cause__ is not None


def test_ordinary_arrays_round_trip() -> None:
    for array in (np.arange(6.0).reshape(2, 3), np.asfortranarray(np.eye(3)), np.array(3.5, ">f4")):
        buf = io.BytesIO()
        np.save(buf, array)
        np.testing.assert_array_equal(decode_npy(buf.getvalue()), array)
    big_endian = np.arange(4, dtype=">i4")
    buf = io.BytesIO()
    np.save(buf, big_endian)
    out = decode_npy(buf.getvalue())
    assert out.dtype == np.dtype("<i4") and out.tolist() == [0, 1, 2, 3]
