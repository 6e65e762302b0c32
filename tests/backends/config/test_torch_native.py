"""Torch-native configs (docs/config.md (d)) and the execution config ((e)); no torch import."""

from __future__ import annotations

import dataclasses
import sys
import warnings

import numpy as np
import pytest

from backends.config import torch_native as tn


def _defaults(cls) -> dict:
    return {f.name: getattr(cls(), f.name) for f in dataclasses.fields(cls)}


def test_data_config_defaults():
    assert _defaults(tn.DataConfig) == {
        "nphotons": 1e5, "N": 64, "C": 4, "K": 6, "K_quadrant": 30, "n_subsample": 7,
        "subsample_seed": None, "grid_size": (2, 2), "neighbor_function": "Nearest",
        "min_neighbor_distance": 0.0, "max_neighbor_distance": 3.0, "scan_pattern": "Isotropic",
        "normalize": "Batch", "probe_scale": 1.0, "probe_normalize": True,
        "data_scaling": "Parseval", "phase_subtraction": True, "x_bounds": (0.1, 0.9),
        "y_bounds": (0.1, 0.9),
    }  # fmt: skip


def test_model_config_defaults():
    assert _defaults(tn.ModelConfig) == {
        "mode": "Unsupervised", "intensity_scale_trainable": False, "intensity_scale": 10000.0,
        "max_position_jitter": 10, "C_model": 1, "n_filters_scale": 2, "amp_activation": "silu",
        "batch_norm": False, "probe_mask": None, "edge_pad": 10,
        "decoder_last_c_outer_fraction": 0.125, "decoder_last_amp_channels": 1,
        "eca_encoder": False, "cbam_encoder": False, "cbam_bottleneck": False,
        "cbam_decoder": False, "eca_decoder": False, "spatial_decoder": False,
        "decoder_spatial_kernel": 7, "object_big": False, "probe_big": True, "offset": 6,
        "C_forward": 4, "pad_object": True, "gaussian_smoothing_sigma": 0.0,
        "loss_function": "Poisson", "amp_loss": None, "phase_loss": None, "amp_loss_coeff": 1.0,
        "phase_loss_coeff": 1.0,
    }  # fmt: skip


def test_training_config_defaults():
    assert _defaults(tn.TrainingConfig) == {
        "training_directories": [], "nll": True, "device": "cuda", "strategy": "ddp",
        "n_devices": 1, "learning_rate": 1e-3, "epochs": 50, "batch_size": 16,
        "epochs_fine_tune": 0, "fine_tune_gamma": 0.1, "scheduler": "Default",
        "num_workers": 4, "accum_steps": 1, "gradient_clip_val": None, "stage_1_epochs": 0,
        "stage_2_epochs": 0, "stage_3_epochs": 0, "physics_weight_schedule": "cosine",
        "stage_3_lr_factor": 0.1, "torch_loss_mode": "poisson",
        "experiment_name": "Synthetic_Runs", "notes": "", "model_name": "PtychoPINNv2",
        "train_data_file": None, "test_data_file": None, "output_dir": "training_outputs",
        "n_groups": None,
    }  # fmt: skip


def test_inference_and_datagen_defaults():
    assert _defaults(tn.InferenceConfig) == {
        "middle_trim": 32, "batch_size": 1000, "experiment_number": 0, "pad_eval": True,
        "window": 20,
    }  # fmt: skip
    assert _defaults(tn.DatagenConfig) == {
        "objects_per_probe": 4, "diff_per_object": 7000, "object_class": "dead_leaves",
        "image_size": (250, 250), "probe_paths": [], "beamstop_diameter": 4,
    }  # fmt: skip


def test_mutable_defaults_are_not_shared():
    a, b = tn.TrainingConfig(), tn.TrainingConfig()
    a.training_directories.append("x")
    assert b.training_directories == []


def test_probe_mask_accepts_arrays_and_compares_by_content():
    mask = np.ones((4, 4))
    assert tn.ModelConfig(probe_mask=mask) == tn.ModelConfig(probe_mask=mask.copy())
    assert tn.ModelConfig(probe_mask=mask) != tn.ModelConfig(probe_mask=np.zeros((4, 4)))
    assert tn.ModelConfig(probe_mask=mask) != tn.ModelConfig()
    assert tn.ModelConfig() == tn.ModelConfig()
    assert tn.ModelConfig(offset=4) != tn.ModelConfig()


