"""Upstream PtychoPINN's YAML training configs, read as they are.

Upstream writes model fields either at the top level (``N: 64``, ``gridsize: 2`` beside
``nepochs``) or under ``model:``, and PyYAML reads numbers such as ``1.0e9`` as strings. The
file's values are applied on top of the defaults like command-line overrides: typed by field,
model fields found at either level, unknown keys refused with the closest known one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from parity.errors import InputError

__all__ = ["upstream_yaml_config"]


def upstream_yaml_config(path: Path) -> Any:
    """The TrainingConfig an upstream YAML file describes (not yet validated)."""
    from backends.config import ModelConfig, TrainingConfig
    from backends.config.io import apply_overrides, read_config_dict

    data = read_config_dict(path)
    model = data.pop("model", None) or {}
    if not isinstance(model, dict):
        raise InputError(f"{path}: 'model' must be a mapping of model fields")
    overrides: dict[str, Any] = dict(data)
    for key, value in model.items():
        overrides[f"model.{key}"] = value
    try:
        return apply_overrides(TrainingConfig(model=ModelConfig()), overrides, from_text=True)
    except ValueError as exc:
        raise InputError(f"{path}: {exc}") from None
