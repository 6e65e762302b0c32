"""Upstream's PyTorch configuration dataclasses: the project's torch-native configs
(docs/config.md (d)) with the further fields ptychodus 1.7.0 sets.

Mutable, picklable, unvalidated on construction; :mod:`ptycho_torch.api.base_api` translates
them with the project's bridge. Fields that select something the project does not implement
(attention blocks, staged fine-tuning, ...) are kept so that a client can set them, and are
named in a warning when they ask for the feature (:func:`unsupported_settings`).
Importing this module never imports torch.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from backends.config import torch_native as _tn

__all__ = [
    "DataConfig",
    "DatagenConfig",
    "InferenceConfig",
    "ModelConfig",
    "TrainingConfig",
    "from_project",
    "unsupported_settings",
]


@dataclass
class DataConfig(_tn.DataConfig):
    """Data settings; ``probe_ramp_removal`` is accepted and not implemented."""

    probe_ramp_removal: bool = False


@dataclass(eq=False)
class ModelConfig(_tn.ModelConfig):
    """Model settings (equality compares ``probe_mask`` by contents)."""

    use_shared_decoder: bool = False
    num_datasets: int = 1
    probe_reference_coeff: float = 0.0
    amplitude_variance_loss: bool = False
    amplitude_variance_coeff: float = 0.0


@dataclass
class TrainingConfig(_tn.TrainingConfig):
    """Training settings, with upstream's staged fine-tuning fields."""

    framework: str = "Lightning"
    orchestrator: str = "Lightning"
    warmup_epochs: int = 0
    min_lr_ratio: float = 0.1
    enable_staged_finetuning: bool = False
    finetune_stage1_epochs: int = 0
    finetune_stage2_epochs: int = 0
    finetune_stage3_epochs: int = 0
    finetune_stage1_lr_decoder: float = 1e-4
    finetune_stage2_lr_encoder_top: float = 1e-5
    finetune_stage2_lr_decoder: float = 1e-4
    finetune_stage2_lr_phase_head: float = 1e-4
    finetune_stage3_lr_encoder_bottom: float = 1e-6
    finetune_stage3_lr_encoder_top: float = 1e-5
    finetune_stage3_lr_decoder: float = 1e-4
    finetune_stage3_lr_phase_head: float = 1e-4
    finetune_skip_stage3: bool = False
    finetune_early_stop_patience: int = 5
    finetune_val_split: float = 0.1


@dataclass
class InferenceConfig(_tn.InferenceConfig):
    """Inference settings; ``patch_weighting`` is accepted and not implemented."""

    patch_weighting: str = "uniform"


@dataclass
class DatagenConfig(_tn.DatagenConfig):
    """Data generation settings (not used by training or inference)."""


#: Settings that ask for something the project's PyTorch path does not implement, each with
#: the test that says it is asked for. Everything else is either translated by the bridge or
#: a runtime setting (docs/ptychodus.md, "What differs on purpose").
_ASKS_FOR: dict[str, Any] = {
    "probe_ramp_removal": bool,
    "cbam_encoder": bool,
    "cbam_bottleneck": bool,
    "cbam_decoder": bool,
    "eca_encoder": bool,
    "eca_decoder": bool,
    "spatial_decoder": bool,
    "use_shared_decoder": bool,
    "batch_norm": bool,
    "amplitude_variance_loss": bool,
    "amp_loss": lambda v: v is not None,
    "phase_loss": lambda v: v is not None,
    "num_datasets": lambda v: v > 1,
    "probe_reference_coeff": lambda v: v > 0,
    "epochs_fine_tune": lambda v: v > 0,
    "enable_staged_finetuning": bool,
    "warmup_epochs": lambda v: v > 0,
}


def unsupported_settings(*configs: Any) -> list[str]:
    """``'Class.field=value'`` for every setting in ``configs`` that asks for a feature the
    project's PyTorch path does not have (an attention block, staged fine-tuning, ...)."""
    found = []
    for config in configs:
        for f in dataclasses.fields(config):
            asks = _ASKS_FOR.get(f.name)
            value = getattr(config, f.name)
            if asks is not None and asks(value):
                found.append(f"{type(config).__name__}.{f.name}={value!r}")
    return found


def from_project(cls: type, config: Any) -> Any:
    """A facade config of class ``cls`` holding the values of a project torch-native config
    (fields the project config lacks keep their defaults)."""
    names = {f.name for f in dataclasses.fields(cls)}
    values = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
    return cls(**{k: v for k, v in values.items() if k in names})