def test_execution_defaults():
    e = tn.ExecutionConfig()
    assert (e.accelerator, e.strategy, e.deterministic, e.num_workers) == ("auto", "auto", True, 0)
    assert (e.learning_rate, e.accum_steps, e.early_stop_patience) == (1e-3, 1, 100)
    assert (e.checkpoint_save_top_k, e.checkpoint_mode, e.checkpoint_monitor_metric) == (
        1, "min", "val_loss",
    )  # fmt: skip
    assert (e.logger_backend, e.inference_batch_size, e.scheduler) == ("csv", None, "Default")
    assert (e.middle_trim, e.pad_eval, e.enable_progress_bar) == (0, False, False)
    assert (e.pin_memory, e.persistent_workers, e.prefetch_factor) == (False, False, None)
    assert e.enable_checkpointing is True and e.gradient_clip_val is None


def test_auto_is_stored_not_resolved():
    assert tn.ExecutionConfig().accelerator == "auto"
    assert tn.ExecutionConfig() == tn.ExecutionConfig()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"accelerator": "npu"}, "accelerator='npu'"),
        ({"accum_steps": 0}, "accum_steps=0"),
        ({"learning_rate": 0.0}, "learning_rate=0.0"),
        ({"learning_rate": float("nan")}, "learning_rate=nan"),
        ({"early_stop_patience": -1}, "early_stop_patience=-1"),
        ({"num_workers": -1}, "num_workers=-1"),
        ({"checkpoint_save_top_k": -1}, "checkpoint_save_top_k=-1"),
        ({"checkpoint_mode": "avg"}, "checkpoint_mode='avg'"),
        ({"inference_batch_size": 0}, "inference_batch_size=0"),
        ({"scheduler": "Cosine"}, "scheduler='Cosine'"),
        ({"logger_backend": "wandb"}, "logger_backend='wandb'"),
        ({"persistent_workers": True}, "persistent_workers=True .*num_workers > 0"),
    ],
)
def test_execution_validation_messages(kwargs, message):
    with pytest.raises(ValueError, match=message):
        tn.ExecutionConfig(**kwargs)


@pytest.mark.parametrize("accelerator", ["auto", "cpu", "gpu", "cuda", "tpu", "mps"])
def test_execution_accelerators_accepted(accelerator):
    assert tn.ExecutionConfig(accelerator=accelerator).accelerator == accelerator


def test_logger_none_string_becomes_none():
    assert tn.ExecutionConfig(logger_backend="none").logger_backend is None
    assert tn.ExecutionConfig(logger_backend=None).logger_backend is None


def test_inference_batch_size_falls_back_to_training():
    assert tn.ExecutionConfig().effective_inference_batch_size(32) == 32
    assert tn.ExecutionConfig(inference_batch_size=8).effective_inference_batch_size(32) == 8


def test_monitor_metric_alias_and_train_fallback():
    e = tn.ExecutionConfig()
    assert e.monitor_metric("poisson_val_loss", has_validation=True) == "poisson_val_loss"
    assert e.monitor_metric("val_loss", has_validation=False) == "train_loss"
    other = tn.ExecutionConfig(checkpoint_monitor_metric="val_mae")
    assert other.monitor_metric("x", has_validation=False) == "train_mae"


def test_explicit_accelerator_resolves_without_torch():
    before = "torch" in sys.modules
    assert tn.ExecutionConfig(accelerator="cpu").resolved_accelerator() == "cpu"
    assert ("torch" in sys.modules) == before


@pytest.mark.pytorch
def test_auto_resolves_with_policy_warning_on_cpu():
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        assert tn.ExecutionConfig().resolved_accelerator() == "cuda"
    else:
        with pytest.warns(UserWarning, match="POLICY-001"):
            assert tn.ExecutionConfig().resolved_accelerator() == "cpu"


def test_cli_mapping_device_quiet_mlflow():
    with pytest.warns(DeprecationWarning, match="--device"):
        assert tn.execution_config_from_cli(device="cpu").accelerator == "cpu"
    with pytest.warns(DeprecationWarning):
        assert tn.execution_config_from_cli(device="cuda:0").accelerator == "gpu"
    e = tn.execution_config_from_cli(quiet=True, enable_progress_bar=True)
    assert e.enable_progress_bar is False
    e = tn.execution_config_from_cli(disable_mlflow=True, enable_progress_bar=True)
    assert e.enable_progress_bar is False and e.logger_backend is None
    assert tn.execution_config_from_cli(logger="none").logger_backend is None


def test_cli_deterministic_with_workers_warns_for_training_only():
    with pytest.warns(UserWarning, match="num_workers=2"):
        tn.execution_config_from_cli(num_workers=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tn.execution_config_from_cli(num_workers=2, training=False)
        tn.execution_config_from_cli(num_workers=2, deterministic=False)
