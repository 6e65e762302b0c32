"""Probes with a leading mode axis, as ptychodus writes them (``(modes, N, N)``).

PtychoPINN models one coherent probe: a mode stack is reduced to its first (dominant) mode,
with a warning when it holds more than one. NumPy only.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

__all__ = ["first_probe_mode"]

log = logging.getLogger(__name__)


def first_probe_mode(probe: Any, source: str = "probeGuess") -> np.ndarray:
    """A 2-D probe: ``(N, N)`` as it is, ``(modes, N, N)`` reduced to its first mode."""
    arr = np.asarray(probe)
    if arr.ndim == 3:
        if arr.shape[0] < 1:
            raise ValueError(f"{source}: probe with a mode axis has no modes (shape {arr.shape})")
        if arr.shape[0] > 1:
            log.warning(
                "%s has %d probe modes; PtychoPINN models one coherent probe, using mode 0",
                source,
                arr.shape[0],
            )
        arr = arr[0]
    if arr.ndim != 2:
        raise ValueError(f"{source}: probe must be (N, N) or (modes, N, N); got shape {arr.shape}")
    return arr
