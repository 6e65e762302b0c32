"""Payload factories of the PyTorch path (docs/config.md (d) "Factory").

:func:`create_training_payload` and :func:`create_inference_payload` turn a data file, an output
directory and a dict of overrides into the torch-native configs, the canonical config (through
the bridge) and the populated legacy params. Project departures: ``model_type`` accepts both
vocabularies, every field the factory does not set itself takes the canonical default, and every
canonical field travels (natively where the torch configs can express it, else as a bridge
override), so the torch configs always equal the bridge inverse of the canonical config.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from backends.config import bridge
from backends.config import fields as _fields
from backends.config.canonical import InferenceConfig, ModelConfig, TrainingConfig
from backends.config.legacy import LegacyParams, populate_legacy_params
from backends.config.torch_native import DataConfig, ExecutionConfig
from backends.config.torch_native import InferenceConfig as TorchInferenceConfig
from backends.config.torch_native import ModelConfig as TorchModelConfig
from backends.config.torch_native import TrainingConfig as TorchTrainingConfig
from backends.config.validation import MODEL_ARCHIVE_NAME

FALLBACK_N = 64
#: Factory-only override keys (torch spellings) besides the canonical field names.
FACTORY_KEYS = ("grid_size", "max_epochs")
#: Batch size of the torch InferenceConfig built by the inference factory.
FACTORY_INFERENCE_BATCH_SIZE = 16


def _factory_model_defaults() -> dict[str, Any]:
    """What the factory uses for a model field that has no override (spec (d) Factory step 3)."""
    return {
        "gridsize": 1,
        "model_type": "Unsupervised",
        "amp_activation": "silu",
        "object_big": True,
        "probe_big": False,
        "probe_scale": _fields.default_value(DataConfig, "probe_scale"),
    }


def _factory_training_defaults() -> dict[str, Any]:
    return {
        "nphotons": _fields.default_value(DataConfig, "nphotons"),
        "neighbor_count": 4,
        "intensity_scale_trainable": False,
        "nepochs": _fields.default_value(TorchTrainingConfig, "epochs"),
        "backend": bridge.BRIDGE_BACKEND,
    }


@dataclass
class TrainingPayload:
    """Everything a PyTorch training run needs, built by :func:`create_training_payload`."""

    tf_training_config: TrainingConfig
    pt_data_config: DataConfig
    pt_model_config: TorchModelConfig
    pt_training_config: TorchTrainingConfig
    pt_inference_config: TorchInferenceConfig
    execution_config: ExecutionConfig
    bridge_overrides: dict[str, Any]
    overrides_applied: dict[str, Any] = field(default_factory=dict)


@dataclass
class InferencePayload:
    """Everything a PyTorch inference run needs, built by :func:`create_inference_payload`."""

    tf_inference_config: InferenceConfig
    pt_data_config: DataConfig
    pt_model_config: TorchModelConfig
    pt_inference_config: TorchInferenceConfig
    execution_config: ExecutionConfig
    bridge_overrides: dict[str, Any]
    overrides_applied: dict[str, Any] = field(default_factory=dict)


def infer_probe_size(npz_path: Path) -> int | None:
    """The first dimension of ``probeGuess`` in an NPZ file (no pickle), or None."""
    with np.load(npz_path, allow_pickle=False) as data:
        if "probeGuess" not in data.files:
            return None
        return int(data["probeGuess"].shape[0])


def _resolve_n(overrides: Mapping[str, Any], npz_path: Path, audit: dict[str, Any]) -> int:
    if overrides.get("N") is not None:
        return int(overrides["N"])
    n = infer_probe_size(npz_path)
    if n is None:
        warnings.warn(
            f"{npz_path} has no probeGuess to infer N from; using N={FALLBACK_N} "
            "(pass overrides={'N': ...} to choose)",
            UserWarning,
            stacklevel=3,
        )
        n = FALLBACK_N
    audit["N"] = n
    return n


def _check_keys(overrides: Mapping[str, Any], cls: type, function: str) -> None:
    known = [
        *bridge.MODEL_FIELDS,
        *(k for k in _fields.field_specs(cls) if k != "model"),
        *FACTORY_KEYS,
    ]
    for key in overrides:
        if key not in known:
            raise ValueError(
                _fields.unknown_key_message(key, known, where=f"{function}: override ")
                + f"; valid keys: {', '.join(known)}"
            )


def _model_config(overrides: Mapping[str, Any], N: int) -> ModelConfig:
    values = _factory_model_defaults()
    values.update({k: v for k, v in overrides.items() if k in bridge.MODEL_FIELDS})
    values["N"] = N
    if overrides.get("grid_size") is not None:
        values["gridsize"] = bridge.gridsize_from_grid(overrides["grid_size"])
    specs = _fields.field_specs(ModelConfig)
    normalised = {
        k: bridge.normalise_value(specs[k], v, default_output_dir="") for k, v in values.items()
    }
    return ModelConfig(**normalised)


def _canonical_values(
    overrides: Mapping[str, Any], cls: type, defaults: Mapping[str, Any]
) -> dict[str, Any]:
    values = dict(defaults)
    values.update(
        {k: v for k, v in overrides.items() if k in _fields.field_specs(cls) and k != "model"}
    )
    return values


def _bridge(
    intent: TrainingConfig | InferenceConfig,
) -> tuple[bridge.TorchConfigs, dict[str, Any], TrainingConfig | InferenceConfig]:
    configs, bridge_overrides = bridge.from_canonical(intent)
    if isinstance(intent, TrainingConfig):
        # the factory always states the photon count, so the nphotons gate never fires
        bridge_overrides["nphotons"] = intent.nphotons
    result = bridge.to_canonical(configs, bridge_overrides)
    return configs, bridge_overrides, result


def create_training_payload(
    train_data_file: Path | str,
    output_dir: Path | str,
    overrides: Mapping[str, Any] | None = None,
    execution_config: ExecutionConfig | None = None,
    *,
    params: LegacyParams | None = None,
    force: bool = False,
) -> TrainingPayload:
    """Build the PyTorch training payload (spec (d) Factory steps 1-6).

    ``overrides`` takes canonical field names (model and training), plus ``grid_size`` and
    ``max_epochs``; ``model_type`` may be canonical or torch-native. ``params`` (default: the
    process singleton) is populated from the canonical config.
    """
    overrides = dict(overrides or {})
    execution = execution_config or ExecutionConfig()
    path = Path(train_data_file)
    if not path.exists():
        raise FileNotFoundError(f"Training data file not found: {path}")
    if overrides.get("n_groups") is None:
        raise ValueError(
            "n_groups is required in overrides for the training factory; provide "
            "overrides={'n_groups': 512, ...}"
        )
    _check_keys(overrides, TrainingConfig, "create_training_payload")
    audit: dict[str, Any] = dict(overrides)
    model = _model_config(overrides, _resolve_n(overrides, path, audit))
    values = _canonical_values(overrides, TrainingConfig, _factory_training_defaults())
    if overrides.get("max_epochs") is not None:
        values["nepochs"] = overrides["max_epochs"]
    values.update(train_data_file=path, output_dir=Path(output_dir))
    specs = _fields.field_specs(TrainingConfig)
    values = {
        k: bridge.normalise_value(specs[k], v, default_output_dir="training_outputs")
        for k, v in values.items()
    }
    intent = TrainingConfig(model=model, **values)
    configs, bridge_overrides, result = _bridge(intent)
    assert isinstance(result, TrainingConfig)
    _apply_execution(configs.training, execution)
    populate_legacy_params(result, params, force=force)
    audit["execution_config"] = dataclasses.asdict(execution)
    return TrainingPayload(
        tf_training_config=result,
        pt_data_config=configs.data,
        pt_model_config=configs.model,
        pt_training_config=configs.training,
        pt_inference_config=configs.inference,
        execution_config=execution,
        bridge_overrides=bridge_overrides,
        overrides_applied=audit,
    )


def _apply_execution(training: TorchTrainingConfig, execution: ExecutionConfig) -> None:
    """Wire the execution knobs the torch module reads from its TrainingConfig."""
    training.learning_rate = execution.learning_rate
    training.scheduler = execution.scheduler
    training.accum_steps = execution.accum_steps
    training.gradient_clip_val = execution.gradient_clip_val
    training.num_workers = execution.num_workers


def create_inference_payload(
    model_path: Path | str,
    test_data_file: Path | str,
    output_dir: Path | str,
    overrides: Mapping[str, Any] | None = None,
    execution_config: ExecutionConfig | None = None,
    *,
    params: LegacyParams | None = None,
    force: bool = False,
) -> InferencePayload:
    """Build the PyTorch inference payload. Checks, in order: the model directory exists
    (FileNotFoundError), it holds ``wts.h5.zip`` (ValueError "Model archive not found"), the
    test file exists (FileNotFoundError), ``n_groups`` is in overrides (ValueError)."""
    overrides = dict(overrides or {})
    execution = execution_config or ExecutionConfig()
    model_dir = Path(model_path)
    if not model_dir.exists():
        raise FileNotFoundError(f"Model directory not found: {model_dir}")
    archive = model_dir / MODEL_ARCHIVE_NAME
    if not archive.exists():
        raise ValueError(
            f"Model archive not found: {archive}; the model directory must hold "
            f"{MODEL_ARCHIVE_NAME}"
        )
    test_path = Path(test_data_file)
    if not test_path.exists():
        raise FileNotFoundError(f"Test data file not found: {test_path}")
    if overrides.get("n_groups") is None:
        raise ValueError(
            "n_groups is required in overrides for the inference factory; provide "
            "overrides={'n_groups': 128, ...}"
        )
    _check_keys(overrides, InferenceConfig, "create_inference_payload")
    audit: dict[str, Any] = dict(overrides)
    model = _model_config(overrides, _resolve_n(overrides, test_path, audit))
    defaults = {"neighbor_count": 4, "backend": bridge.BRIDGE_BACKEND}
    values = _canonical_values(overrides, InferenceConfig, defaults)
    values.update(model_path=model_dir, test_data_file=test_path, output_dir=Path(output_dir))
    specs = _fields.field_specs(InferenceConfig)
    values = {
        k: bridge.normalise_value(specs[k], v, default_output_dir="inference_outputs")
        for k, v in values.items()
    }
    intent = InferenceConfig(model=model, **values)
    configs, bridge_overrides, result = _bridge(intent)
    assert isinstance(result, InferenceConfig)
    configs.inference.batch_size = execution.inference_batch_size or FACTORY_INFERENCE_BATCH_SIZE
    populate_legacy_params(result, params, force=force)
    audit["execution_config"] = dataclasses.asdict(execution)
    return InferencePayload(
        tf_inference_config=result,
        pt_data_config=configs.data,
        pt_model_config=configs.model,
        pt_inference_config=configs.inference,
        execution_config=execution,
        bridge_overrides=bridge_overrides,
        overrides_applied=audit,
    )
