"""Inference steps both backends share: inputs, batching and the stitched object's parts."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from backends.core.inputs import scaled_input


def model_inputs(
    X: np.ndarray, positions: np.ndarray, intensity_scale: float
) -> tuple[np.ndarray, np.ndarray]:
    """``(s·X, positions)`` as float32 for every group: ``X`` (G, N, N, C) is ``X_full`` and
    ``positions`` (G, 1, 2, C) ``coords_nominal`` (reference layout)."""
    groups = int(np.shape(X)[0])
    if np.shape(positions)[0] != groups:
        raise ValueError(
            f"{groups} diffraction groups but {np.shape(positions)[0]} position groups; "
            "X and positions must describe the same groups"
        )
    return scaled_input(X, intensity_scale), np.asarray(positions, dtype=np.float32)


def batch_slices(groups: int, batch_size: int) -> list[slice]:
    """Consecutive slices of at most ``batch_size`` groups covering ``range(groups)``."""
    if (
        isinstance(batch_size, bool)
        or not isinstance(batch_size, (int, np.integer))
        or batch_size <= 0
    ):
        raise ValueError(f"batch_size={batch_size!r} must be a positive integer")
    return [slice(start, start + batch_size) for start in range(0, groups, batch_size)]


def predict_in_batches(
    predict: Callable[[np.ndarray, np.ndarray], np.ndarray],
    x: np.ndarray,
    positions: np.ndarray,
    slices: list[slice],
    N: int,
) -> np.ndarray:
    """``trimmed_obj`` (G, N, N, 1) of the model inputs ``x`` and ``positions`` (from
    :func:`model_inputs`), predicted batch by batch over ``slices`` (:func:`batch_slices`)."""
    out = [predict(x[part], positions[part]) for part in slices]
    return np.concatenate(out, axis=0) if out else np.zeros((0, N, N, 1), np.complex64)


def amplitude_phase(stitched: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``|O|`` and ``angle(O)`` of a complex object, float32."""
    z = np.asarray(stitched, dtype=np.complex64)
    return np.abs(z).astype(np.float32), np.angle(z).astype(np.float32)
