"""Publishing a run's output directory atomically under a name no other run holds.

A run writes into a hidden work directory ``.<name>.partial-<host>-<pid>`` beside its final
place and renames it into place when complete. Two runs started in the same second compute the
same name; the rename is the arbiter (it fails on an existing non-empty directory), so the later
run takes the next free suffix instead of failing or deleting anything. Work directories of runs
on this host that were killed (their process is gone) are swept away by the next run into the
same place.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import socket
from pathlib import Path

_PARTIAL = re.compile(r"^\..+\.partial-(\w+)-(\d+)$")
_TEMPORARY = re.compile(r"^\..+\.tmp$")


def work_directory(root: Path, name: str) -> Path:
    """A fresh hidden work directory in ``root`` for a run that will publish ``name``."""
    root.mkdir(parents=True, exist_ok=True)
    sweep_abandoned(root)
    work = root / f".{name}.partial-{_host()}-{os.getpid()}"
    work.mkdir()
    return work


def _host() -> str:
    return re.sub(r"\W", "_", socket.gethostname()) or "host"


def process_alive(pid: int) -> bool:
    """Whether a process with this id exists (another user's counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def sweep_abandoned(root: Path) -> list[Path]:
    """Remove work directories in ``root`` left by runs on this host whose process no longer
    exists (runs on other machines sharing the directory are never touched); returns them."""
    removed: list[Path] = []
    host = _host()
    for entry in root.iterdir() if root.is_dir() else ():
        match = _PARTIAL.match(entry.name)
        if not match or match[1] != host or not entry.is_dir() or entry.is_symlink():
            continue
        if not process_alive(int(match[2])):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


def remove_temporaries(directory: Path) -> None:
    """Delete hidden ``.*.tmp`` files that a crashed writer left anywhere under ``directory``."""
    for path in list(directory.rglob(".*.tmp")):
        if _TEMPORARY.match(path.name) and path.is_file():
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


def publish(work: Path, root: Path, name: str) -> Path:
    """Rename ``work`` to ``root/name`` or, when taken, ``root/name-1``, ``-2``...; returns it."""
    remove_temporaries(work)
    n = 0
    while True:
        final = root / (name if n == 0 else f"{name}-{n}")
        n += 1
        if final.exists():
            continue
        try:
            os.rename(work, final)
        except OSError as exc:
            if exc.errno in (errno.EEXIST, errno.ENOTEMPTY):
                continue  # another run published this name between our check and rename
            raise
        return final
