"""Config files (TOML, YAML, JSON), unknown keys, type errors, atomic writes, overrides."""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings

from backends.config import InferenceConfig, ModelConfig, TrainingConfig, io
from backends.safeio import ConfigFileError
from tests.backends.config.strategies import inference_configs, training_configs

pytestmark = pytest.mark.filterwarnings("ignore:N=.*outside the sizes:UserWarning")

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_toml_layout_top_level_plus_model_table(tmp_path):
    path = _write(tmp_path / "c.toml", 'nepochs = 2\ntrain_data_file = "d.npz"\n[model]\nN = 128\n')
    config = io.load_config(path)
    assert isinstance(config, TrainingConfig)
    assert config.nepochs == 2 and config.model.N == 128
    assert config.train_data_file == Path("d.npz")
    assert config.batch_size == 16 and config.model.gridsize == 1  # defaults fill the rest


def test_yaml_and_json_same_layout(tmp_path):
    y = _write(tmp_path / "c.yaml", "nepochs: 3\nmodel:\n  gridsize: 2\n")
    j = _write(tmp_path / "c.json", json.dumps({"nepochs": 3, "model": {"gridsize": 2}}))
    assert io.load_config(y) == io.load_config(j)
    assert io.load_config(y).model.gridsize == 2


def test_yml_extension_accepted(tmp_path):
    assert io.load_config(_write(tmp_path / "c.yml", "nepochs: 4\n")).nepochs == 4


def test_empty_yaml_gives_defaults(tmp_path):
    assert io.load_config(_write(tmp_path / "c.yaml", "")) == TrainingConfig(model=ModelConfig())


def test_inference_detected_by_model_path(tmp_path):
    path = _write(tmp_path / "i.toml", 'model_path = "m"\ntest_data_file = "t.npz"\n')
    config = io.load_config(path)
    assert isinstance(config, InferenceConfig) and config.model_path == Path("m")
    assert config.n_groups is None


def test_inference_kind_requires_its_fields(tmp_path):
    path = _write(tmp_path / "i.toml", 'model_path = "m"\n')
    with pytest.raises(ValueError, match=r"i\.toml: an inference config needs test_data_file"):
        io.load_config(path)


def test_unknown_key_suggests_closest_and_names_file(tmp_path):
    path = _write(tmp_path / "c.toml", "nepoch = 2\n")
    with pytest.raises(ValueError) as info:
        io.load_config(path)
    text = str(info.value)
    assert text.startswith(str(path)) and "'nepoch'" in text and "did you mean 'nepochs'?" in text


def test_unknown_model_key_suggests_model_field(tmp_path):
    path = _write(tmp_path / "c.toml", "[model]\ngrid_size = 2\n")
    with pytest.raises(
        ValueError, match=r"\[model\]: unknown key 'grid_size'; did you mean 'gridsize'"
    ):
        io.load_config(path)


def test_unknown_key_without_close_match_lists_known_keys(tmp_path):
    path = _write(tmp_path / "c.toml", "zzz = 1\n")
    with pytest.raises(ValueError, match=r"known keys: .*nepochs"):
        io.load_config(path)


def test_model_key_at_top_level_says_where_it_belongs(tmp_path):
    path = _write(tmp_path / "c.toml", "N = 64\n")
    with pytest.raises(ValueError, match="key 'N' belongs in the \\[model\\] table"):
        io.load_config(path)


def test_training_key_in_model_table_says_where_it_belongs(tmp_path):
    path = _write(tmp_path / "c.toml", "[model]\nnepochs = 3\n")
    with pytest.raises(ValueError, match="key 'nepochs' belongs at the top level"):
        io.load_config(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('nepochs = "2"', "field 'nepochs' must be an integer, got str '2'"),
        ("nphotons = true", "field 'nphotons' must be a number, got bool True"),
        ("positions_provided = 1", "field 'positions_provided' must be a boolean"),
        ("train_data_file = 3", "field 'train_data_file' must be a path"),
        ("[model]\nN = 64.5", "field 'N' must be an integer, got float 64.5"),
        ('[model]\namp_activation = "silu"', "field 'amp_activation': 'silu' is not allowed"),
        ('backend = "jax"', "field 'backend': 'jax' is not allowed; choose one of: tensorflow"),
    ],
)
def test_type_errors_name_the_field_and_the_file(tmp_path, text, message):
    path = _write(tmp_path / "c.toml", text + "\n")
    with pytest.raises(ValueError) as info:
        io.load_config(path)
    assert str(info.value).startswith(str(path))
    assert message in str(info.value)


