"""The initial weights both backends are given: drawn once, in NumPy, from the scenario seed."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

BIAS_LIMIT = 0.01


def glorot_weights(config: Any, seed: int) -> dict[str, np.ndarray]:
    """Every weight of :func:`backends.graph.weight_shapes` in construction order: kernels
    Glorot uniform (limit ``sqrt(6 / (fan_in + fan_out))``, the Keras default of model.md 8),
    biases uniform in ``[-0.01, 0.01]`` rather than Keras' zeros, so that a bias lost or
    misplaced in a weight conversion changes the outputs. float32, reference (HWIO) layout."""
    from backends.graph import weight_shapes

    rng = np.random.default_rng(seed)
    out: dict[str, np.ndarray] = {}
    for name, shape in weight_shapes(config).items():
        if len(shape) == 4:
            kh, kw, c_in, c_out = shape
            limit = math.sqrt(6.0 / (kh * kw * c_in + kh * kw * c_out))
            out[name] = rng.uniform(-limit, limit, size=shape).astype(np.float32)
        else:
            out[name] = rng.uniform(-BIAS_LIMIT, BIAS_LIMIT, size=shape).astype(np.float32)
    return out
