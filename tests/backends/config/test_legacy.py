"""The legacy params dict and the canonical -> legacy translation (docs/config.md (b), (c))."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from hypothesis import given

from backends.config import InferenceConfig, ModelConfig, TrainingConfig, legacy
from backends.config.legacy import (
    LegacyParams,
    check_save_gate,
    populate_legacy_params,
    to_legacy,
    to_legacy_snapshot,
    update_legacy_dict,
)
from tests.backends.config.strategies import inference_configs, training_configs

# docs/config.md (b): the 40 keys at import, with their defaults
IMPORT_DEFAULTS = {
    "N": 128, "gridsize": 2, "batch_size": 16, "nepochs": 60, "n_filters_scale": 2,
    "mae_weight": 0.0, "nll_weight": 1.0, "realspace_mae_weight": 0.0, "realspace_weight": 0.0,
    "nphotons": 1e9, "model_type": "pinn", "amp_activation": "sigmoid", "pad_object": True,
    "probe_scale": 10.0, "gaussian_smoothing_sigma": 0.0,
    "object.big": True, "probe.big": False, "probe.mask": True, "probe.trainable": False,
    "intensity_scale.trainable": False, "positions.provided": False, "output_prefix": "outputs",
    "debug": True,
    "offset": 4, "outer_offset_train": None, "outer_offset_test": None, "big_gridsize": 10,
    "max_position_jitter": 10, "sim_jitter_scale": 0.0, "default_probe_scale": 0.7,
    "tv_weight": 0.0, "nimgs_train": 9, "nimgs_test": 3, "data_source": "generic",
    "set_phi": False, "label": "", "size": 392, "h5_path": "wts.h5", "npseed": 42,
    "use_xla_translate": True,
}  # fmt: skip
MAPPED = {
    "object_big": "object.big",
    "probe_big": "probe.big",
    "probe_mask": "probe.mask",
    "probe_trainable": "probe.trainable",
    "intensity_scale_trainable": "intensity_scale.trainable",
    "positions_provided": "positions.provided",
    "output_dir": "output_prefix",
    "train_data_file": "train_data_file_path",
    "test_data_file": "test_data_file_path",
}
MODEL_KEYS = [
    "N", "gridsize", "n_filters_scale", "model_type", "amp_activation", "object.big", "probe.big",
    "probe.mask", "pad_object", "probe_scale", "gaussian_smoothing_sigma", "combine_mode",
]  # fmt: skip
ADDED_BY_UPDATE = {
    "n_groups", "n_images", "n_subsample", "subsample_seed", "neighbor_count",
    "enable_oversampling", "neighbor_pool_size", "sequential_sampling", "backend",
    "torch_loss_mode", "train_data_file_path", "test_data_file_path", "model_path",
}  # fmt: skip


def _training(**kw) -> TrainingConfig:
    kw.setdefault("model", ModelConfig())
    return TrainingConfig(**kw)


def _inference(**kw) -> InferenceConfig:
    kw.setdefault("model_path", Path("model_dir"))
    kw.setdefault("test_data_file", Path("test.npz"))
    kw.setdefault("model", ModelConfig())
    return InferenceConfig(**kw)


# -- (b) the dict ----------------------------------------------------------------------------


def test_import_defaults_are_the_40_keys(fresh_params):
    assert len(IMPORT_DEFAULTS) == 40
    assert dict(fresh_params) == IMPORT_DEFAULTS
    for key, value in IMPORT_DEFAULTS.items():
        assert type(fresh_params[key]) is type(value), key


def test_singleton_starts_with_the_defaults_and_is_not_populated():
    fresh = LegacyParams()
    assert isinstance(legacy.params, LegacyParams)
    assert fresh.populated_from is None
    assert not (set(fresh) & ADDED_BY_UPDATE)


def test_get_unknown_key_raises_keyerror_unless_default(fresh_params):
    with pytest.raises(KeyError):
        fresh_params.get("no_such_key")
    assert fresh_params.get("no_such_key", 5) == 5
    assert fresh_params.get("no_such_key", None) is None


def test_set_assigns_then_validates(fresh_params):
    fresh_params.set("nepochs", 3)
    assert fresh_params["nepochs"] == 3


def test_set_invalid_data_source_raises_and_keeps_value(fresh_params):
    with pytest.raises(AssertionError) as info:
        fresh_params.set("data_source", "bogus")
    text = str(info.value)
    assert "bogus" in text and "generic" in text and "diagonals" in text
    assert fresh_params["data_source"] == "bogus"  # the failed value stays assigned


@pytest.mark.parametrize(
    "source",
    ["lines", "grf", "experimental", "points", "testimg", "diagonals", "xpp", "V", "generic"],
)
def test_every_listed_data_source_is_valid(fresh_params, source):
    fresh_params.set("data_source", source)


def test_realspace_rule_is_a_bare_assertion(fresh_params):
    with pytest.raises(AssertionError) as info:
        fresh_params.set("realspace_mae_weight", 0.5)
    assert str(info.value) == ""
    assert fresh_params["realspace_mae_weight"] == 0.5
    fresh_params.set("realspace_weight", 0.1)  # now consistent


def test_bad_pair_from_update_surfaces_at_next_unrelated_set(fresh_params):
    config = _training(realspace_mae_weight=0.5, realspace_weight=0.0)
    update_legacy_dict(fresh_params, config)  # never validates
    with pytest.raises(AssertionError):
        fresh_params.set("label", "x")


def test_derived_keys(fresh_params):
    # N=128, gridsize=2, offset=4, max_position_jitter=10
    assert fresh_params.get_bigN() == 128 + 1 * 4
    assert fresh_params.get_padding_size() == 1 * 4 + 10
    assert fresh_params.get_padded_size() == 132 + 10
    fresh_params["gridsize"] = 3
    assert fresh_params.get_bigN() == 128 + 2 * 4


def test_get_bign_caches_it_and_params_returns_copy_plus_bign(fresh_params):
    copy = fresh_params.params()
    assert copy["bigN"] == 132 and "bigN" not in fresh_params
    copy["N"] = 1
    assert fresh_params["N"] == 128
    assert fresh_params.get("bigN") == 132
    assert fresh_params["bigN"] == 132


def test_snapshot_restore_round_trip(fresh_params):
    state = fresh_params.snapshot()
    update_legacy_dict(fresh_params, _training(train_data_file="a.npz"))
    fresh_params["extra"] = [1]
    fresh_params.restore(state)
    assert dict(fresh_params) == IMPORT_DEFAULTS
    assert fresh_params.populated_from is None


def test_clear_and_reset(fresh_params):
    update_legacy_dict(fresh_params, _training())
    fresh_params.clear()
    assert len(fresh_params) == 0 and fresh_params.populated_from is None
    fresh_params.reset()
    assert dict(fresh_params) == IMPORT_DEFAULTS


def test_cfg_property_is_the_dict_itself(fresh_params):
    fresh_params.cfg["N"] = 64
    assert fresh_params["N"] == 64


# -- (c) translation -------------------------------------------------------------------------


def test_to_legacy_training_emits_35_keys_in_spec_order():
    d = to_legacy(_training())
    non_model = [
        "batch_size", "nepochs", "mae_weight", "nll_weight", "realspace_mae_weight",
        "realspace_weight", "nphotons", "n_groups", "n_images", "n_subsample", "subsample_seed",
        "neighbor_count", "enable_oversampling", "neighbor_pool_size", "sequential_sampling",
        "backend", "torch_loss_mode",
    ]  # fmt: skip
    model_unmapped = [k for k in MODEL_KEYS if "." not in k]
    mapped = list(MAPPED.values())
    assert list(d) == non_model + model_unmapped + mapped
    assert len(d) == 35  # upstream 34, plus the project's combine_mode
    assert sum(v is not None for v in d.values()) == 29  # upstream 28


def test_to_legacy_inference_emits_24_keys():
    d = to_legacy(_inference())
    assert len(d) == 24  # upstream 23, plus combine_mode
    assert set(d) == {
        "model_path", "n_groups", "n_images", "n_subsample", "subsample_seed", "neighbor_count",
        "enable_oversampling", "neighbor_pool_size", "debug", "backend", *MODEL_KEYS,
        "output_prefix", "test_data_file_path",
    }  # fmt: skip
    assert sum(v is not None for v in d.values()) == 19  # upstream 18
    assert list(d)[-2:] == ["output_prefix", "test_data_file_path"]


def test_to_legacy_keeps_none_and_model_path_as_path():
    d = to_legacy(_inference(model_path=Path("m/dir")))
    assert d["model_path"] == Path("m/dir") and isinstance(d["model_path"], Path)
    assert d["n_groups"] is None
    assert d["test_data_file_path"] == "test.npz"  # mapped Path -> str
    assert d["output_prefix"] == "inference_outputs"


def test_to_legacy_is_pure():
    config = _training(train_data_file="x.npz")
    before = repr(config)
    to_legacy(config)
    assert repr(config) == before


def test_to_legacy_snapshot_stringifies_every_path_keeps_none():
    snap = to_legacy_snapshot(_inference(model_path=Path("m")))
    assert snap["model_path"] == "m"
    assert snap["n_groups"] is None
    assert not any(isinstance(v, Path) for v in snap.values())


def test_to_legacy_model_config_alone():
    d = to_legacy(ModelConfig(object_big=False))
    assert list(d) == [k for k in MODEL_KEYS if "." not in k] + [
        "object.big",
        "probe.big",
        "probe.mask",
    ]
    assert d["object.big"] is False


def test_to_legacy_rejects_non_dataclass():
    with pytest.raises(TypeError, match="canonical config"):
        to_legacy({"N": 64})


def test_update_skips_none_keeps_old_value_and_stringifies_paths(fresh_params):
    fresh_params["n_subsample"] = 77
    update_legacy_dict(fresh_params, _training(train_data_file=Path("data/train.npz")))
    assert fresh_params["n_subsample"] == 77  # None skipped
    assert "n_images" not in fresh_params and "test_data_file_path" not in fresh_params
    assert fresh_params["train_data_file_path"] == "data/train.npz"
    assert fresh_params["output_prefix"] == "training_outputs"


def test_update_model_path_becomes_str(fresh_params):
    update_legacy_dict(fresh_params, _inference(model_path=Path("bundle_dir")))
    assert fresh_params["model_path"] == "bundle_dir"


def test_update_returns_none_never_deletes_or_derives(fresh_params):
    fresh_params["custom"] = 1
    assert update_legacy_dict(fresh_params, _training()) is None
    assert fresh_params["custom"] == 1
    assert "bigN" not in fresh_params
    assert set(IMPORT_DEFAULTS) <= set(fresh_params)


def test_update_key_order_existing_keep_place_new_appended(fresh_params):
    before = list(fresh_params)
    update_legacy_dict(fresh_params, _training(train_data_file="t.npz"))
    keys = list(fresh_params)
    assert keys[: len(before)] == before
    assert keys[len(before) :] == [
        "n_groups", "neighbor_count", "enable_oversampling", "sequential_sampling", "backend",
        "torch_loss_mode", "combine_mode", "train_data_file_path",
    ]  # fmt: skip


def test_update_works_on_a_plain_dict():
    target: dict = {}
    update_legacy_dict(target, _training())
    assert target["N"] == 64 and "n_images" not in target


def test_training_then_inference_last_call_wins(fresh_params):
    training = _training(
        train_data_file="train.npz", test_data_file="train_test.npz", n_subsample=10,
        neighbor_count=5, output_dir="train_out", subsample_seed=1,
    )  # fmt: skip
    inference = _inference(
        test_data_file="infer.npz", neighbor_count=9, output_dir="infer_out", debug=False,
        backend="pytorch", model=ModelConfig(N=128),
    )  # fmt: skip
    update_legacy_dict(fresh_params, training)
    update_legacy_dict(fresh_params, inference)
    assert fresh_params["test_data_file_path"] == "infer.npz"
    assert fresh_params["output_prefix"] == "infer_out"
    assert fresh_params["neighbor_count"] == 9
    assert fresh_params["debug"] is False and fresh_params["backend"] == "pytorch"
    assert fresh_params["N"] == 128
    assert fresh_params["model_path"] == "model_dir"
    # inference left these None: the training values survive
    assert fresh_params["n_subsample"] == 10 and fresh_params["subsample_seed"] == 1
    assert fresh_params["n_groups"] == 512
    assert fresh_params["train_data_file_path"] == "train.npz"
    assert fresh_params["nepochs"] == 50


def test_n_images_and_n_groups_both_reach_the_dict(fresh_params):
    with pytest.warns(DeprecationWarning):
        config = _training(n_images=64)
    update_legacy_dict(fresh_params, config)
    assert fresh_params["n_images"] == 64 and fresh_params["n_groups"] == 64


# -- population tracking, save gate ----------------------------------------------------------


def test_update_marks_populated_from_canonical(fresh_params):
    update_legacy_dict(fresh_params, _training())
    assert fresh_params.populated_from == "canonical"


def test_restore_from_bundle_overwrites_none_drops_bign_marks_bundle(fresh_params):
    fresh_params["kept"] = "x"
    fresh_params.restore_from_bundle({"N": 256, "n_groups": None, "bigN": 999, "_version": "1"})
    assert fresh_params["N"] == 256 and fresh_params["n_groups"] is None
    assert "bigN" not in fresh_params and "_version" not in fresh_params
    assert fresh_params["kept"] == "x"
    assert fresh_params.populated_from == "bundle"


def test_mark_populated_rejects_unknown_source(fresh_params):
    with pytest.raises(ValueError, match="population source"):
        fresh_params.mark_populated("import")


def test_populate_warns_only_when_already_populated(fresh_params):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        populate_legacy_params(_training(), fresh_params)
    with pytest.warns(UserWarning, match="already populated"):
        populate_legacy_params(_training(), fresh_params)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        populate_legacy_params(_training(), fresh_params, force=True)


def test_populate_defaults_to_the_singleton():
    populate_legacy_params(_training(model=ModelConfig(N=256)), force=True)
    assert legacy.params["N"] == 256 and legacy.params.populated_from == "canonical"


def test_save_gate_refuses_import_defaults(fresh_params):
    with pytest.raises(ValueError) as info:
        check_save_gate(fresh_params)
    text = str(info.value)
    assert "update_legacy_dict" in text and "not populated from a canonical config" in text
    assert "unreloadable bundle" in text and "backend" in text  # backend absent at import


def test_save_gate_refuses_empty_dict(fresh_params):
    fresh_params.clear()
    with pytest.raises(ValueError, match="empty"):
        check_save_gate(fresh_params)


def test_save_gate_names_missing_keys(fresh_params):
    update_legacy_dict(fresh_params, _training())
    fresh_params["probe.mask"] = None
    del fresh_params["nphotons"]
    with pytest.raises(ValueError, match=r"probe\.mask, nphotons"):
        check_save_gate(fresh_params)


def test_save_gate_passes_after_update(fresh_params):
    update_legacy_dict(fresh_params, _training())
    check_save_gate(fresh_params)


def test_save_gate_refuses_bundle_population(fresh_params):
    update_legacy_dict(fresh_params, _training())
    fresh_params.restore_from_bundle({"N": 64})
    with pytest.raises(ValueError, match="populated_from='bundle'"):
        check_save_gate(fresh_params)


# -- properties ------------------------------------------------------------------------------


def _expected_legacy(config) -> dict:
    """The translation written out from spec (c), independently of the implementation."""
    fields = {k: v for k, v in vars(config).items() if k != "model"}
    model = dict(vars(config.model))
    merged = {**fields, **model}
    out = {k: v for k, v in merged.items() if k not in MAPPED}
    for name, key in MAPPED.items():
        if name in merged:
            value = merged[name]
            out[key] = str(value) if isinstance(value, Path) else value
    return out


@given(training_configs())
def test_property_training_translation(config):
    d = to_legacy(config)
    assert d == _expected_legacy(config)
    assert list(d) == list(_expected_legacy(config))
    assert len(d) == 35


@given(inference_configs())
def test_property_inference_translation_and_update(config):
    d = to_legacy(config)
    assert d == _expected_legacy(config) and len(d) == 24
    target = LegacyParams()
    before = dict(target)
    update_legacy_dict(target, config)
    for key, value in d.items():
        if value is None:
            assert target.get(key, "absent") == before.get(key, "absent")
        else:
            assert target[key] == (str(value) if isinstance(value, Path) else value)
    for key in before:
        if key not in d:
            assert target[key] == before[key]
