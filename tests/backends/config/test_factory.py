"""The payload factories (docs/config.md (d) "Factory")."""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from backends.config import bridge, factory
from backends.config.canonical import InferenceConfig, ModelConfig, TrainingConfig
from backends.config.legacy import LegacyParams
from backends.config.torch_native import ExecutionConfig
from tests.backends.config.strategies import training_configs

pytestmark = pytest.mark.filterwarnings("ignore:test_data_file is not set:UserWarning")


@pytest.fixture
def npz(tmp_path) -> Path:
    path = tmp_path / "train.npz"
    np.savez(path, probeGuess=np.ones((128, 128), dtype=np.complex64), xcoords=np.zeros(3))
    return path


@pytest.fixture
def npz_without_probe(tmp_path) -> Path:
    path = tmp_path / "plain.npz"
    np.savez(path, xcoords=np.zeros(3))
    return path


def _payload(path, overrides=None, **kw):
    kw.setdefault("params", LegacyParams())
    return factory.create_training_payload(
        path, path.parent / "out", overrides or {"n_groups": 8}, **kw
    )


def test_missing_training_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="Training data file not found"):
        factory.create_training_payload(tmp_path / "absent.npz", tmp_path, {"n_groups": 1})


def test_n_groups_required(npz):
    with pytest.raises(ValueError, match="n_groups is required in overrides"):
        _payload(npz, {"gridsize": 1})


def test_file_checked_before_n_groups(tmp_path):
    with pytest.raises(FileNotFoundError):
        factory.create_training_payload(tmp_path / "absent.npz", tmp_path, {})


def test_n_from_override_then_npz_then_fallback(npz, npz_without_probe):
    assert _payload(npz, {"n_groups": 8, "N": 256}).tf_training_config.model.N == 256
    assert _payload(npz).tf_training_config.model.N == 128
    with pytest.warns(UserWarning, match="no probeGuess"):
        payload = _payload(npz_without_probe)
    assert payload.tf_training_config.model.N == 64
    assert payload.overrides_applied["N"] == 64


def test_factory_defaults(npz):
    payload = _payload(npz)
    c = payload.tf_training_config
    assert c.model.gridsize == 1 and payload.pt_data_config.grid_size == (1, 1)
    assert payload.pt_data_config.C == payload.pt_model_config.C_model == 1
    assert payload.pt_model_config.C_forward == 1
    assert c.nphotons == 1e5 and payload.pt_data_config.nphotons == 1e5
    assert c.neighbor_count == 4 and payload.pt_data_config.K == 4
    assert c.model.probe_scale == 1.0
    assert c.model.model_type == "pinn" and payload.pt_model_config.mode == "Unsupervised"
    assert c.model.amp_activation == "swish" and payload.pt_model_config.amp_activation == "silu"
    assert c.model.object_big is True and c.model.probe_big is False
    assert c.intensity_scale_trainable is False
    assert c.nepochs == 50 and c.nll_weight == 1.0 and payload.pt_training_config.nll is True
    assert c.backend == "pytorch"
    assert c.train_data_file == npz and c.output_dir == npz.parent / "out"


def test_unset_values_take_canonical_defaults(npz):
    c = _payload(npz).tf_training_config
    canonical = TrainingConfig(model=ModelConfig())
    for name in (
        "pad_object",
        "gaussian_smoothing_sigma",
        "probe_mask",
        "n_filters_scale",
        "combine_mode",
    ):
        assert getattr(c.model, name) == getattr(canonical.model, name), name
    for name in (
        "batch_size", "mae_weight", "realspace_weight", "positions_provided", "probe_trainable",
        "sequential_sampling", "torch_loss_mode", "enable_oversampling", "subsample_seed",
    ):  # fmt: skip
        assert getattr(c, name) == getattr(canonical, name), name


def test_grid_size_and_gridsize_overrides(npz):
    payload = _payload(npz, {"n_groups": 8, "grid_size": (2, 2)})
    assert payload.tf_training_config.model.gridsize == 2 and payload.pt_data_config.C == 4
    payload = _payload(npz, {"n_groups": 8, "gridsize": 3})
    assert payload.pt_data_config.grid_size == (3, 3) and payload.pt_model_config.C_model == 9
    with pytest.raises(ValueError, match="Non-square grids"):
        _payload(npz, {"n_groups": 8, "grid_size": (2, 3)})


def test_epochs_precedence(npz):
    assert (
        _payload(npz, {"n_groups": 8, "max_epochs": 3, "nepochs": 7}).tf_training_config.nepochs
        == 3
    )
    assert _payload(npz, {"n_groups": 8, "nepochs": 7}).pt_training_config.epochs == 7