def test_model_table_must_be_a_table(tmp_path):
    with pytest.raises(ValueError, match="'model' must be a table"):
        io.load_config(_write(tmp_path / "c.json", '{"model": 3}'))


def test_file_must_hold_a_mapping(tmp_path):
    with pytest.raises(ValueError, match="must hold a mapping"):
        io.load_config(_write(tmp_path / "c.json", "[1, 2]"))


def test_validation_errors_are_prefixed_with_the_path(tmp_path):
    path = _write(tmp_path / "c.toml", "batch_size = 12\n")
    with pytest.raises(ValueError, match=rf"^{path}: batch_size=12"):
        io.load_config(path)
    assert io.load_config(path, validate=False).batch_size == 12


def test_constructor_errors_are_prefixed(tmp_path):
    path = _write(tmp_path / "c.toml", "[model]\nN = 0\n")
    with pytest.raises(ValueError, match=rf"^{path}: N=0"):
        io.load_config(path)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="config file not found"):
        io.load_config(tmp_path / "absent.toml")


def test_unsupported_extension(tmp_path):
    with pytest.raises(ValueError, match=r"unsupported config file extension '\.ini'"):
        io.load_config(_write(tmp_path / "c.ini", ""))


@pytest.mark.parametrize(
    ("name", "text", "cause"),
    [
        ("c.toml", "nepochs = = 2\n", tomllib.TOMLDecodeError),
        ("c.json", "{nepochs: 2}", json.JSONDecodeError),
        ("c.yaml", "nepochs: [2\n", yaml.YAMLError),
    ],
)
def test_syntax_error_is_a_config_file_error_naming_the_file(tmp_path, name, text, cause):
    path = _write(tmp_path / name, text)
    with pytest.raises(ConfigFileError, match=rf"^config file {path}: is not valid") as info:
        io.load_config(path)
    assert isinstance(info.value, ValueError) and info.value.path == str(path)
    assert isinstance(info.value.__cause__, cause)


def test_yaml_loader_is_safe(tmp_path):
    marker = tmp_path / "executed"
    path = _write(
        tmp_path / "c.yaml",
        f"nepochs: !!python/object/apply:os.mkdir ['{marker}']\n",
    )
    with pytest.raises(ConfigFileError) as info:
        io.load_config(path)
    assert isinstance(info.value.__cause__, yaml.YAMLError)
    assert not marker.exists()


@pytest.mark.parametrize("suffix", [".toml", ".yaml", ".json"])
def test_write_then_read_round_trip_examples(tmp_path, suffix):
    config = TrainingConfig(
        model=ModelConfig(N=128, gridsize=2, probe_mask=True, probe_scale=2.5),
        train_data_file=Path("a/train.npz"),
        nphotons=5e8,
        subsample_seed=3,
    )
    path = io.write_config(config, tmp_path / f"c{suffix}")
    assert io.load_config(path) == config


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(config=training_configs())
def test_property_round_trip_every_format_training(tmp_path, config):
    for suffix in (".toml", ".yaml", ".json"):
        text = io.dumps_config(config, io.FORMATS[suffix])
        data = {".toml": tomllib.loads, ".yaml": yaml.safe_load, ".json": json.loads}[suffix](text)
        assert io.config_from_dict(data, validate=False) == config


@given(config=inference_configs())
def test_property_round_trip_inference_dict(config):
    data = io.config_to_dict(config)
    assert io.config_from_dict(data, validate=False) == config


