"""Canonical configuration dataclasses: the single source of truth for both backends.

Field names, defaults and validation follow docs/config.md (a) and the project defaults of
docs/model.md section 1. ``combine_mode`` is a project field (physics.md section 1 DECISION).
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backends.config.validation import (
    check_choice,
    check_non_negative,
    check_positive,
    check_positive_int,
    check_power_of_two,
    check_unit_interval,
    resolve_model_path,
)
from backends.core.vocabulary import BACKEND_NAMES

MODEL_TYPES = ("pinn", "supervised")
AMP_ACTIVATIONS = ("sigmoid", "swish", "softplus", "relu")
COMBINE_MODES = ("polar", "legacy_rect")
BACKENDS = BACKEND_NAMES
TORCH_LOSS_MODES = ("poisson", "mae")
SUPPORTED_N = (64, 128, 256)
TRAINING_FLOAT_FIELDS = (
    "mae_weight",
    "nll_weight",
    "realspace_mae_weight",
    "realspace_weight",
    "nphotons",
)


def _choice(field_name: str, value: Any, allowed: tuple[str, ...]) -> None:
    check_choice(field_name, value, allowed)


def _as_float(value: Any) -> Any:
    """An int given for a float field becomes a float (so the legacy snapshot types agree)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def _as_path(value: Any) -> Path | None:
    if value is None or isinstance(value, Path):
        return value
    return Path(value)


@dataclass(frozen=True)
class ModelConfig:
    """Network architecture (frozen: assigning a field raises FrozenInstanceError)."""

    N: int = 64
    gridsize: int = 1
    n_filters_scale: int = 2
    model_type: str = "pinn"
    amp_activation: str = "sigmoid"
    object_big: bool = True
    probe_big: bool = True
    probe_mask: bool = False
    pad_object: bool = True
    probe_scale: float = 4.0
    gaussian_smoothing_sigma: float = 0.0
    combine_mode: str = "polar"

    def __post_init__(self) -> None:
        if isinstance(self.N, bool) or not isinstance(self.N, int) or self.N <= 0:
            raise ValueError(f"N={self.N!r} is not allowed; it must be a positive integer")
        if self.N not in SUPPORTED_N:
            warnings.warn(
                f"N={self.N} is outside the sizes the model supports {SUPPORTED_N}; "
                "building a model will fail",
                UserWarning,
                stacklevel=3,
            )
        for name in ("probe_scale", "gaussian_smoothing_sigma"):
            object.__setattr__(self, name, _as_float(getattr(self, name)))
        _choice("model_type", self.model_type, MODEL_TYPES)
        _choice("amp_activation", self.amp_activation, AMP_ACTIVATIONS)
        _choice("combine_mode", self.combine_mode, COMBINE_MODES)

    @property
    def channels(self) -> int:
        """Patches per group, ``gridsize**2``."""
        return self.gridsize * self.gridsize


@dataclass
class TrainingConfig:
    """Training run settings; ``model`` is required."""

    model: ModelConfig
    train_data_file: Path | None = None
    test_data_file: Path | None = None
    batch_size: int = 16
    nepochs: int = 50
    mae_weight: float = 0.0
    nll_weight: float = 1.0
    realspace_mae_weight: float = 0.0
    realspace_weight: float = 0.0
    nphotons: float = 1e9
    n_groups: int | None = None
    n_images: int | None = None
    n_subsample: int | None = None
    subsample_seed: int | None = None
    neighbor_count: int = 4
    enable_oversampling: bool = False
    neighbor_pool_size: int | None = None
    positions_provided: bool = True
    probe_trainable: bool = False
    intensity_scale_trainable: bool = True
    sequential_sampling: bool = False
    output_dir: Path = field(default_factory=lambda: Path("training_outputs"))
    backend: str = "tensorflow"
    torch_loss_mode: str = "poisson"

    def __post_init__(self) -> None:
        self.train_data_file = _as_path(self.train_data_file)
        self.test_data_file = _as_path(self.test_data_file)
        self.output_dir = _as_path(self.output_dir) or Path("training_outputs")
        for name in TRAINING_FLOAT_FIELDS:
            setattr(self, name, _as_float(getattr(self, name)))
        _choice("backend", self.backend, BACKENDS)
        _choice("torch_loss_mode", self.torch_loss_mode, TORCH_LOSS_MODES)
        if self.n_images is not None and self.n_groups is None:
            warnings.warn(
                "n_images is deprecated; use n_groups (copying n_images into n_groups)",
                DeprecationWarning,
                stacklevel=3,
            )
            self.n_groups = self.n_images
        if self.n_groups is None:
            self.n_groups = 512


