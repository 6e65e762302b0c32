"""Torch-native configuration (docs/config.md (d)) and the execution configuration ((e)).

Pure Python: importing this module never imports torch. The torch-native dataclasses carry the
field names and defaults of the upstream PyTorch port and are deliberately not validated (the
bridge validates what it translates); ``ModelConfig.probe_mask`` accepts any array-like (a NumPy
array or a tensor) or None. :class:`ExecutionConfig` holds runtime settings only, is validated
at construction and is never bridged, written to the legacy dict or stored in bundles.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

NEIGHBOR_FUNCTIONS = ("Nearest", "Min_dist", "4_quadrant")
SCAN_PATTERNS = ("Isotropic", "Rectangular")
NORMALIZE_MODES = ("Batch", "Group")
DATA_SCALINGS = ("Parseval", "Max")
MODES = ("Unsupervised", "Supervised")
LOSS_FUNCTIONS = ("Poisson", "MAE")
AUX_LOSSES = ("Total_Variation", "Mean_Deviation")
SCHEDULERS = ("Default", "Exponential", "MultiStage", "Adaptive")


@dataclass
class DataConfig:
    """Torch-native data settings. ``n_subsample`` is a coordinate subsampling *factor* here,
    not the canonical image count, and is never bridged."""

    nphotons: float = 1e5
    N: int = 64
    C: int = 4
    K: int = 6
    K_quadrant: int = 30
    n_subsample: int = 7
    subsample_seed: int | None = None
    grid_size: tuple[int, int] = (2, 2)
    neighbor_function: str = "Nearest"
    min_neighbor_distance: float = 0.0
    max_neighbor_distance: float = 3.0
    scan_pattern: str = "Isotropic"
    normalize: str = "Batch"
    probe_scale: float = 1.0
    probe_normalize: bool = True
    data_scaling: str = "Parseval"
    phase_subtraction: bool = True
    x_bounds: tuple[float, float] = (0.1, 0.9)
    y_bounds: tuple[float, float] = (0.1, 0.9)


@dataclass(eq=False)
class ModelConfig:
    """Torch-native model settings. Equality compares ``probe_mask`` by array contents."""

    mode: str = "Unsupervised"
    intensity_scale_trainable: bool = False
    intensity_scale: float = 10000.0
    max_position_jitter: int = 10
    C_model: int = 1
    n_filters_scale: int = 2
    amp_activation: str = "silu"
    batch_norm: bool = False
    probe_mask: Any = None
    edge_pad: int = 10
    decoder_last_c_outer_fraction: float = 0.125
    decoder_last_amp_channels: int = 1
    eca_encoder: bool = False
    cbam_encoder: bool = False
    cbam_bottleneck: bool = False
    cbam_decoder: bool = False
    eca_decoder: bool = False
    spatial_decoder: bool = False
    decoder_spatial_kernel: int = 7
    object_big: bool = False
    probe_big: bool = True
    offset: int = 6
    C_forward: int = 4
    pad_object: bool = True
    gaussian_smoothing_sigma: float = 0.0
    loss_function: str = "Poisson"
    amp_loss: str | None = None
    phase_loss: str | None = None
    amp_loss_coeff: float = 1.0
    phase_loss_coeff: float = 1.0

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ModelConfig):
            return NotImplemented
        for f in dataclasses.fields(self):
            a, b = getattr(self, f.name), getattr(other, f.name)
            if f.name == "probe_mask":
                if (a is None) != (b is None):
                    return False
                if a is not None and not np.array_equal(np.asarray(a), np.asarray(b)):
                    return False
            elif a != b:
                return False
        return True

    __hash__ = None  # type: ignore[assignment]


@dataclass
class TrainingConfig:
    """Torch-native training settings (paths are strings)."""

    training_directories: list[str] = field(default_factory=list)
    nll: bool = True
    device: str = "cuda"
    strategy: str = "ddp"
    n_devices: int = 1
    learning_rate: float = 1e-3
    epochs: int = 50
    batch_size: int = 16
    epochs_fine_tune: int = 0
    fine_tune_gamma: float = 0.1
    scheduler: str = "Default"
    num_workers: int = 4
    accum_steps: int = 1
    gradient_clip_val: float | None = None
    stage_1_epochs: int = 0
    stage_2_epochs: int = 0
    stage_3_epochs: int = 0
    physics_weight_schedule: str = "cosine"
    stage_3_lr_factor: float = 0.1
    torch_loss_mode: str = "poisson"
    experiment_name: str = "Synthetic_Runs"
    notes: str = ""
    model_name: str = "PtychoPINNv2"
    train_data_file: str | None = None
    test_data_file: str | None = None
    output_dir: str = "training_outputs"
    n_groups: int | None = None


@dataclass
class InferenceConfig:
    """Torch-native inference settings."""

    middle_trim: int = 32
    batch_size: int = 1000
    experiment_number: int = 0
    pad_eval: bool = True
    window: int = 20


@dataclass
class DatagenConfig:
    """Torch-native data generation settings (not bridged)."""

    objects_per_probe: int = 4
    diff_per_object: int = 7000
    object_class: str = "dead_leaves"
    image_size: tuple[int, int] = (250, 250)
    probe_paths: list[str] = field(default_factory=list)
    beamstop_diameter: int = 4


# -- execution configuration -----------------------------------------------------------------

ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "tpu", "mps")
CHECKPOINT_MODES = ("min", "max")
LOGGER_BACKENDS = ("csv", "tensorboard", "mlflow", None)
POLICY_001 = (
    "POLICY-001: accelerator 'auto' found no CUDA device; running on the CPU, which is slow "
    "for training"
)


def _positive(name: str, value: Any, *, integer: bool) -> None:
    kinds = (int,) if integer else (int, float)
    if (
        isinstance(value, bool)
        or not isinstance(value, kinds)
        or not value > 0
        or not math.isfinite(value)
    ):
        what = "an integer" if integer else "a number"
        raise ValueError(f"{name}={value!r} is not allowed; it must be {what} > 0")


def _non_negative_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name}={value!r} is not allowed; it must be an integer >= 0")


def _one_of(name: str, value: Any, allowed: tuple[Any, ...]) -> None:
    if value not in allowed:
        shown = ", ".join("None" if a is None else str(a) for a in allowed)
        raise ValueError(f"{name}={value!r} is not allowed; choose one of: {shown}")


@dataclass
class ExecutionConfig:
    """Runtime settings of the PyTorch backend (docs/config.md (e)); never bridged.

    ``accelerator='auto'`` is stored as given and resolved only when a trainer is built
    (:meth:`resolved_accelerator`), so configs compare equal across machines.
    ``logger_backend`` 'none' is normalised to None. ``persistent_workers`` needs
    ``num_workers > 0``. ``middle_trim`` and ``pad_eval`` are recorded but not used.
    """

    accelerator: str = "auto"
    strategy: str = "auto"
    deterministic: bool = True
    num_workers: int = 0
    pin_memory: bool = False
    persistent_workers: bool = False
    prefetch_factor: int | None = None
    learning_rate: float = 1e-3
    scheduler: str = "Default"
    gradient_clip_val: float | None = None
    accum_steps: int = 1
    enable_progress_bar: bool = False
    enable_checkpointing: bool = True
    checkpoint_save_top_k: int = 1
    checkpoint_monitor_metric: str = "val_loss"
    checkpoint_mode: str = "min"
    early_stop_patience: int = 100
    logger_backend: str | None = "csv"
    inference_batch_size: int | None = None
    middle_trim: int = 0
    pad_eval: bool = False
    devices: int = 1
    """Data-parallel workers (upstream keeps this as ``n_devices`` of its training config)."""

    def __post_init__(self) -> None:
        if isinstance(self.logger_backend, str) and self.logger_backend.lower() == "none":
            self.logger_backend = None
        _one_of("accelerator", self.accelerator, ACCELERATORS)
        _positive("accum_steps", self.accum_steps, integer=True)
        _positive("devices", self.devices, integer=True)
        _positive("learning_rate", self.learning_rate, integer=False)
        _positive("early_stop_patience", self.early_stop_patience, integer=True)
        _non_negative_int("num_workers", self.num_workers)
        _non_negative_int("checkpoint_save_top_k", self.checkpoint_save_top_k)
        _one_of("checkpoint_mode", self.checkpoint_mode, CHECKPOINT_MODES)
        if self.inference_batch_size is not None:
            _positive("inference_batch_size", self.inference_batch_size, integer=True)
        _one_of("scheduler", self.scheduler, SCHEDULERS)
        _one_of("logger_backend", self.logger_backend, LOGGER_BACKENDS)
        if self.persistent_workers and self.num_workers <= 0:
            raise ValueError(
                f"persistent_workers=True is not allowed with num_workers={self.num_workers}; "
                "it needs num_workers > 0 (or set persistent_workers=False)"
            )

    def resolved_accelerator(self) -> str:
        """The accelerator to build a trainer with: 'auto' becomes 'cuda' when a CUDA device
        is available, else 'cpu' with the POLICY-001 UserWarning. Imports torch only for
        'auto'."""
        if self.accelerator != "auto":
            return self.accelerator
        import torch

        if torch.cuda.is_available():
            return "cuda"
        warnings.warn(POLICY_001, UserWarning, stacklevel=2)
        return "cpu"

    def effective_inference_batch_size(self, training_batch_size: int) -> int:
        """``inference_batch_size``, or the training batch size when it is None."""
        return (
            training_batch_size if self.inference_batch_size is None else self.inference_batch_size
        )

    def monitor_metric(self, validation_loss_name: str, *, has_validation: bool) -> str:
        """The checkpoint metric: 'val_loss' aliases ``validation_loss_name``; without
        validation data a ``val_`` prefix becomes ``train_``."""
        metric = self.checkpoint_monitor_metric
        if metric == "val_loss":
            metric = validation_loss_name
        if not has_validation and metric.startswith("val_"):
            metric = "train_" + metric[len("val_") :]
        return metric


PyTorchExecutionConfig = ExecutionConfig


def execution_config_from_cli(
    *,
    device: str | None = None,
    quiet: bool = False,
    disable_mlflow: bool = False,
    logger: str | None = None,
    training: bool = True,
    **fields: Any,
) -> ExecutionConfig:
    """An :class:`ExecutionConfig` from command-line values (spec (e), CLI rules).

    The deprecated ``device`` maps to ``accelerator`` (cpu -> cpu, anything else -> gpu, with
    a DeprecationWarning); ``quiet`` or ``disable_mlflow`` turn the progress bar off;
    ``disable_mlflow`` also turns logging off; a ``logger`` of 'none' means no logger. For
    training, ``deterministic`` with ``num_workers > 0`` warns.
    """
    values = dict(fields)
    if device is not None:
        warnings.warn("--device is deprecated; use --accelerator", DeprecationWarning, stacklevel=2)
        values.setdefault("accelerator", "cpu" if device == "cpu" else "gpu")
    if logger is not None:
        values["logger_backend"] = logger
    if quiet or disable_mlflow:
        values["enable_progress_bar"] = False
    if disable_mlflow:
        values["logger_backend"] = None
    config = ExecutionConfig(**values)
    if training and config.deterministic and config.num_workers > 0:
        warnings.warn(
            f"deterministic=True with num_workers={config.num_workers}: data loading order "
            "may still vary between runs; use num_workers=0 for bit-identical runs",
            UserWarning,
            stacklevel=2,
        )
    return config
