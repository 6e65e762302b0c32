"""Zip members of NPZ files and bundles: every crafted archive is refused with its error type."""

from __future__ import annotations

import io
import stat
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest

from backends.bundle import read_bundle
from backends.data import load_npz
from backends.data._npzio import read_npz
from backends.safeio import BundleFileError, NpzFileError


def _npy(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


def _zip(path: Path, members: list[tuple[zipfile.ZipInfo | str, bytes]], **kw: int) -> Path:
    with zipfile.ZipFile(path, "w", **kw) as zf:
        for name, data in members:
            zf.writestr(name, data)
    return path


def test_duplicate_key_is_refused(tmp_path: Path) -> None:
    """NumPy reads ``x.npy`` where a reader of ``x`` sees another array: one must be refused."""
    path = _zip(tmp_path / "d.npz", [("x", _npy(np.zeros(2))), ("x.npy", _npy(np.ones(2)))])
    with pytest.raises(NpzFileError, match=r"'x\.npy' appears more than once"):
        read_npz(path)
    twice = tmp_path / "twice.npz"
    with pytest.warns(UserWarning, match="Duplicate name"):
        _zip(twice, [("x.npy", _npy(np.zeros(2))), ("x.npy", _npy(np.ones(2)))])
    with pytest.raises(NpzFileError, match="appears more than once"):
        read_npz(twice)


def test_empty_member_name(tmp_path: Path) -> None:
    path = _zip(tmp_path / "e.npz", [("placeholder", b"")])
    path.write_bytes(_with_empty_name(path.read_bytes()))
    with pytest.raises(NpzFileError, match="empty name"):
        read_npz(path)
    bundle = tmp_path / "wts.h5.zip"
    bundle.write_bytes(path.read_bytes())
    with pytest.raises(BundleFileError, match="empty name"):
        read_bundle(bundle, expected_backend=None)


def _with_empty_name(data: bytes) -> bytes:
    """Rewrite a one-member zip so that its member's name is empty (local and central)."""
    name = b"placeholder"
    local = data.index(b"PK\x03\x04")
    central = data.index(b"PK\x01\x02")
    end = data.index(b"PK\x05\x06")
    local_rec = bytearray(data[local:central])
    local_rec[26:28] = struct.pack("<H", 0)
    local_rec = local_rec[:30] + local_rec[30 + len(name) :]
    central_rec = bytearray(data[central:end])
    central_rec[28:30] = struct.pack("<H", 0)
    central_rec = central_rec[:46] + central_rec[46 + len(name) :]
    end_rec = bytearray(data[end:])
    end_rec[12:16] = struct.pack("<I", len(central_rec))
    end_rec[16:20] = struct.pack("<I", len(local_rec))
    return bytes(local_rec + central_rec + end_rec)


def test_unsupported_compression_is_refused_before_decompressing(tmp_path: Path) -> None:
    path = _zip(
        tmp_path / "b.npz", [("x.npy", _npy(np.zeros(1000)))], compression=zipfile.ZIP_BZIP2
    )
    with pytest.raises(NpzFileError, match="compression method 12; store members"):
        load_npz(path)


def test_inflation_bomb_is_refused_from_the_directory(tmp_path: Path) -> None:
    """A member announced 2000x its stored size is refused before a byte is inflated."""
    path = _zip(
        tmp_path / "bomb.npz",
        [("x.npy", _npy(np.zeros(4 << 20, np.uint8)))],
        compression=zipfile.ZIP_DEFLATED,
    )
    data = bytearray(path.read_bytes())
    central = data.index(b"PK\x01\x02")
    stored = struct.unpack("<I", data[central + 20 : central + 24])[0]
    data[central + 24 : central + 28] = struct.pack("<I", stored * 2000)
    path.write_bytes(bytes(data))
    with pytest.raises(NpzFileError, match="compressed more than 1100:1"):
        read_npz(path)


def test_honest_npz_of_zeros_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "z.npz"
    np.savez_compressed(path, x=np.zeros((256, 256, 64), np.float32))
    arrays, _, _ = read_npz(path)
    assert arrays["x"].shape == (256, 256, 64) and not arrays["x"].any()


def test_truncated_member_data(tmp_path: Path) -> None:
    path = tmp_path / "t.npz"
    np.savez_compressed(path, x=np.random.default_rng(0).standard_normal(5000))
    data = path.read_bytes()
    central = data.index(b"PK\x01\x02")
    cut = data[: central - 2000] + b"\0" * 2000 + data[central:]
    path.write_bytes(cut)
    with pytest.raises(NpzFileError, match="cannot read key 'x'") as info:
        read_npz(path)
    assert info.value.__cause__ is not None


def test_symlink_and_encrypted_members(tmp_path: Path) -> None:
    link = zipfile.ZipInfo("x.npy")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    path = _zip(tmp_path / "l.npz", [(link, b"/etc/passwd")])
    with pytest.raises(NpzFileError, match="symbolic link"):
        read_npz(path)
    path = _zip(tmp_path / "s.npz", [("x.npy", _npy(np.zeros(2)))])
    data = bytearray(path.read_bytes())
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        data[data.index(signature) + offset] |= 0x1  # the "encrypted" flag bit
    path.write_bytes(bytes(data))
    with pytest.raises(NpzFileError, match="encrypted"):
        read_npz(path)


def test_traversal_name_in_npz(tmp_path: Path) -> None:
    path = _zip(tmp_path / "p.npz", [("../x.npy", _npy(np.zeros(2)))])
    with pytest.raises(NpzFileError, match=r"contains '\.\.'"):
        read_npz(path)


def test_future_zip_version_is_a_bundle_error(tmp_path: Path) -> None:
    """A member needing a newer zip version: zipfile's NotImplementedError is wrapped."""
    path = _zip(tmp_path / "wts.h5.zip", [("manifest.json", b"{}")])
    data = bytearray(path.read_bytes())
    local = data.index(b"PK\x03\x04")
    data[local + 4 : local + 6] = struct.pack("<H", 99)
    central = data.index(b"PK\x01\x02")
    data[central + 6 : central + 8] = struct.pack("<H", 99)
    path.write_bytes(bytes(data))
    with pytest.raises(BundleFileError, match=r"not a zip archive \(NotImplementedError\)") as info:
        read_bundle(path, expected_backend=None)
    assert isinstance(info.value.__cause__, NotImplementedError)


def test_bundle_with_bzip2_member(tmp_path: Path) -> None:
    path = _zip(tmp_path / "wts.h5.zip", [("manifest.json", b"{}")], compression=zipfile.ZIP_BZIP2)
    with pytest.raises(BundleFileError, match="compression method 12"):
        read_bundle(path, expected_backend=None)
