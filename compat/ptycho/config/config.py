"""Upstream's configuration dataclasses, mutable and picklable (docs/ptychodus.md).

ptychodus builds these objects in its own process, pickles them into a child process and then
assigns fields (``training_config.model.N = N``), so unlike the project's canonical
:class:`backends.config.ModelConfig` they are plain, unfrozen dataclasses that validate
nothing when built. :func:`to_canonical` turns one into the project's canonical config, which
validates. Importing this module never imports TensorFlow or PyTorch.
"""

from __future__ import annotations

import dataclasses
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "InferenceConfig",
    "ModelConfig",
    "TrainingConfig",
    "to_canonical",
    "update_legacy_dict",
]


@dataclass
class ModelConfig:
    """Network architecture; the fields and defaults of the canonical ModelConfig."""

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


@dataclass
class TrainingConfig:
    """Training settings; the fields and defaults of the canonical TrainingConfig."""

    model: ModelConfig = field(default_factory=ModelConfig)
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


@dataclass
class InferenceConfig:
    """Inference settings; the fields and defaults of the canonical InferenceConfig."""

    model: ModelConfig = field(default_factory=ModelConfig)
    model_path: Path = field(default_factory=Path)
    test_data_file: Path = field(default_factory=Path)
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


def _values(config: Any) -> dict[str, Any]:
    return {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}


def to_canonical(config: Any) -> Any:
    """The project's canonical config (validated on construction) for a facade config; a
    canonical config is returned as it is."""
    from backends.config import canonical

    if isinstance(config, ModelConfig):
        return canonical.ModelConfig(**_values(config))
    if isinstance(config, (TrainingConfig, InferenceConfig)):
        values = _values(config)
        values["model"] = to_canonical(config.model)
        if isinstance(config, TrainingConfig):
            return canonical.TrainingConfig(**values)
        return canonical.InferenceConfig(**values)
    if isinstance(
        config, (canonical.ModelConfig, canonical.TrainingConfig, canonical.InferenceConfig)
    ):
        return config
    raise TypeError(
        f"expected a ptycho.config.config ModelConfig, TrainingConfig or InferenceConfig; got "
        f"{type(config).__name__}"
    )


def update_legacy_dict(cfg: MutableMapping[str, Any], config: Any) -> None:
    """Write ``config`` into the legacy dict ``cfg`` (usually :data:`ptycho.params.cfg`) with
    upstream's semantics (docs/config.md (c)): None values are skipped, Paths become strings,
    nothing is deleted."""
    from backends.config.legacy import update_legacy_dict as write

    write(cfg, to_canonical(config))
