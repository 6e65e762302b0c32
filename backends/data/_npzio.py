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

import numpy as np

from backends.safeio import NpzFileError, ZipLimits, check_members, check_regular_file, open_zip
from backends.safeio.npy import read_npy


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


def _read_member(
    path: Path, archive: zipfile.ZipFile, key: str, zinfo: zipfile.ZipInfo
) -> np.ndarray:
    try:
        with archive.open(zinfo) as handle:
            array = read_npy(
                handle, zinfo.file_size, path, NpzFileError, key=key, pickled=PickledArrayError
            )
            handle.read()  # reach the end of the member so that its CRC is verified
            return array
    except NpzFileError:
        raise
    except Exception as exc:  # zlib errors, a bad CRC, EOFError, OSError
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
