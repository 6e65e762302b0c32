"""The legacy params snapshot a bundle records, built the same way by both backends, and the
model configuration read back from it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from backends.core.inputs import square_probe

if TYPE_CHECKING:
    from backends.config.canonical import ModelConfig


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


def model_config_from_params(params: Mapping[str, Any]) -> ModelConfig:
    """The canonical ``ModelConfig`` a params snapshot describes (legacy names, e.g.
    ``object.big``); a field absent from the snapshot keeps its canonical default. ``N`` and
    ``gridsize`` are required."""
    from backends.config.canonical import ModelConfig, model_fields
    from backends.config.legacy import legacy_name

    values: dict[str, Any] = {}
    for name in model_fields():
        key = legacy_name(name)
        if key in params and params[key] is not None:
            values[name] = params[key]
    for required in ("N", "gridsize"):
        if required not in values:
            raise ValueError(
                f"params snapshot lacks {required!r}; the architecture cannot be reconstructed"
            )
    return ModelConfig(**values)
