"""Opening files from untrusted places: regular files only, bounded in size.

FIFOs, character devices (``/dev/zero``), sockets and directories are refused before a byte
is read, so that a reader never blocks forever or reads without end. The check runs on the
opened descriptor (``fstat``), so a path swapped between check and read changes nothing.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from backends.safeio.errors import UnsafeInputError

#: Largest file any reader accepts unless it asks for another bound (data sets are large).
DEFAULT_MAX_FILE_BYTES = 64 * 1024**3


def _kind_of(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def check_regular_file(
    path: str | os.PathLike[str],
    error: type[UnsafeInputError],
    *,
    max_bytes: int = DEFAULT_MAX_FILE_BYTES,
) -> Path:
    """Return ``path`` when it is an existing regular file of at most ``max_bytes``.

    Raises ``FileNotFoundError`` for a missing path and ``error`` for anything else that is
    not a regular file, or a file that is too large.
    """
    path = Path(path)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: file not found; check the path") from None
    except OSError as exc:
        raise error(
            path, f"cannot be examined ({exc.strerror})", fix="check the path and its permissions"
        ) from exc
    _check_mode(path, info, error, max_bytes)
    return path


def _check_mode(
    path: Path, info: os.stat_result, error: type[UnsafeInputError], max_bytes: int
) -> None:
    if not stat.S_ISREG(info.st_mode):
        raise error(path, f"is {_kind_of(info.st_mode)}", fix="pass a regular file")
    if info.st_size > max_bytes:
        raise error(
            path,
            f"is {info.st_size} bytes, more than the limit of {max_bytes}",
            fix="pass a smaller file",
        )


def read_file_bytes(
    path: str | os.PathLike[str],
    error: type[UnsafeInputError],
    *,
    max_bytes: int = DEFAULT_MAX_FILE_BYTES,
) -> bytes:
    """The bytes of a regular file of at most ``max_bytes``, read without blocking on FIFOs."""
    path = Path(path)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: file not found; check the path") from None
    except IsADirectoryError as exc:
        raise error(path, "is a directory", fix="pass a regular file") from exc
    except OSError as exc:
        raise error(
            path, f"cannot be opened ({exc.strerror})", fix="check the path and its permissions"
        ) from exc
    try:
        _check_mode(path, os.fstat(fd), error, max_bytes)
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise error(path, f"cannot be read ({exc.strerror})", fix="check the file") from exc
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        raise error(
            path,
            f"grew beyond the limit of {max_bytes} bytes while read",
            fix="pass a smaller file",
        )
    return data


def read_file_text(
    path: str | os.PathLike[str],
    error: type[UnsafeInputError],
    *,
    max_bytes: int,
) -> str:
    """The UTF-8 text of a regular file of at most ``max_bytes``."""
    data = read_file_bytes(path, error, max_bytes=max_bytes)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(path, f"is not UTF-8 text (byte {exc.start})", fix="save it as UTF-8") from exc
