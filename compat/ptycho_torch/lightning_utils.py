"""Upstream's ``lightning_utils.find_best_checkpoint``."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["find_best_checkpoint"]


def find_best_checkpoint(directory: str | os.PathLike[str]) -> Path | None:
    """The checkpoint a run directory holds: a ``best*.ckpt`` if there is one, else the most
    recently written ``*.ckpt`` (searched recursively); None when there is none."""
    root = Path(directory)
    if not root.is_dir():
        return None
    found = sorted(p for p in root.rglob("*.ckpt") if p.is_file() and not p.is_symlink())
    if not found:
        return None
    best = [p for p in found if p.name.startswith("best")]
    pool = best or found
    return max(pool, key=lambda p: (p.stat().st_mtime_ns, str(p)))
