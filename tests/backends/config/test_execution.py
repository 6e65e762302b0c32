"""Execution settings the PyTorch trainer honours or refuses (docs/config.md (e), (g) defect 12);
no framework needed."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backends.config import ExecutionConfig
from backends.config.execution import (
    REJECTED,
    WIRED,
    TrainerSettings,
    execution_values,
    trainer_settings,
)


def test_nothing_named_keeps_the_reference_behaviour() -> None:
    """model.md 9: Keras Adam at 1e-3, early stopping after 3 epochs, CSV log; not
    ExecutionConfig's own defaults (patience 100, checkpointing on)."""
    for empty in (None, {}):
        s = trainer_settings(empty)
        assert s == TrainerSettings()
        assert (s.learning_rate, s.early_stop_patience, s.logger) == (1e-3, 3, "csv")
        assert s.accum_steps == 1 and s.gradient_clip_val is None and s.deterministic
    assert ExecutionConfig().early_stop_patience == 100


def test_every_field_is_wired_or_refusable() -> None:
    names = {f.name for f in dataclasses.fields(ExecutionConfig)}
    assert names == set(WIRED) | set(REJECTED)


def test_text_values_are_parsed_by_field_type() -> None:
    got = execution_values(
        {
            "learning_rate": "5e-4",
            "deterministic": "false",
            "logger_backend": "none",
            "gradient_clip_val": "0.5",
            "accum_steps": "4",
            "enable_progress_bar": "yes",
        },
        from_text=True,
    )
    assert got == {
        "learning_rate": 5e-4,
        "deterministic": False,
        "logger_backend": None,
        "gradient_clip_val": 0.5,
        "accum_steps": 4,
        "enable_progress_bar": True,
    }
    s = trainer_settings(got)
    assert (s.learning_rate, s.deterministic, s.logger, s.progress_bar) == (5e-4, False, None, True)
    assert (s.gradient_clip_val, s.accum_steps) == (0.5, 4)


@given(
    lr=st.floats(1e-6, 1.0),
    patience=st.integers(1, 500),
    accum=st.integers(1, 16),
    batch=st.one_of(st.none(), st.integers(1, 4096)),
    names=st.sets(
        st.sampled_from(
            ["learning_rate", "early_stop_patience", "accum_steps", "inference_batch_size"]
        )
    ),
)
def test_named_fields_change_only_their_setting(lr, patience, accum, batch, names) -> None:
    values = {
        "learning_rate": lr,
        "early_stop_patience": patience,
        "accum_steps": accum,
        "inference_batch_size": batch,
    }
    s = trainer_settings({k: values[k] for k in names})
    expected = {
        "learning_rate": lr if "learning_rate" in names else 1e-3,
        "early_stop_patience": patience if "early_stop_patience" in names else 3,
        "accum_steps": accum if "accum_steps" in names else 1,
        "inference_batch_size": batch if "inference_batch_size" in names else None,
    }
    assert {k: getattr(s, k) for k in expected} == expected
    assert s.logger == "csv" and s.deterministic and s.gradient_clip_val is None


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        ("accelerator", "tpu", "CPU or a CUDA GPU only"),
        ("accelerator", "mps", "CPU or a CUDA GPU only"),
        ("strategy", "ddp", "no other strategy"),
        ("num_workers", 2, "no data loader"),
        ("pin_memory", True, "no data loader"),
        ("prefetch_factor", 2, "no data loader"),
        ("scheduler", "Exponential", "Keras plateau schedule"),
        ("enable_checkpointing", True, "pickles"),
        ("checkpoint_save_top_k", 3, "pickles"),
        ("checkpoint_monitor_metric", "train_loss", "pickles"),
        ("checkpoint_mode", "max", "pickles"),
        ("middle_trim", 32, "not implemented"),
        ("pad_eval", True, "not implemented"),
        ("logger_backend", "mlflow", "no MLflow logger"),
    ],
)
def test_refused_settings_say_why(key: str, value: object, reason: str) -> None:
    with pytest.raises(
        ValueError, match=rf"my.toml: {key}=.* is not supported by the PyTorch trainer: .*{reason}"
    ):
        trainer_settings({key: value}, source="my.toml")


@pytest.mark.parametrize(
    "values",
    [
        {"accelerator": "cpu"},
        {"accelerator": "auto"},
        {"accelerator": "gpu"},
        {"accelerator": "cuda"},
        {"num_workers": 0, "pin_memory": False, "strategy": "auto"},
        {"scheduler": "Default", "enable_checkpointing": False, "middle_trim": 0},
        {"logger_backend": "csv"},
    ],
)
def test_refusable_fields_accept_what_the_trainer_does(values: dict) -> None:
    assert trainer_settings(values) == TrainerSettings()


def test_unknown_and_invalid_fields_name_the_source() -> None:
    with pytest.raises(
        ValueError, match=r"exec\.toml: .*lerning_rate.*did you mean 'learning_rate'"
    ):
        trainer_settings({"lerning_rate": 1e-3}, source="exec.toml")
    with pytest.raises(ValueError, match=r"exec\.toml: .*learning_rate"):
        trainer_settings({"learning_rate": -1.0}, source="exec.toml")
    with pytest.raises(ValueError, match=r"exec\.toml: .*'accum_steps' must be an integer"):
        trainer_settings({"accum_steps": "two"}, source="exec.toml", from_text=True)
    with pytest.raises(ValueError, match="persistent_workers"):
        trainer_settings({"persistent_workers": True})
