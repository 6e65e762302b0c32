"""Upstream's probe registry: ``set_probe_guess`` and ``get_probe``.

The probe is recorded in ``ptycho.params.cfg['probe']`` as ``(N, N, 1)`` complex64, upstream's
layout. A model loaded from a bundle keeps the probe it was trained with (docs/ptychodus.md).
Framework-free.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ptycho.raw_data import first_probe_mode

__all__ = ["get_probe", "set_probe_guess"]


def set_probe_guess(X_train: Any = None, probe_guess: Any = None) -> np.ndarray:
    """Record ``probe_guess`` ((N, N) or (modes, N, N); the first mode is used) as the
    current probe and return it as (N, N, 1) complex64. ``X_train`` is accepted for upstream's
    signature; a default probe from the data is not estimated."""
    from ptycho import params

    if probe_guess is None:
        raise ValueError(
            "set_probe_guess: give probe_guess (estimating a probe from X_train is not "
            "supported); pass the scan's probeGuess"
        )
    probe = first_probe_mode(probe_guess).astype(np.complex64)[..., None]
    params.cfg["probe"] = probe
    return probe


def get_probe(params_obj: Any = None) -> np.ndarray:
    """The current probe (N, N, 1) complex64 from ``ptycho.params.cfg``."""
    from ptycho import params

    return np.asarray((params_obj or params.cfg)["probe"])
