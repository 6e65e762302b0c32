"""Canonical dataclasses and validators: docs/config.md (a) and docs/model.md section 1."""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

import pytest

from backends.config import (
    InferenceConfig,
    ModelConfig,
    TrainingConfig,
    validate_model_config,
    validate_training_config,
)


def test_model_defaults_match_the_spec():
    m = ModelConfig()
    assert (m.N, m.gridsize, m.n_filters_scale) == (64, 1, 2)
    assert (m.model_type, m.amp_activation) == ("pinn", "sigmoid")
    assert (m.object_big, m.probe_big, m.probe_mask, m.pad_object) == (True, True, False, True)
    assert m.probe_scale == 4.0 and isinstance(m.probe_scale, float)
    assert m.gaussian_smoothing_sigma == 0.0
    assert m.combine_mode == "polar"


def test_model_config_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        ModelConfig().N = 128  # type: ignore[misc]


def test_training_defaults_match_the_spec():
    t = TrainingConfig(model=ModelConfig())
    expected = {
        "train_data_file": None,
        "test_data_file": None,
        "batch_size": 16,
        "nepochs": 50,
        "mae_weight": 0.0,
        "nll_weight": 1.0,
        "realspace_mae_weight": 0.0,
        "realspace_weight": 0.0,
        "nphotons": 1e9,
        "n_groups": 512,
        "n_images": None,
        "n_subsample": None,
        "subsample_seed": None,
        "neighbor_count": 4,
        "enable_oversampling": False,
        "neighbor_pool_size": None,
        "positions_provided": True,
        "probe_trainable": False,
        "intensity_scale_trainable": True,
        "sequential_sampling": False,
        "output_dir": Path("training_outputs"),
        "backend": "tensorflow",
        "torch_loss_mode": "poisson",
    }
    assert {k: getattr(t, k) for k in expected} == expected


def test_training_requires_model():
    with pytest.raises(TypeError):
        TrainingConfig()  # type: ignore[call-arg]


def test_inference_defaults_and_required_fields():
    with pytest.raises(TypeError):
        InferenceConfig(model=ModelConfig())  # type: ignore[call-arg]
    i = InferenceConfig(model=ModelConfig(), model_path="m", test_data_file="t.npz")
    assert i.model_path == Path("m") and i.test_data_file == Path("t.npz")
    assert i.n_groups is None  # no 512 default for inference
    assert (i.n_images, i.n_subsample, i.subsample_seed) == (None, None, None)
    assert (i.neighbor_count, i.enable_oversampling, i.neighbor_pool_size) == (4, False, None)
    assert (i.debug, i.output_dir, i.backend) == (False, Path("inference_outputs"), "tensorflow")


def test_n_images_alias_warns_names_both_and_copies():
    with pytest.warns(DeprecationWarning) as record:
        t = TrainingConfig(model=ModelConfig(), n_images=100)
    text = str(record[0].message)
    assert "n_images" in text and "n_groups" in text
    assert (t.n_groups, t.n_images) == (100, 100)


def test_n_groups_wins_silently_over_n_images():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        t = TrainingConfig(model=ModelConfig(), n_groups=7, n_images=100)
    assert (t.n_groups, t.n_images) == (7, 100)


def test_inference_alias_runs_but_no_512_default():
    with pytest.warns(DeprecationWarning):
        i = InferenceConfig(model=ModelConfig(), model_path="m", test_data_file="t", n_images=9)
    assert i.n_groups == 9


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("model_type", "unsupervised"),
        ("amp_activation", "silu"),
        ("combine_mode", "rect"),
    ],
)
def test_model_literals_are_enforced(field, value):
    with pytest.raises(ValueError, match=field) as info:
        ModelConfig(**{field: value})
    assert repr(value) in str(info.value) and "choose one of" in str(info.value)


@pytest.mark.parametrize(("field", "value"), [("backend", "jax"), ("torch_loss_mode", "l2")])
def test_training_literals_are_enforced(field, value):
    with pytest.raises(ValueError, match=f"{field}={value!r}"):
        TrainingConfig(model=ModelConfig(), **{field: value})


def test_inference_backend_literal_is_enforced():
    with pytest.raises(ValueError, match="backend='keras'"):
        InferenceConfig(model=ModelConfig(), model_path="m", test_data_file="t", backend="keras")