def test_written_toml_layout(tmp_path):
    path = io.write_config(TrainingConfig(model=ModelConfig(N=128)), tmp_path / "c.toml")
    data = tomllib.loads(path.read_text())
    assert data["model"]["N"] == 128 and data["nepochs"] == 50
    assert "train_data_file" not in data  # None values are left out


def test_atomic_write_leaves_old_file_on_failure(tmp_path, monkeypatch):
    path = io.write_config(TrainingConfig(model=ModelConfig()), tmp_path / "c.toml")
    before = path.read_bytes()

    def failing_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr("backends.core.files.os.replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        io.write_config(TrainingConfig(model=ModelConfig(N=256)), path)
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["c.toml"]  # no temporary file left behind


def test_write_creates_directories(tmp_path):
    path = io.write_config(TrainingConfig(model=ModelConfig()), tmp_path / "a" / "b" / "c.json")
    assert json.loads(path.read_text())["backend"] == "tensorflow"


def test_examples_load_and_validate():
    names = sorted(p.name for p in EXAMPLES.glob("*.toml"))
    assert {"default.toml", "gridsize2.toml", "n128.toml"} <= set(names)
    for path in EXAMPLES.glob("*.toml"):
        config = io.load_config(path)
        assert config.train_data_file is not None


# -- command-line overrides ------------------------------------------------------------------


def test_apply_overrides_cli_wins():
    base = TrainingConfig(model=ModelConfig(), nepochs=10)
    new = io.apply_overrides(base, {"nepochs": 3, "gridsize": 2, "model.N": 128})
    assert (new.nepochs, new.model.gridsize, new.model.N) == (3, 2, 128)
    assert base.nepochs == 10 and base.model.gridsize == 1  # not mutated


def test_apply_overrides_from_text_parses_by_type():
    new = io.apply_overrides(
        TrainingConfig(model=ModelConfig()),
        {"nepochs": "7", "nphotons": "1e6", "probe_trainable": "true", "test_data_file": "t.npz",
         "subsample_seed": "none", "model.object_big": "false"},
        from_text=True,
    )  # fmt: skip
    assert new.nepochs == 7 and new.nphotons == 1e6 and new.probe_trainable is True
    assert new.test_data_file == Path("t.npz") and new.subsample_seed is None
    assert new.model.object_big is False


def test_apply_overrides_none_means_not_given():
    base = TrainingConfig(model=ModelConfig(), nepochs=10)
    assert io.apply_overrides(base, {"nepochs": None}).nepochs == 10


def test_apply_overrides_unknown_key_suggests():
    with pytest.raises(ValueError, match="unknown key 'nepoch'; did you mean 'nepochs'"):
        io.apply_overrides(TrainingConfig(model=ModelConfig()), {"nepoch": 1})


def test_apply_overrides_bad_text_names_field():
    with pytest.raises(ValueError, match="field 'nepochs' must be an integer, got the text 'x'"):
        io.apply_overrides(TrainingConfig(model=ModelConfig()), {"nepochs": "x"}, from_text=True)


def test_apply_overrides_n_images_alias():
    with pytest.warns(DeprecationWarning, match="n_images"):
        new = io.apply_overrides(TrainingConfig(model=ModelConfig()), {"n_images": 32})
    assert (new.n_groups, new.n_images) == (32, 32)


def test_apply_overrides_literal_checked():
    with pytest.raises(ValueError, match="'sigmoidal' is not allowed"):
        io.apply_overrides(TrainingConfig(model=ModelConfig()), {"amp_activation": "sigmoidal"})


def test_kind_and_format_errors():
    with pytest.raises(ValueError, match="kind='eval' is not allowed"):
        io.config_from_dict({}, kind="eval")
    with pytest.raises(ValueError, match="format 'ini' is not allowed"):
        io.dumps_config(TrainingConfig(model=ModelConfig()), "ini")


def test_load_typed_helpers(tmp_path):
    training = _write(tmp_path / "t.toml", "nepochs = 2\n")
    inference = _write(tmp_path / "i.toml", 'model_path = "m"\ntest_data_file = "t"\n')
    assert isinstance(io.load_training_config(training), TrainingConfig)
    assert isinstance(io.load_inference_config(inference), InferenceConfig)
