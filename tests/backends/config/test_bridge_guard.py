"""The bridge guard: every behaviour of docs/config.md (f) 1-48, and the project's extra cases.

Unless stated otherwise the training bridge gets overrides train_data_file, n_groups=512 and
nphotons=1e9, the inference bridge model_path, test_data_file and n_groups=512. Every test runs
with the legacy singleton snapshotted and restored (conftest) and populates fresh params objects.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from backends.config import bridge, legacy
from backends.config.canonical import InferenceConfig, TrainingConfig
from backends.config.legacy import LegacyParams, update_legacy_dict
from backends.config.torch_native import DataConfig, ModelConfig
from backends.config.torch_native import InferenceConfig as PTInference
from backends.config.torch_native import TrainingConfig as PTTraining

pytestmark = pytest.mark.filterwarnings("ignore:test_data_file is not set:UserWarning")

FIXTURES = Path(__file__).parent / "fixtures"
TRAIN_OVERRIDES = {"train_data_file": Path("train.npz"), "n_groups": 512, "nphotons": 1e9}
INFER_OVERRIDES = {
    "model_path": Path("model_dir"),
    "test_data_file": Path("test.npz"),
    "n_groups": 512,
}


def _model(data=None, model=None, **overrides):
    return bridge.to_model_config(data or DataConfig(), model or ModelConfig(), overrides)


def _train(data=None, model=None, training=None, model_overrides=None, **overrides):
    data, model = data or DataConfig(), model or ModelConfig()
    tf_model = bridge.to_model_config(data, model, model_overrides or {})
    merged = {**TRAIN_OVERRIDES, **overrides}
    return bridge.to_training_config(tf_model, data, model, training or PTTraining(), merged)


def _infer(data=None, model=None, inference=None, model_overrides=None, **overrides):
    data, model = data or DataConfig(), model or ModelConfig()
    tf_model = bridge.to_model_config(data, model, model_overrides or {})
    merged = {**INFER_OVERRIDES, **overrides}
    return bridge.to_inference_config(tf_model, data, inference or PTInference(), merged)


# -- end to end (1) ---------------------------------------------------------------------------


def test_case_01_end_to_end_training_then_inference():
    data = DataConfig(N=128, grid_size=(2, 2), nphotons=1e9, K=7)
    model = ModelConfig(mode="Unsupervised")
    training = PTTraining(epochs=1)
    params = LegacyParams()
    update_legacy_dict(params, _train(data, model, training))
    update_legacy_dict(params, _infer(data, model, neighbor_count=7))
    assert params["N"] == 128 and params["gridsize"] == 2
    assert params["model_type"] == "pinn"
    assert params["train_data_file_path"] == "train.npz"
    assert params["test_data_file_path"] == "test.npz"
    assert params["model_path"] == "model_dir" and isinstance(params["model_path"], str)
    assert params["n_groups"] == 512 and params["neighbor_count"] == 7
    assert params["nphotons"] == 1e9


# -- direct (2-6) -----------------------------------------------------------------------------


def test_case_02_n_passes_through():
    assert _model(DataConfig(N=128)).N == 128


def test_case_03_n_filters_scale_passes_through():
    assert _model(model=ModelConfig(n_filters_scale=2)).n_filters_scale == 2
    assert _model(model=ModelConfig(n_filters_scale=3)).n_filters_scale == 3


def test_case_04_object_big_passes_through():
    assert _model(model=ModelConfig(object_big=False)).object_big is False
    assert _model(model=ModelConfig(object_big=True)).object_big is True


def test_case_05_probe_big_passes_through():
    assert _model(model=ModelConfig(probe_big=False)).probe_big is False


def test_case_06_batch_size_passes_through():
    assert _train(training=PTTraining(batch_size=32)).batch_size == 32


# -- transforms (7-15) ------------------------------------------------------------------------


def test_case_07_grid_size_to_gridsize():
    assert _model(DataConfig(grid_size=(3, 3))).gridsize == 3


@pytest.mark.parametrize(
    ("mode", "expected"), [("Unsupervised", "pinn"), ("Supervised", "supervised")]
)
def test_cases_08_09_mode_to_model_type(mode, expected):
    assert _model(model=ModelConfig(mode=mode)).model_type == expected


@pytest.mark.parametrize(
    ("activation", "expected"), [("silu", "swish"), ("SiLU", "swish"), ("sigmoid", "sigmoid")]
)
def test_cases_10_12_activation(activation, expected):
    assert _model(model=ModelConfig(amp_activation=activation)).amp_activation == expected


def test_case_13_epochs_to_nepochs():
    assert _train(training=PTTraining(epochs=100)).nepochs == 100


@pytest.mark.parametrize(("nll", "expected"), [(True, 1.0), (False, 0.0)])
def test_cases_14_15_nll_to_weight(nll, expected):
    weight = _train(training=PTTraining(nll=nll)).nll_weight
    assert weight == expected and type(weight) is float


# -- defaults, override wins (16-30) ---------------------------------------------------------


def test_cases_16_17_pad_object_default_and_override():
    assert _model().pad_object is True
    assert _model(pad_object=False).pad_object is False


def test_cases_18_19_sigma_default_and_override():
    assert _model().gaussian_smoothing_sigma == 0.0
    assert _model(gaussian_smoothing_sigma=0.5).gaussian_smoothing_sigma == 0.5


def test_case_20_mae_weight_default_and_override():
    assert _train().mae_weight == 0.0
    assert _train(mae_weight=0.3).mae_weight == 0.3


@pytest.mark.parametrize(
    ("field", "default", "other"),
    [
        ("realspace_mae_weight", 0.0, None),
        ("realspace_weight", 0.0, 0.2),
        ("positions_provided", True, False),
        ("probe_trainable", False, True),
        ("sequential_sampling", False, True),
    ],
)
def test_cases_21_26_constants_without_torch_source(field, default, other):
    assert getattr(_train(), field) == default
    if other is not None:
        assert getattr(_train(**{field: other}), field) == other


def test_cases_27_28_debug_default_and_override():
    assert _infer().debug is False
    assert _infer(debug=True).debug is True


def test_cases_29_30_probe_mask_default_and_override():
    assert _model().probe_mask is False
    assert _model(probe_mask=True).probe_mask is True


# -- divergence (31-32) -----------------------------------------------------------------------


def test_case_31_nphotons_from_data_and_override():
    result = _train(DataConfig(nphotons=5e8), nphotons=5e8)
    assert result.nphotons == 5e8


def test_case_31b_nphotons_from_data_without_override():
    data, model = DataConfig(nphotons=5e8), ModelConfig()
    overrides = {"train_data_file": "t.npz", "n_groups": 4}
    result = bridge.to_training_config(_model(data, model), data, model, PTTraining(), overrides)
    assert result.nphotons == 5e8


def test_case_32_probe_scale_passes_through():
    assert _model(DataConfig(probe_scale=2.0)).probe_scale == 2.0


# -- errors (33-37) ---------------------------------------------------------------------------


def test_case_33_non_square_grid():
    with pytest.raises(ValueError, match="Non-square grids"):
        _model(DataConfig(grid_size=(2, 3)))


def test_case_34_invalid_mode():
    with pytest.raises(ValueError, match="Invalid mode"):
        _model(model=ModelConfig(mode="InvalidMode"))


def test_case_35_unknown_activation_lists_accepted_names():
    with pytest.raises(ValueError, match="Unknown activation") as info:
        _model(model=ModelConfig(amp_activation="unknown_activation"))
    for name in ("silu", "SiLU", "sigmoid", "swish", "softplus", "relu"):
        assert name in str(info.value)


def test_case_36_train_data_file_required():
    data, model = DataConfig(), ModelConfig()
    with pytest.raises(ValueError, match="train_data_file is required"):
        bridge.to_training_config(
            _model(data, model), data, model, PTTraining(), {"n_groups": 512, "nphotons": 1e9}
        )


def test_case_37_model_path_required():
    data = DataConfig()
    with pytest.raises(ValueError, match="model_path is required"):
        bridge.to_inference_config(
            _model(data), data, PTInference(), {"test_data_file": "t.npz", "n_groups": 1}
        )


def test_inference_test_data_file_required_after_model_path():
    data = DataConfig()
    with pytest.raises(ValueError, match="model_path is required"):
        bridge.to_inference_config(_model(data), data, PTInference(), {})
    with pytest.raises(ValueError, match="test_data_file is required"):
        bridge.to_inference_config(_model(data), data, PTInference(), {"model_path": "m"})


def test_checks_run_before_overrides_cannot_rescue():
    with pytest.raises(ValueError, match="Invalid mode"):
        _model(model=ModelConfig(mode="Bad"), model_type="pinn")
    with pytest.raises(ValueError, match="Unknown activation"):
        _model(model=ModelConfig(amp_activation="gelu"), amp_activation="relu")
    with pytest.raises(ValueError, match="Non-square grids"):
        _model(DataConfig(grid_size=(1, 2)), gridsize=1)


# -- gate (38-39) -----------------------------------------------------------------------------


def test_case_38_nphotons_gate():
    data, model = DataConfig(), ModelConfig()
    assert data.nphotons == 1e5
    with pytest.raises(ValueError) as info:
        bridge.to_training_config(
            _model(data, model), data, model, PTTraining(), {"train_data_file": "t", "n_groups": 1}
        )
    text = str(info.value)
    assert "nphotons default divergence" in text and "overrides" in text and "nphotons=" in text
    assert "100000.0" in text and "1000000000.0" in text  # both defaults


def test_case_39_nphotons_override_passes():
    assert _train(DataConfig(), nphotons=1e9).nphotons == 1e9


def test_gate_uses_override_keys_even_when_value_is_the_torch_default():
    assert _train(DataConfig(), nphotons=1e5).nphotons == 1e5


# -- sampling (40-45) -------------------------------------------------------------------------


def test_case_40_torch_n_subsample_never_reaches_training():
    assert _train(DataConfig(n_subsample=7)).n_subsample is None


def test_case_41_training_n_subsample_override():
    assert _train(DataConfig(n_subsample=7), n_subsample=1000).n_subsample == 1000


def test_case_42_torch_n_subsample_never_reaches_inference():
    assert _infer(DataConfig(n_subsample=7)).n_subsample is None


def test_case_43_inference_n_subsample_override():
    assert _infer(DataConfig(n_subsample=7), n_subsample=500).n_subsample == 500


def test_case_44_training_seed_from_data_config():
    assert _train(DataConfig(subsample_seed=42)).subsample_seed == 42


def test_case_45_training_seed_override_wins():
    assert _train(DataConfig(subsample_seed=42), subsample_seed=99).subsample_seed == 99


# -- missing (46-47) --------------------------------------------------------------------------


def test_case_46_n_groups_required():
    data, model = DataConfig(), ModelConfig()
    with pytest.raises(ValueError) as info:
        bridge.to_training_config(
            _model(data, model), data, model, PTTraining(),
            {"train_data_file": "t.npz", "nphotons": 1e9},
        )  # fmt: skip
    text = str(info.value)
    assert "n_groups" in text and "overrides" in text and "n_groups=" in text


def test_case_46b_n_images_override_does_not_satisfy_n_groups():
    with pytest.raises(ValueError, match="n_groups"):
        data, model = DataConfig(), ModelConfig()
        bridge.to_training_config(
            _model(data, model), data, model, PTTraining(),
            {"train_data_file": "t.npz", "nphotons": 1e9, "n_images": 64},
        )  # fmt: skip


def test_case_47_missing_test_data_file_warns_exactly_once():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _train()
    assert len(caught) == 1
    warning = caught[0]
    assert warning.category is UserWarning
    text = str(warning.message)
    assert "test_data_file" in text and ("evaluation" in text or "inference" in text)


def test_no_warning_when_test_data_file_given():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _train(test_data_file="t.npz").test_data_file == Path("t.npz")


# -- baseline (48) ----------------------------------------------------------------------------


def test_case_48_baseline_against_committed_fixture():
    fixture = json.loads((FIXTURES / "baseline_params.json").read_text())
    data = DataConfig(
        N=128, grid_size=(3, 3), K=6, nphotons=5e8, probe_scale=2.0, subsample_seed=42
    )
    model = ModelConfig(
        amp_activation="silu", object_big=False, probe_big=False, intensity_scale_trainable=True
    )
    training = PTTraining(epochs=100, batch_size=32)
    model_overrides = {"probe_mask": True, "pad_object": False, "gaussian_smoothing_sigma": 0.5}
    base = Path("/canonical/baseline")
    train_config = _train(
        data, model, training, model_overrides,
        train_data_file=base / "train_data.npz", test_data_file=base / "test_data.npz",
        output_dir=base / "training_outputs", n_groups=1024, n_subsample=2048,
        subsample_seed=42, mae_weight=0.3, nll_weight=0.7, realspace_mae_weight=0.05,
        realspace_weight=0.1, positions_provided=False, probe_trainable=True,
        sequential_sampling=True, nphotons=5e8,
    )  # fmt: skip
    infer_config = _infer(
        data, model, None, model_overrides,
        model_path=base / "model_dir", test_data_file=base / "inference_data.npz",
        n_groups=512, n_subsample=1024, subsample_seed=99,
        output_dir=base / "inference_outputs", debug=True,
    )  # fmt: skip
    params = LegacyParams()
    params.clear()
    update_legacy_dict(params, train_config)
    update_legacy_dict(params, infer_config)
    excluded = set(fixture["excluded_keys"])
    compared = {k: v for k, v in params.items() if k not in excluded}
    expected = fixture["expected"]
    assert len(expected) == 32  # upstream's 31 plus combine_mode
    assert set(compared) == set(expected)
    for key, value in expected.items():
        assert compared[key] == value, key
        assert type(compared[key]) is type(value), key
    assert params["backend"] == "pytorch" and params["torch_loss_mode"] == "poisson"
    assert params["enable_oversampling"] is False


# -- Ours: extra guard cases ------------------------------------------------------------------


def test_k_maps_to_neighbor_count_in_isolation():
    data = DataConfig(K=9)
    assert _train(data).neighbor_count == 9
    assert _infer(data).neighbor_count == 9


def test_intensity_scale_trainable_from_torch_model():
    assert _train(model=ModelConfig(intensity_scale_trainable=True)).intensity_scale_trainable
    assert not _train(model=ModelConfig(intensity_scale_trainable=False)).intensity_scale_trainable


def test_torch_loss_mode_passes_through():
    assert _train(training=PTTraining(torch_loss_mode="mae")).torch_loss_mode == "mae"


def test_backend_is_pytorch_from_both_bridges():
    assert _train().backend == "pytorch"
    assert _infer().backend == "pytorch"


def test_output_dir_str_to_path_to_str():
    result = _train(training=PTTraining(output_dir="runs/exp1"))
    assert result.output_dir == Path("runs/exp1") and isinstance(result.output_dir, Path)
    params = LegacyParams()
    update_legacy_dict(params, result)
    assert params["output_prefix"] == "runs/exp1"


def test_empty_output_dir_becomes_training_outputs():
    assert _train(training=PTTraining(output_dir="")).output_dir == Path("training_outputs")
    assert _train(output_dir="").output_dir == Path("training_outputs")


def test_training_paths_from_torch_training_config():
    result = bridge.to_training_config(
        _model(), DataConfig(), ModelConfig(),
        PTTraining(train_data_file="a.npz", test_data_file="b.npz", n_groups=8),
        {"nphotons": 1e9},
    )  # fmt: skip
    assert result.train_data_file == Path("a.npz") and result.test_data_file == Path("b.npz")
    assert result.n_groups == 8


def test_inference_does_not_inherit_data_seed():
    assert _infer(DataConfig(subsample_seed=42)).subsample_seed is None


def test_probe_mask_array_maps_to_true():
    assert _model(model=ModelConfig(probe_mask=np.ones((64, 64)))).probe_mask is True
    assert _model(model=ModelConfig(probe_mask=np.zeros((64, 64)))).probe_mask is True


@pytest.mark.pytorch
def test_probe_mask_tensor_maps_to_true():
    torch = pytest.importorskip("torch")
    assert _model(model=ModelConfig(probe_mask=torch.ones(64, 64))).probe_mask is True


@pytest.mark.parametrize("activation", ["softplus", "relu", "swish"])
def test_softplus_relu_swish_pass_through(activation):
    assert _model(model=ModelConfig(amp_activation=activation)).amp_activation == activation


def test_override_normalisation():
    assert _model(amp_activation="silu").amp_activation == "swish"
    assert _model(amp_activation="SiLU").amp_activation == "swish"
    assert _model(model_type="Supervised").model_type == "supervised"
    assert _model(model_type="supervised").model_type == "supervised"
    assert _model(probe_mask=np.ones(3)).probe_mask is True
    assert _model(probe_mask=None).probe_mask is False
    assert _model(gridsize=(2, 2)).gridsize == 2
    assert (
        _model(probe_scale=2).probe_scale == 2.0
        and type(_model(probe_scale=2).probe_scale) is float
    )
    result = _train(test_data_file="x/t.npz", n_groups=np.int64(8))
    assert result.test_data_file == Path("x/t.npz") and type(result.n_groups) is int


def test_override_values_validated_like_torch_values():
    with pytest.raises(ValueError, match="Unknown activation"):
        _model(amp_activation="gelu")
    with pytest.raises(ValueError, match="Invalid mode"):
        _model(model_type="Semi")
    with pytest.raises(ValueError, match="Non-square grids"):
        _model(gridsize=(2, 3))
    with pytest.raises(ValueError, match="field 'n_groups' must be an integer"):
        _train(n_groups="many")
    with pytest.raises(ValueError, match="field 'sequential_sampling' must be a boolean"):
        _train(sequential_sampling=1)
    with pytest.raises(ValueError, match="'jax' is not allowed"):
        _train(backend="jax")


def test_unknown_override_keys_list_valid_fields():
    with pytest.raises(ValueError) as info:
        _train(nepoch=3)
    text = str(info.value)
    assert "unknown key 'nepoch'" in text and "did you mean 'nepochs'" in text
    assert "valid fields:" in text and "train_data_file" in text and "torch_loss_mode" in text
    with pytest.raises(ValueError, match="valid fields: N, gridsize"):
        _model(grid_size=(2, 2))
    with pytest.raises(ValueError, match="'gridsize' is a model field"):
        _train(gridsize=2)
    data, model = DataConfig(), ModelConfig()
    with pytest.raises(ValueError, match="unknown key 'model'"):
        bridge.to_training_config(
            _model(), data, model, PTTraining(), {**TRAIN_OVERRIDES, "model": _model()}
        )
    with pytest.raises(ValueError, match="valid fields: model_path"):
        _infer(nepochs=2)


def test_bridge_is_side_effect_free():
    state = legacy.params.snapshot()
    data, model, training = DataConfig(N=128), ModelConfig(), PTTraining()
    before = (repr(data), repr(model), repr(training))
    _train(data, model, training)
    assert (repr(data), repr(model), repr(training)) == before
    assert dict(legacy.params) == state.values
    assert legacy.params.populated_from == state.populated_from


def test_results_are_canonical_types():
    assert isinstance(_train(), TrainingConfig) and isinstance(_infer(), InferenceConfig)


def test_to_canonical_kind_and_from_canonical_type_errors():
    configs = bridge.TorchConfigs("evaluation", DataConfig(), ModelConfig())
    with pytest.raises(ValueError, match="kind='evaluation' is not allowed"):
        bridge.to_canonical(configs, {})
    with pytest.raises(TypeError, match="expected a TrainingConfig or InferenceConfig"):
        bridge.from_canonical(_model())  # type: ignore[arg-type]


def test_to_canonical_splits_flat_overrides():
    configs = bridge.TorchConfigs("training", DataConfig(), ModelConfig())
    result = bridge.to_canonical(
        configs, {**TRAIN_OVERRIDES, "pad_object": False, "mae_weight": 0.2}
    )
    assert result.model.pad_object is False and result.mae_weight == 0.2
