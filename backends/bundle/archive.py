"""Zip I/O for bundles: deterministic, atomic writing and hygienic in-memory reading.

Security rules of docs/persistence.md section 3.10: member names must be relative, without
``..`` components or backslashes, unique and not symlinks; at most :data:`MAX_MEMBERS` members;
a bounded total uncompressed size; no member compressed more than :data:`MAX_RATIO` to 1.
Every check runs on the central directory before a byte is decompressed, and members are read
into memory only, never extracted.
"""

from __future__ import annotations

import io
import stat
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path

from backends.core.files import write_bytes_atomic
from backends.safeio import (
    BundleFileError,
    ZipLimits,
    check_members,
    check_regular_file,
    open_zip,
    read_member,
)
from backends.safeio.zipcheck import member_name_problem

__all__ = [
    "DEFAULT_MAX_TOTAL_BYTES",
    "FIXED_TIMESTAMP",
    "MAX_MEMBERS",
    "MAX_RATIO",
    "SafeArchive",
    "atomic_write_bytes",
    "build_zip",
]

MAX_MEMBERS = 256
MAX_RATIO = 200
DEFAULT_MAX_TOTAL_BYTES = 8 * 1024**3
FIXED_TIMESTAMP = (1980, 1, 1, 0, 0, 0)
_STORE_ABOVE_RATIO = 100  # the writer stores members that would deflate more than this
_SAMPLE_BYTES = 1 << 20


def check_member_name(name: str) -> None:
    """Raise ValueError for an unsafe member name (absolute, ``..``, backslash, drive letter)."""
    problem = member_name_problem(name)
    if problem:
        raise ValueError(f"bundle rejected: {problem}")


def _deflated_size(data: bytes, level: int = 6) -> int:
    comp = zlib.compressobj(level, zlib.DEFLATED, -15)
    return len(comp.compress(data)) + len(comp.flush())


def _compress_type(data: bytes) -> int:
    """Deflate, unless it gains little (judged on the first MiB at a fast level: weights of
    random-looking floats) or would exceed :data:`_STORE_ABOVE_RATIO`; stored is always safe."""
    if not data:
        return zipfile.ZIP_DEFLATED
    sample = data[:_SAMPLE_BYTES]
    if len(sample) < 1.25 * _deflated_size(sample, 1):
        return zipfile.ZIP_STORED
    if len(data) > _STORE_ABOVE_RATIO * max(_deflated_size(data), 1):
        return zipfile.ZIP_STORED
    return zipfile.ZIP_DEFLATED


def build_zip(entries: Mapping[str, bytes]) -> bytes:
    """A deterministic zip of ``entries``: sorted names, fixed timestamps and permissions.

    Members are deflated, except those that barely compress (stored, which is faster) and
    those that would exceed a ratio of 100:1 (stored, to stay well inside the reader's 200:1
    limit).
    """
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name in sorted(entries):
            check_member_name(name)
            data = entries[name]
            info = zipfile.ZipInfo(name, date_time=FIXED_TIMESTAMP)
            info.create_system = 3
            info.external_attr = (stat.S_IFREG | 0o644) << 16
            info.compress_type = _compress_type(data)
            zf.writestr(info, data, compresslevel=6)
    return buf.getvalue()


def atomic_write_bytes(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same directory and a rename.

    The directory is created if needed. On any failure the temporary file is removed and the
    previous content of ``path`` (if any) is left intact
    (:func:`backends.core.files.write_bytes_atomic`).
    """
    return write_bytes_atomic(path, data)


class SafeArchive:
    """A zip archive opened for reading under the hygiene rules of section 3.10.

    All checks run in the constructor, on the central directory. Use :meth:`read` to get a
    member's bytes (decompressed in memory, bounded by its declared size).
    """

    def __init__(
        self,
        path: Path,
        *,
        max_members: int = MAX_MEMBERS,
        max_total_bytes: int = DEFAULT_MAX_TOTAL_BYTES,
        max_ratio: float = MAX_RATIO,
    ) -> None:
        self.path = Path(path)
        if self.path.is_symlink():
            raise BundleFileError(
                self.path,
                "is a symbolic link",
                fix="pass the real file (symlinks are never followed)",
            )
        check_regular_file(self.path, BundleFileError)
        self._zip = open_zip(
            self.path, BundleFileError, "zip archive", "expected a wts.h5.zip model bundle"
        )
        limits = ZipLimits(
            max_members=max_members,
            max_member_bytes=max_total_bytes,
            max_total_bytes=max_total_bytes,
            max_ratio=max_ratio,
        )
        try:
            self._members = check_members(self._zip, self.path, BundleFileError, limits)
        except BaseException:
            self._zip.close()
            raise

    @property
    def names(self) -> list[str]:
        """Member names (directories excluded), in archive order."""
        return list(self._members)

    def __contains__(self, name: object) -> bool:
        return name in self._members

    def read(self, name: str) -> bytes:
        """The bytes of member ``name``; KeyError if absent, BundleFileError if corrupt."""
        return read_member(self._zip, self._members[name], self.path, BundleFileError)

    def close(self) -> None:
        self._zip.close()

    def __enter__(self) -> SafeArchive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
