"""The legacy params snapshot a bundle records, built the same way by both backends."""

from __future__ import annotations

from typing import Any

import numpy as np

from backends.core.inputs import square_probe


def params_snapshot(
    config: Any,
    *,
    backend: str,
    intensity_scale: float,
    probe: np.ndarray,
    offset: int,
    max_position_jitter: int,
) -> Any:
    """The legacy params populated from ``config`` (a canonical ``TrainingConfig``, through
    ``update_legacy_dict``) plus the runtime keys: ``intensity_scale``, the model's normalised
    ``probe`` as (N, N, 1) complex64, the canvas geometry (``offset``,
    ``max_position_jitter``) and the ``backend`` that wrote it."""
    from backends.config.legacy import LegacyParams, update_legacy_dict

    params = LegacyParams()
    update_legacy_dict(params, config)
    params["intensity_scale"] = float(intensity_scale)
    params["probe"] = square_probe(probe)[..., None].astype(np.complex64)
    params["offset"] = int(offset)
    params["max_position_jitter"] = int(max_position_jitter)
    params["backend"] = backend
    return params
