"""Weight layout conversion between the backends (docs/model.md section 10).

Weights cross the backend boundary under the canonical names of :mod:`backends.graph` in the
reference (Keras) layout: conv kernels HWIO ``(kh, kw, c_in, c_out)``, biases ``(c_out,)``.
PyTorch stores conv kernels OIHW ``(c_out, c_in, kh, kw)``; ``W_torch = W_tf.transpose(3, 2, 0, 1)``.
Both frameworks compute cross-correlation, so no kernel flip is involved. NumPy only.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from backends.config.canonical import ModelConfig
from backends.graph import weight_shapes

__all__ = [
    "HWIO_TO_OIHW",
    "LAYOUTS",
    "OIHW_TO_HWIO",
    "check_weights",
    "convert_weights",
    "from_torch",
    "is_kernel",
    "to_torch",
]

HWIO_TO_OIHW = (3, 2, 0, 1)
OIHW_TO_HWIO = (2, 3, 1, 0)
LAYOUTS = ("reference", "tensorflow", "pytorch")


def is_kernel(name: str) -> bool:
    """True for a conv kernel (``<layer>.kernel``), the only weights whose layout differs."""
    return name.endswith(".kernel")


def _check_rank(name: str, array: np.ndarray) -> None:
    if is_kernel(name):
        if array.ndim != 4:
            raise ValueError(f"weight {name!r}: a conv kernel must be 4-D, got shape {array.shape}")
    elif not name.endswith(".bias"):
        raise ValueError(
            f"weight {name!r}: unknown weight kind; canonical names end in '.kernel' or '.bias'"
        )


def to_torch(name: str, array: np.ndarray) -> np.ndarray:
    """A reference-layout weight in PyTorch layout (kernels HWIO -> OIHW, biases unchanged)."""
    array = np.asarray(array)
    _check_rank(name, array)
    if is_kernel(name):
        return array.transpose(HWIO_TO_OIHW).copy()
    return array.copy()


def from_torch(name: str, array: np.ndarray) -> np.ndarray:
    """A PyTorch-layout weight in reference layout (kernels OIHW -> HWIO, biases unchanged)."""
    array = np.asarray(array)
    _check_rank(name, array)
    if is_kernel(name):
        return array.transpose(OIHW_TO_HWIO).copy()
    return array.copy()


def check_weights(weights: Mapping[str, np.ndarray], cfg: ModelConfig) -> None:
    """Check reference-layout ``weights`` against :func:`backends.graph.weight_shapes`.

    Every canonical name must be present with its exact shape and no other name may appear;
    otherwise ValueError lists the missing, extra and misshapen names.
    """
    expected = weight_shapes(cfg)
    missing = [n for n in expected if n not in weights]
    extra = sorted(n for n in weights if n not in expected)
    misshapen = [
        f"{n} {tuple(np.shape(weights[n]))} (expected {expected[n]})"
        for n in expected
        if n in weights and tuple(np.shape(weights[n])) != expected[n]
    ]
    if missing or extra or misshapen:
        parts = []
        if missing:
            parts.append(f"missing: {', '.join(missing)}")
        if extra:
            parts.append(f"extra: {', '.join(extra)}")
        if misshapen:
            parts.append(f"misshapen: {', '.join(misshapen)}")
        raise ValueError(
            f"weights do not match the model (N={cfg.N}, gridsize={cfg.gridsize}, "
            f"n_filters_scale={cfg.n_filters_scale}, object_big={cfg.object_big}, "
            f"probe_big={cfg.probe_big}, pad_object={cfg.pad_object}); " + "; ".join(parts)
        )


def convert_weights(
    weights: Mapping[str, np.ndarray], *, to: str, source: str = "reference"
) -> dict[str, np.ndarray]:
    """Convert a whole weight mapping between layouts.

    ``source`` and ``to`` are ``"reference"`` (= ``"tensorflow"``, HWIO) or ``"pytorch"``
    (OIHW). Names are kept; every array is copied.
    """
    for label, value in (("to", to), ("source", source)):
        if value not in LAYOUTS:
            raise ValueError(
                f"{label}={value!r} is not allowed; choose one of: {', '.join(LAYOUTS)}"
            )
    src_torch = source == "pytorch"
    dst_torch = to == "pytorch"
    out: dict[str, np.ndarray] = {}
    for name, array in weights.items():
        if src_torch == dst_torch:
            arr = np.asarray(array)
            _check_rank(name, arr)
            out[name] = arr.copy()
        elif dst_torch:
            out[name] = to_torch(name, array)
        else:
            out[name] = from_torch(name, array)
    return out