def test_nll_from_weight(npz):
    payload = _payload(npz, {"n_groups": 8, "nll_weight": 0.0, "mae_weight": 1.0})
    assert payload.pt_training_config.nll is False and payload.tf_training_config.nll_weight == 0.0
    payload = _payload(npz, {"n_groups": 8, "nll_weight": 0.25})
    assert payload.pt_training_config.nll is True and payload.tf_training_config.nll_weight == 0.25
    assert payload.bridge_overrides["nll_weight"] == 0.25


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("pinn", "pinn"),
        ("Unsupervised", "pinn"),
        ("supervised", "supervised"),
        ("Supervised", "supervised"),
    ],
)
def test_both_model_type_vocabularies(npz, value, expected):
    payload = _payload(npz, {"n_groups": 8, "model_type": value})
    assert payload.tf_training_config.model.model_type == expected


def test_nphotons_always_an_override(npz):
    payload = _payload(npz)
    assert payload.bridge_overrides["nphotons"] == 1e5
    assert _payload(npz, {"n_groups": 8, "nphotons": 1e9}).tf_training_config.nphotons == 1e9


def test_unknown_override_key(npz):
    with pytest.raises(ValueError, match="unknown key 'n_group'; did you mean 'n_groups'"):
        _payload(npz, {"n_groups": 8, "n_group": 3})


def test_populates_legacy_params_and_warns_when_already_populated(npz):
    params = LegacyParams()
    _payload(npz, {"n_groups": 8, "N": 64}, params=params)
    assert params.populated_from == "canonical" and params["N"] == 64 and params["n_groups"] == 8
    assert params["backend"] == "pytorch"
    with pytest.warns(UserWarning, match="already populated"):
        _payload(npz, params=params)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _payload(npz, {"n_groups": 8, "test_data_file": npz}, params=params, force=True)


def test_execution_knobs_are_wired(npz):
    execution = ExecutionConfig(learning_rate=5e-4, scheduler="Exponential", num_workers=2)
    payload = _payload(npz, execution_config=execution)
    assert payload.execution_config is execution
    t = payload.pt_training_config
    assert (t.learning_rate, t.scheduler, t.num_workers) == (5e-4, "Exponential", 2)
    assert payload.overrides_applied["execution_config"]["learning_rate"] == 5e-4


def test_payload_torch_configs_equal_the_inverse_of_the_canonical(npz):
    payload = _payload(npz, {"n_groups": 8, "object_big": False, "probe_mask": True})
    configs, _overrides = bridge.from_canonical(payload.tf_training_config)
    assert configs.data == payload.pt_data_config
    assert configs.model == payload.pt_model_config
    assert dataclasses.replace(configs.training, num_workers=0) == dataclasses.replace(
        payload.pt_training_config, num_workers=0
    )


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(config=training_configs())
def test_property_factory_round_trip_identity(npz, config):
    overrides = {
        k: v for k, v in vars(config).items() if k not in {"model", "train_data_file", "output_dir"}
    }
    overrides.update(vars(config.model))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        payload = factory.create_training_payload(
            npz, config.output_dir, overrides, params=LegacyParams()
        )
    expected = dataclasses.replace(config, train_data_file=npz)
    assert payload.tf_training_config == expected


# -- inference factory -------------------------------------------------------------------------


@pytest.fixture
def bundle_dir(tmp_path) -> Path:
    path = tmp_path / "model"
    path.mkdir()
    (path / "wts.h5.zip").write_bytes(b"")
    return path


def test_inference_factory_checks_in_order(tmp_path, bundle_dir, npz):
    with pytest.raises(FileNotFoundError, match="Model directory not found"):
        factory.create_inference_payload(tmp_path / "none", tmp_path / "none.npz", tmp_path, {})
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="Model archive not found"):
        factory.create_inference_payload(empty, tmp_path / "none.npz", tmp_path, {})
    with pytest.raises(FileNotFoundError, match="Test data file not found"):
        factory.create_inference_payload(bundle_dir, tmp_path / "none.npz", tmp_path, {})
    with pytest.raises(ValueError, match="n_groups is required in overrides"):
        factory.create_inference_payload(bundle_dir, npz, tmp_path, {})


def test_inference_factory_payload(tmp_path, bundle_dir, npz):
    params = LegacyParams()
    payload = factory.create_inference_payload(
        bundle_dir, npz, tmp_path / "out", {"n_groups": 16, "model_type": "Supervised", "debug": True},
        params=params,
    )  # fmt: skip
    c = payload.tf_inference_config
    assert isinstance(c, InferenceConfig)
    assert c.model_path == bundle_dir and c.test_data_file == npz and c.n_groups == 16
    assert c.model.model_type == "supervised" and c.model.N == 128 and c.debug is True
    assert c.backend == "pytorch" and c.neighbor_count == 4
    assert payload.pt_inference_config.batch_size == 16
    assert params["model_path"] == str(bundle_dir) and params.populated_from == "canonical"


def test_inference_factory_batch_size_from_execution(tmp_path, bundle_dir, npz):
    payload = factory.create_inference_payload(
        bundle_dir, npz, tmp_path, {"n_groups": 4}, ExecutionConfig(inference_batch_size=64),
        params=LegacyParams(),
    )  # fmt: skip
    assert payload.pt_inference_config.batch_size == 64