@dataclass
class InferenceConfig:
    """Inference run settings; ``model``, ``model_path`` and ``test_data_file`` are required."""

    model: ModelConfig
    model_path: Path
    test_data_file: Path
    n_groups: int | None = None
    n_images: int | None = None
    n_subsample: int | None = None
    subsample_seed: int | None = None
    neighbor_count: int = 4
    enable_oversampling: bool = False
    neighbor_pool_size: int | None = None
    debug: bool = False
    output_dir: Path = field(default_factory=lambda: Path("inference_outputs"))
    backend: str = "tensorflow"

    def __post_init__(self) -> None:
        self.model_path = _as_path(self.model_path)  # type: ignore[assignment]
        self.test_data_file = _as_path(self.test_data_file)  # type: ignore[assignment]
        self.output_dir = _as_path(self.output_dir) or Path("inference_outputs")
        _choice("backend", self.backend, BACKENDS)
        if self.n_images is not None and self.n_groups is None:
            warnings.warn(
                "n_images is deprecated; use n_groups (copying n_images into n_groups)",
                DeprecationWarning,
                stacklevel=3,
            )
            self.n_groups = self.n_images


def validate_model_config(config: ModelConfig) -> None:
    """Model validator of docs/config.md (a): gridsize, n_filters_scale and probe_scale > 0,
    then gaussian_smoothing_sigma >= 0 (in this order; N is not checked). First failure raises
    ValueError."""
    check_positive_int("gridsize", config.gridsize)
    check_positive_int("n_filters_scale", config.n_filters_scale)
    check_positive("probe_scale", config.probe_scale)
    check_non_negative("gaussian_smoothing_sigma", config.gaussian_smoothing_sigma)


def _validate_grouping(config: TrainingConfig | InferenceConfig) -> None:
    check_positive_int("n_groups", config.n_groups, optional=True)
    check_positive_int("n_images", config.n_images, optional=True)
    check_positive_int("n_subsample", config.n_subsample, optional=True)
    check_positive_int("neighbor_count", config.neighbor_count)
    check_positive_int("neighbor_pool_size", config.neighbor_pool_size, optional=True)


def validate_training_config(config: TrainingConfig) -> None:
    """Training validator: the model checks, then batch_size a power of 2, nepochs > 0,
    mae_weight and nll_weight in [0, 1], nphotons > 0 (spec order), then the project checks
    (real-space weights, grouping counts)."""
    validate_model_config(config.model)
    check_power_of_two("batch_size", config.batch_size)
    check_positive_int("nepochs", config.nepochs)
    check_unit_interval("mae_weight", config.mae_weight)
    check_unit_interval("nll_weight", config.nll_weight)
    check_positive("nphotons", config.nphotons)
    check_non_negative("realspace_mae_weight", config.realspace_mae_weight)
    check_non_negative("realspace_weight", config.realspace_weight)
    if config.realspace_mae_weight > 0 and not config.realspace_weight > 0:
        raise ValueError(
            f"realspace_mae_weight={config.realspace_mae_weight!r} needs realspace_weight > 0 "
            f"(got realspace_weight={config.realspace_weight!r})"
        )
    _validate_grouping(config)


def validate_inference_config(config: InferenceConfig) -> Path:
    """Inference validator: the model checks, then ``model_path`` resolution
    (:func:`backends.config.validation.resolve_model_path`), then the grouping counts.

    Returns the resolved model path (the bundle directory, or the archive file found).
    """
    validate_model_config(config.model)
    resolved = resolve_model_path(config.model_path)
    _validate_grouping(config)
    return resolved


def model_fields() -> list[str]:
    """Names of the ModelConfig fields, in declaration order."""
    return [f.name for f in dataclasses.fields(ModelConfig)]
