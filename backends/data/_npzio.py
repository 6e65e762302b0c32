"""Low-level NPZ reading without pickle: every failure becomes an NpzFileError naming the file.

``numpy.load`` raises a zoo of errors on damaged files (BadZipFile, EOFError, zlib errors,
OSError, MemoryError for forged headers); this reader checks each member's header against the
bytes actually stored before allocating, and reports every problem as
:class:`~backends.safeio.NpzFileError` (a ``ValueError``).
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import IO

import numpy as np
from numpy.lib import format as npformat

from backends.safeio import NpzFileError, ZipLimits, check_members, check_regular_file, open_zip

_MAX_HEADER = 10_000


class PickledArrayError(NpzFileError):
    """An archive member is an object array; it would need pickle to load."""


#: Bounds on an NPZ archive; deflate cannot exceed ~1032:1, so the ratio refuses other tricks
#: (forged sizes) while every honest file, even of zeros, passes.
NPZ_LIMITS = ZipLimits(
    max_members=4096,
    max_member_bytes=32 * 1024**3,
    max_total_bytes=64 * 1024**3,
    max_ratio=1100,
    ratio_exempt_bytes=1 << 20,
)


def _key_of(name: str) -> str:
    return name[:-4] if name.endswith(".npy") else name


def _open_archive(path: Path) -> tuple[zipfile.ZipFile, dict[str, zipfile.ZipInfo]]:
    check_regular_file(path, NpzFileError)
    archive = open_zip(
        path, NpzFileError, "readable NPZ archive", "expected a file written by numpy.savez"
    )
    try:
        members = check_members(archive, path, NpzFileError, NPZ_LIMITS, same_key=_key_of)
    except BaseException:
        archive.close()
        raise
    return archive, {_key_of(name): info for name, info in members.items()}


def _read_header(handle: IO[bytes]) -> tuple[tuple[int, ...], bool, np.dtype]:
    version = npformat.read_magic(handle)
    if version == (1, 0):
        return npformat.read_array_header_1_0(handle, max_header_size=_MAX_HEADER)
    if version in ((2, 0), (3, 0)):
        return npformat.read_array_header_2_0(handle, max_header_size=_MAX_HEADER)
    raise ValueError(f"unsupported .npy format version {version}")


def _read_member(
    path: Path, archive: zipfile.ZipFile, key: str, zinfo: zipfile.ZipInfo
) -> np.ndarray:
    try:
        with archive.open(zinfo) as handle:
            shape, fortran, dtype = _read_header(handle)
            if dtype.hasobject:
                raise PickledArrayError(
                    path,
                    f"key {key!r} is an object array that needs pickle to load; it is never "
                    "loaded (allow_pickle=False)",
                    key=key,
                    fix="store it as a numeric or string array",
                )
            if any(int(s) < 0 for s in shape):
                raise ValueError(f"negative dimension in shape {shape}")
            count = 1
            for s in shape:
                count *= int(s)
            nbytes = count * dtype.itemsize
            available = zinfo.file_size - handle.tell()
            if nbytes > available:
                raise ValueError(
                    f"header announces {nbytes} bytes for shape {shape} {dtype} but only "
                    f"{available} are stored"
                )
            data = handle.read(nbytes)
            if len(data) != nbytes:
                raise ValueError(f"expected {nbytes} bytes of array data, got {len(data)}")
            handle.read()  # reach the end of the member so that its CRC is verified
            array = np.frombuffer(bytearray(data), dtype=dtype)
            if dtype.byteorder not in ("=", "|"):
                array = array.astype(dtype.newbyteorder("="))
            return array.reshape(shape, order="F" if fortran else "C")
    except PickledArrayError:
        raise
    except Exception as exc:
        raise NpzFileError(
            path,
            f"cannot read key {key!r} ({type(exc).__name__}: {exc})",
            key=key,
            fix="the file is damaged or not written by numpy.savez",
        ) from exc


def read_npz(
    path: str | os.PathLike[str], keys: list[str] | None = None
) -> tuple[dict[str, np.ndarray], dict[str, str], list[str]]:
    """Read arrays of an NPZ file without pickle.

    Returns ``(arrays, unreadable, all_keys)``: ``arrays`` holds the requested keys that exist
    (all keys when ``keys`` is None); ``unreadable`` maps keys whose member is an object array
    to the reason; ``all_keys`` lists every key in the archive. Damaged members raise
    NpzFileError naming the file and key.
    """
    path = Path(path)
    arrays: dict[str, np.ndarray] = {}
    unreadable: dict[str, str] = {}
    archive, members = _open_archive(path)
    with archive:
        wanted = list(members) if keys is None else [k for k in keys if k in members]
        for key in wanted:
            try:
                arrays[key] = _read_member(path, archive, key, members[key])
            except PickledArrayError as exc:
                unreadable[key] = str(exc)
        return arrays, unreadable, list(members)
