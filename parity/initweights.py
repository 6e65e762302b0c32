"""The initial weights both backends are given: drawn once, in NumPy, from the scenario seed."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

BIAS_LIMIT = 0.01


def glorot_limit(shape: tuple[int, ...]) -> float:
    """The Glorot-uniform bound ``sqrt(6 / (fan_in + fan_out))`` of an HWIO kernel."""
    kh, kw, c_in, c_out = shape
    return math.sqrt(6.0 / (kh * kw * c_in + kh * kw * c_out))


def glorot_weights(config: Any, seed: int, bias_limit: float = BIAS_LIMIT) -> dict[str, np.ndarray]:
    """Every weight of :func:`backends.graph.weight_shapes` in construction order: kernels
    Glorot uniform (the Keras default of model.md 8), biases uniform in
    ``[-bias_limit, bias_limit]``: by default 0.01 rather than Keras' zeros, so that a bias lost
    or misplaced in a weight conversion changes the outputs; ``bias_limit=0`` gives the zeros
    of model.md 8. float32, reference (HWIO) layout."""
    from backends.graph import weight_shapes

    rng = np.random.default_rng(seed)
    out: dict[str, np.ndarray] = {}
    for name, shape in weight_shapes(config).items():
        if len(shape) == 4:
            limit = glorot_limit(shape)
            out[name] = rng.uniform(-limit, limit, size=shape).astype(np.float32)
        elif bias_limit == 0.0:
            out[name] = np.zeros(shape, dtype=np.float32)
        else:
            out[name] = rng.uniform(-bias_limit, bias_limit, size=shape).astype(np.float32)
    return out
