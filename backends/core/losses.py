"""Weights of the loss terms (physics.md 10), one frozen record for both backends."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from backends.core.constants import LEGACY_TV_WEIGHT

LOSS_TERMS = ("total", "nll", "mae", "realspace")
"""Names of the loss terms every training step reports, ``total`` first."""


@dataclass(frozen=True)
class LossWeights:
    """Weights of the loss terms: ``total = realspace·L_rs + mae·L_mae + nll·L_nll``, where
    ``L_rs = tv·TV(z) + realspace_mae·cMAE(target, z)``."""

    nll: float = 1.0
    mae: float = 0.0
    realspace: float = 0.0
    realspace_mae: float = 0.0
    tv: float = LEGACY_TV_WEIGHT

    @classmethod
    def from_config(cls, config: Any, tv_weight: float = LEGACY_TV_WEIGHT) -> LossWeights:
        """The weights of a :class:`backends.config.TrainingConfig` (``nll_weight``,
        ``mae_weight``, ``realspace_weight``, ``realspace_mae_weight``) and the legacy
        ``tv_weight``; a real-space sub-weight without ``realspace_weight`` is refused."""
        if config.realspace_mae_weight > 0 and not config.realspace_weight > 0:
            raise ValueError(
                f"realspace_mae_weight={config.realspace_mae_weight!r} needs realspace_weight > 0"
            )
        return cls(
            nll=float(config.nll_weight),
            mae=float(config.mae_weight),
            realspace=float(config.realspace_weight),
            realspace_mae=float(config.realspace_mae_weight),
            tv=float(tv_weight),
        )