@pytest.mark.parametrize("n", [0, -64])
def test_n_must_be_positive(n):
    with pytest.raises(ValueError, match=f"N={n}"):
        ModelConfig(N=n)


def test_n_outside_supported_set_warns():
    with pytest.warns(UserWarning, match="N=96"):
        ModelConfig(N=96)


def test_int_given_for_float_field_becomes_float():
    m = ModelConfig(probe_scale=2, gaussian_smoothing_sigma=0)
    t = TrainingConfig(model=m, nphotons=1000, nll_weight=1, mae_weight=0)
    for value in (
        m.probe_scale,
        m.gaussian_smoothing_sigma,
        t.nphotons,
        t.nll_weight,
        t.mae_weight,
    ):
        assert type(value) is float


def test_string_paths_become_paths():
    t = TrainingConfig(model=ModelConfig(), train_data_file="a.npz", output_dir="out")
    assert t.train_data_file == Path("a.npz") and t.output_dir == Path("out")


# -- validators: one test per error message, and the order of the model checks ----------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"gridsize": 0}, "gridsize=0"),
        ({"n_filters_scale": -1}, "n_filters_scale=-1"),
        ({"probe_scale": 0.0}, "probe_scale=0.0"),
        ({"gaussian_smoothing_sigma": -0.5}, "gaussian_smoothing_sigma=-0.5"),
    ],
)
def test_model_validator_names_field_and_value(kwargs, message):
    with pytest.raises(ValueError, match=message):
        validate_model_config(ModelConfig(**kwargs))


def test_model_validator_order_first_failure_wins():
    bad = ModelConfig(gridsize=0, n_filters_scale=0, probe_scale=-1.0, gaussian_smoothing_sigma=-1)
    with pytest.raises(ValueError, match=r"^gridsize"):
        validate_model_config(bad)
    bad = ModelConfig(n_filters_scale=0, probe_scale=-1.0, gaussian_smoothing_sigma=-1)
    with pytest.raises(ValueError, match=r"^n_filters_scale"):
        validate_model_config(bad)
    with pytest.raises(ValueError, match=r"^probe_scale"):
        validate_model_config(ModelConfig(probe_scale=-1.0, gaussian_smoothing_sigma=-1))


def test_model_validator_does_not_check_n():
    with pytest.warns(UserWarning):
        validate_model_config(ModelConfig(N=3))


def test_defaults_pass_validation():
    validate_training_config(TrainingConfig(model=ModelConfig()))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"batch_size": 12}, "batch_size=12 .*power of 2"),
        ({"batch_size": 0}, "batch_size=0"),
        ({"nepochs": 0}, "nepochs=0"),
        ({"mae_weight": 1.5}, r"mae_weight=1.5 .*\[0, 1\]"),
        ({"nll_weight": -0.1}, r"nll_weight=-0.1 .*\[0, 1\]"),
        ({"nphotons": 0.0}, "nphotons=0.0"),
        ({"nphotons": float("inf")}, "nphotons=inf"),
        ({"realspace_mae_weight": 0.5}, "realspace_mae_weight=0.5 needs realspace_weight > 0"),
        ({"realspace_weight": -1.0}, "realspace_weight=-1.0"),
        ({"n_groups": 0}, "n_groups=0"),
        ({"n_subsample": -3}, "n_subsample=-3"),
        ({"neighbor_count": 0}, "neighbor_count=0"),
        ({"neighbor_pool_size": 0}, "neighbor_pool_size=0"),
    ],
)
def test_training_validator_error_messages(kwargs, message):
    with pytest.raises(ValueError, match=message):
        validate_training_config(TrainingConfig(model=ModelConfig(), **kwargs))


def test_training_validator_runs_model_checks_first():
    config = TrainingConfig(model=ModelConfig(gridsize=0), batch_size=3)
    with pytest.raises(ValueError, match=r"^gridsize"):
        validate_training_config(config)


def test_training_validator_accepts_boundaries():
    config = TrainingConfig(
        model=ModelConfig(gaussian_smoothing_sigma=0.0),
        batch_size=1,
        mae_weight=1.0,
        nll_weight=0.0,
        realspace_mae_weight=0.1,
        realspace_weight=0.1,
    )
    validate_training_config(config)
