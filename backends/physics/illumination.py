"""Exit wave: object times normalised probe, optional smoothing and mask (physics.md 2.4)."""

from __future__ import annotations

import numpy as np

from backends.physics._arrays import as_complex, require_ndim
from backends.physics.probe import probe_mask
from backends.physics.smoothing import gaussian_smooth


def illuminate(
    obj: np.ndarray, probe: np.ndarray, sigma: float = 0.0, mask: bool = False
) -> np.ndarray:
    """``Psi = obj * probe`` (broadcast over channels), then smoothing if ``sigma > 0``
    (physics.md 9), then times the probe mask if ``mask``.

    ``obj`` (B', N, N, C) complex; ``probe`` (N, N) (or (N, N, 1)) already normalised
    (:func:`backends.physics.normalize_probe`). Returns complex128 (B', N, N, C).
    """
    o = as_complex(obj, "obj")
    require_ndim(o, 4, "obj", "(B, N, N, C)")
    p = as_complex(probe, "probe")
    if p.ndim == 3 and p.shape[2] == 1:
        p = p[:, :, 0]
    if p.shape != o.shape[1:3]:
        raise ValueError(
            f"probe must have shape {o.shape[1:3]} to match obj {o.shape}, got {p.shape}"
        )
    if sigma < 0:
        raise ValueError(f"sigma={sigma!r} must be >= 0")
    psi = o * p[None, :, :, None]
    if sigma > 0:
        psi = gaussian_smooth(psi, sigma)
    if mask:
        psi = psi * probe_mask(p.shape[0])[None, :, :, None]
    return psi
