"""One atomic writer: a complete file appears under its name, or nothing changes there.

Data is written to a temporary file in the target directory, flushed to disk and renamed into
place. The file gets the permissions an ordinary ``open(path, "w")`` would give it (``0o666``
less the process umask), not the ``0o600`` of a temporary file.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

_UMASK_LOCK = threading.Lock()


def default_file_mode() -> int:
    """``0o666`` less the process umask: the mode a newly created file gets."""
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return 0o666 & ~mask


def write_atomic(
    path: str | os.PathLike[str],
    writer: Callable[[BinaryIO], object],
    *,
    make_parents: bool = False,
) -> Path:
    """Call ``writer`` on a temporary binary file next to ``path`` and rename it into place.

    On any error the temporary file is removed, ``path`` keeps its previous content and the error
    propagates. The parent directory must exist unless ``make_parents``.
    """
    target = Path(path)
    parent = target.parent
    if make_parents:
        parent.mkdir(parents=True, exist_ok=True)
    elif not parent.is_dir():
        raise FileNotFoundError(
            f"cannot write {target}: directory {parent} does not exist; create it first"
        )
    if target.is_dir():
        raise ValueError(f"cannot write {target}: it is a directory; give a file name")
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            writer(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, default_file_mode())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return target


def write_bytes_atomic(
    path: str | os.PathLike[str], data: bytes, *, make_parents: bool = True
) -> Path:
    """Write ``data`` to ``path`` atomically (parent directories are created by default)."""
    return write_atomic(path, lambda handle: handle.write(data), make_parents=make_parents)


def write_text_atomic(
    path: str | os.PathLike[str], text: str, *, make_parents: bool = True
) -> Path:
    """Write ``text`` as UTF-8 to ``path`` atomically (parent directories created by default)."""
    return write_bytes_atomic(path, text.encode("utf-8"), make_parents=make_parents)
