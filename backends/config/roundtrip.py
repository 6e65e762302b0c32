"""The canonical config as the torch-native path produces it: canonical -> torch-native configs
-> :mod:`~backends.config.bridge` -> canonical.

The PyTorch backend builds, trains and saves from what this round trip yields, so a defect in the
bridge shows up in what that backend does.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Mapping
from typing import Any

from backends.config import bridge
from backends.config.canonical import ModelConfig, TrainingConfig

_PLACEHOLDER_TRAIN_FILE = "__no_train_data_file__"


def bridge_to_canonical(torch_cfgs: Any, overrides: Mapping[str, Any]) -> TrainingConfig:
    """The training bridge (:func:`backends.config.bridge.to_canonical`) on torch-native configs.

    The training bridge requires ``train_data_file``; configs without one (a model built for
    checks, not for a training run) go through it with a placeholder file, and the result gets
    ``train_data_file=None`` back, which is what the canonical config holds. The bridge's
    warning about a missing test file is not repeated here.
    """
    run = dict(overrides)
    placeholder = torch_cfgs.training.train_data_file is None and "train_data_file" not in run
    if placeholder:
        run["train_data_file"] = _PLACEHOLDER_TRAIN_FILE
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="test_data_file is not set")
        bridged = bridge.to_canonical(torch_cfgs, run)
    if not isinstance(bridged, TrainingConfig):
        raise ValueError(f"expected training configs, got kind {torch_cfgs.kind!r}")
    if placeholder:
        bridged = dataclasses.replace(bridged, train_data_file=None)
    return bridged


def bridge_training_config(config: TrainingConfig) -> tuple[Any, dict[str, Any], TrainingConfig]:
    """Canonical training config -> torch-native configs (+ overrides) -> bridge -> canonical.

    Returns ``(torch configs, overrides, bridged canonical config)``.
    """
    torch_cfgs, overrides = bridge.from_canonical(config)
    return torch_cfgs, dict(overrides), bridge_to_canonical(torch_cfgs, overrides)


def resolve_model_config(config: ModelConfig) -> tuple[ModelConfig, Any, dict[str, Any]]:
    """The canonical ModelConfig the torch-native path yields for ``config``: canonical ->
    torch-native configs -> :func:`backends.config.bridge.to_model_config` (with the model
    overrides).

    Returns ``(bridged model config, torch configs, model overrides)``.
    """
    torch_cfgs, overrides = bridge.from_canonical(TrainingConfig(model=config))
    model_overrides, _ = bridge.split_overrides(overrides)
    bridged = bridge.to_model_config(torch_cfgs.data, torch_cfgs.model, model_overrides)
    return bridged, torch_cfgs, model_overrides
