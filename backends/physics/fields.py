"""Object field from the network heads (physics.md section 1)."""

from __future__ import annotations

import numpy as np

from backends.physics._arrays import as_real, make_complex

COMBINE_MODES = ("polar", "legacy_rect")


def combine_complex(amp: np.ndarray, phi: np.ndarray, mode: str = "polar") -> np.ndarray:
    """Complex object from amplitude and phase, complex128.

    ``mode="polar"``: ``A cos(phi) + i A sin(phi)``; ``mode="legacy_rect"``: ``A + i phi``
    (the d8fab81 combination, kept to reproduce checkpoints trained with it).
    """
    a = as_real(amp, "amp")
    p = as_real(phi, "phi")
    if a.shape != p.shape:
        raise ValueError(f"amp and phi must have the same shape, got {a.shape} and {p.shape}")
    if mode == "polar":
        return make_complex(a * np.cos(p), a * np.sin(p))
    if mode == "legacy_rect":
        return make_complex(a, p)
    raise ValueError(
        f"combine mode {mode!r} is not allowed; choose one of: {', '.join(COMBINE_MODES)}"
    )
