"""What the model consumes, prepared once in NumPy so both backends receive the same bytes."""

from __future__ import annotations

import numpy as np


def scaled_input(X: np.ndarray, intensity_scale: float) -> np.ndarray:
    """The model input ``s·X`` in float32 (also the amplitude target of the loss)."""
    return np.asarray(X, np.float32) * np.float32(intensity_scale)


def square_probe(probe: np.ndarray) -> np.ndarray:
    """``probe`` as (N, N): an (N, N, 1) probe loses its channel axis; other shapes are refused."""
    p = np.asarray(probe)
    if p.ndim == 3 and p.shape[-1] == 1:
        p = p[..., 0]
    if p.ndim != 2 or p.shape[0] != p.shape[1]:
        raise ValueError(f"probe must be (N, N) or (N, N, 1); got shape {np.shape(probe)}")
    return p


def model_probe(probe: np.ndarray, probe_scale: float, normalized: bool = False) -> np.ndarray:
    """The probe constant a model multiplies by: (N, N) complex64 (physics.md 2.3).

    The raw (N, N) or (N, N, 1) probe is normalised by the float64 oracle and cast once, so that
    both backends consume the same bytes; ``normalized=True`` takes the probe as it is.
    """
    p = square_probe(probe)
    if normalized:
        return p.astype(np.complex64)
    from backends.physics import normalize_probe

    return np.asarray(normalize_probe(p, probe_scale)).astype(np.complex64)
