"""Dual-backend PtychoPINN: a TensorFlow reference backend and a PyTorch backend.

Frameworks are imported only when a backend is requested (:func:`get`); importing this
package, :mod:`backends.config`, :mod:`backends.data` or :mod:`backends.physics` never imports
TensorFlow or PyTorch.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import TYPE_CHECKING

from backends.core import vocabulary
from backends.core.threads import apply_wait_policy

if TYPE_CHECKING:
    from backends.base import Backend

OPENMP_WAIT_POLICY = apply_wait_policy()
"""The OpenMP wait policy of PyTorch's thread pool in this process
(:mod:`backends.core.threads`)."""

BACKEND_NAMES = vocabulary.BACKEND_NAMES
_FRAMEWORK_MODULE = vocabulary.FRAMEWORK_MODULES
_INSTALL_HINT = {
    "tensorflow": "pip install 'ptychopinn-parity[tensorflow]'",
    "pytorch": "pip install 'ptychopinn-parity[pytorch]' (CPU-only: add -c constraints.txt)",
}
_cache: dict[str, Backend] = {}


def available() -> list[str]:
    """Names of the backends whose framework is installed (without importing it)."""
    return [n for n in BACKEND_NAMES if importlib.util.find_spec(_FRAMEWORK_MODULE[n]) is not None]


def get(name: str) -> Backend:
    """The backend called ``name``, importing its framework on first use."""
    if name not in BACKEND_NAMES:
        raise ValueError(f"unknown backend {name!r}; choose one of: {', '.join(BACKEND_NAMES)}")
    if name not in _cache:
        if importlib.util.find_spec(_FRAMEWORK_MODULE[name]) is None:
            label = "PyTorch" if name == "pytorch" else "TensorFlow"
            raise RuntimeError(
                f"{label} backend selected but {_FRAMEWORK_MODULE[name]} is not installed; "
                f"install it with: {_INSTALL_HINT[name]}"
            )
        if name == "pytorch":
            # torch goes first when both frameworks share a process (as Keras' own tests do)
            importlib.import_module("torch")
        module = importlib.import_module(f"backends.{name}.adapter")
        _cache[name] = module.create_backend()
    return _cache[name]
