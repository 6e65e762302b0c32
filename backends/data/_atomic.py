"""Atomic file writing for the data package (the one writer of :mod:`backends.core.files`)."""

from __future__ import annotations

from backends.core.files import write_atomic

__all__ = ["write_atomic"]
