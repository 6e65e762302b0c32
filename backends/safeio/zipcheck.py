"""Zip archives (bundles, NPZ data files) checked on the central directory before reading.

The rules follow what careful archive readers do: every member has a non-empty, relative name
without ``..``, backslashes, drive letters or NUL; no name (nor, for NPZ, no key) appears
twice; no member is a symbolic link or encrypted; only the methods this project's writers use
(stored, deflate) are accepted; sizes and compression ratios are bounded. A member is then
read into memory only, never extracted, and never beyond its declared size.
"""

from __future__ import annotations

import os
import re
import stat
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from backends.safeio.errors import UnsafeInputError

_DRIVE = re.compile(r"^[A-Za-z]:")
SUPPORTED_METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflate"}


@dataclass(frozen=True)
class ZipLimits:
    """Bounds on an archive: member count, sizes and compression ratio.

    The ratio applies to members above ``ratio_exempt_bytes`` (tiny members compress
    arbitrarily well and cost nothing).
    """

    max_members: int = 256
    max_member_bytes: int = 16 * 1024**3
    max_total_bytes: int = 16 * 1024**3
    max_ratio: float = 200.0
    ratio_exempt_bytes: int = 0


def member_name_problem(name: str) -> str | None:
    """Why ``name`` is unsafe as an archive member name, or None when it is safe."""
    if not name:
        return "an archive member has an empty name"
    if "\x00" in name:
        return f"member name {name!r} contains a NUL character"
    if "\\" in name:
        return f"member name {name!r} contains a backslash"
    if name.startswith("/") or _DRIVE.match(name):
        return f"member name {name!r} is absolute"
    if ".." in name.split("/"):
        return f"member name {name!r} contains '..'"
    return None


def open_zip(
    path: str | os.PathLike[str], error: type[UnsafeInputError], what: str, fix: str
) -> zipfile.ZipFile:
    """Open ``path`` (a checked regular file) as a zip archive; ``error`` names ``what`` it
    should have been and the ``fix`` when it is not."""
    try:
        return zipfile.ZipFile(Path(path), "r")
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        OSError,
        EOFError,
        ValueError,
        NotImplementedError,
    ) as exc:
        raise error(path, f"is not a {what} ({type(exc).__name__})", fix=fix) from exc


def check_members(
    archive: zipfile.ZipFile,
    path: str | os.PathLike[str],
    error: type[UnsafeInputError],
    limits: ZipLimits,
    *,
    same_key: Callable[[str], str] = lambda name: name,
) -> dict[str, zipfile.ZipInfo]:
    """The file members of ``archive`` by name, after every rule of this module holds.

    ``same_key`` maps a member name to the key a consumer sees (NPZ: ``x`` and ``x.npy`` are
    both key ``x``); two members with one key are refused, so no reader can see another array
    than the one that was checked.
    """
    infos = archive.infolist()
    if len(infos) > limits.max_members:
        raise error(
            path,
            f"has {len(infos)} members, more than the limit of {limits.max_members}",
            fix="pass an archive written by this project",
        )
    members: dict[str, zipfile.ZipInfo] = {}
    keys: set[str] = set()
    total = 0
    for info in infos:
        name = info.filename
        problem = member_name_problem(name)
        if problem:
            raise error(
                path, problem, fix="the archive was not written by this project; do not use it"
            )
        key = same_key(name)
        if key in keys:
            raise error(
                path,
                f"member {name!r} appears more than once",
                key=key,
                fix="rewrite the archive with unique member names",
            )
        keys.add(key)
        if stat.S_ISLNK(info.external_attr >> 16):
            raise error(
                path,
                f"member {name!r} is a symbolic link",
                key=key,
                fix="links are never followed; store the file itself",
            )
        if info.flag_bits & 0x1:
            raise error(path, f"member {name!r} is encrypted", key=key, fix="store it unencrypted")
        if info.compress_type not in SUPPORTED_METHODS:
            raise error(
                path,
                f"member {name!r} uses compression method {info.compress_type}",
                key=key,
                fix="store members uncompressed or deflated",
            )
        if info.file_size > limits.max_member_bytes:
            raise error(
                path,
                f"member {name!r} is {info.file_size} bytes uncompressed, more than the limit of {limits.max_member_bytes}",
                key=key,
                fix="split the data",
            )
        total += info.file_size
        if total > limits.max_total_bytes:
            raise error(
                path,
                f"its total uncompressed size exceeds the limit of {limits.max_total_bytes} bytes",
                fix="split the data",
            )
        if info.file_size > limits.ratio_exempt_bytes and info.file_size > limits.max_ratio * max(
            info.compress_size, 1
        ):
            raise error(
                path,
                f"member {name!r} is compressed more than {limits.max_ratio:g}:1 ({info.file_size} bytes from {info.compress_size})",
                key=key,
                fix="this looks like a decompression bomb; do not use the file",
            )
        if not info.is_dir():
            members[name] = info
    return members


def read_member(
    archive: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    path: str | os.PathLike[str],
    error: type[UnsafeInputError],
    *,
    key: str | None = None,
) -> bytes:
    """The bytes of a checked member, never more than its declared size; ``error`` when damaged."""
    label = info.filename if key is None else key
    try:
        with archive.open(info) as handle:
            data = handle.read(info.file_size + 1)
    except (
        zipfile.BadZipFile,
        zlib.error,
        OSError,
        EOFError,
        NotImplementedError,
        ValueError,
        RuntimeError,
    ) as exc:
        raise error(
            path,
            f"member {info.filename!r} is damaged ({type(exc).__name__}: {exc})",
            key=label,
            fix="the file is corrupt; write it again",
        ) from exc
    if len(data) != info.file_size:
        raise error(
            path,
            f"member {info.filename!r} does not have its declared size",
            key=label,
            fix="the file is corrupt; write it again",
        )
    return data
