"""``parity diff-params``: examples pass, injected bridge defects fail naming the key, and
``--defaults`` reproduces the drift of docs/config.md (g)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from backends.config import bridge, snapshots
from parity.cli import main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.toml"))


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["diff-params", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def object_small_config(tmp_path) -> Path:
    path = tmp_path / "c.toml"
    path.write_text('train_data_file = "t.npz"\n[model]\nobject_big = false\n', encoding="utf-8")
    return path


def test_examples_exist():
    assert {"default.toml", "gridsize2.toml", "n128.toml"} <= {p.name for p in EXAMPLES}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_examples_exit_zero(capsys, path):
    code, out, _ = _run(capsys, str(path))
    assert code == 0, out
    assert "OK: the TensorFlow and PyTorch paths produce the same legacy params" in out
    assert "object.big" in out and "train_data_file_path" in out  # full side-by-side table


def test_backend_row_is_expected_not_a_failure(capsys):
    code, out, _ = _run(capsys, str(ROOT / "examples" / "default.toml"))
    line = next(line for line in out.splitlines() if line.startswith("backend "))
    assert "'tensorflow'" in line and "'pytorch'" in line and "expected" in line
    assert code == 0


def test_fields_travelling_through_overrides_are_listed(capsys, tmp_path):
    path = tmp_path / "c.toml"
    path.write_text(
        'train_data_file = "t.npz"\nmae_weight = 0.5\nnll_weight = 0.5\nnphotons = 1e5\n'
        '[model]\ncombine_mode = "legacy_rect"\n',
        encoding="utf-8",
    )
    code, out, _ = _run(capsys, str(path))
    assert code == 0
    line = next(line for line in out.splitlines() if line.startswith("Travelled"))
    for name in ("combine_mode='legacy_rect'", "mae_weight=0.5", "nll_weight=0.5", "nphotons=1e5"):
        assert name in line


def test_default_config_travels_natively(capsys):
    _code, out, _ = _run(capsys, str(ROOT / "examples" / "default.toml"))
    assert "Travelled through bridge overrides (not natively): none" in out


def test_injected_dropped_object_big_fails_naming_key(capsys, monkeypatch, object_small_config):
    original = bridge.to_model_config

    def dropping(data, model, overrides=None):
        config = original(data, model, overrides)
        fields = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
        del fields["object_big"]  # forwarded no more: the canonical default applies
        return type(config)(**fields)

    monkeypatch.setattr(bridge, "to_model_config", dropping)
    code, out, _ = _run(capsys, str(object_small_config))
    assert code == 1
    line = next(line for line in out.splitlines() if line.startswith("object.big"))
    assert "False" in line and "True" in line and "VALUE differs" in line
    assert "FAIL: 1 difference(s): object.big (value)" in out


def test_same_config_passes_without_the_defect(capsys, object_small_config):
    assert _run(capsys, str(object_small_config))[0] == 0


def test_injected_flipped_default_fails_naming_key(capsys, monkeypatch):
    monkeypatch.setitem(bridge.TRAINING_CONSTANTS, "positions_provided", False)
    code, out, _ = _run(capsys, str(ROOT / "examples" / "default.toml"), "--only-differences")
    assert code == 1
    assert "positions.provided" in out and "VALUE differs" in out
    assert "FAIL: 1 difference(s): positions.provided (value)" in out


def test_injected_type_defect_is_reported(capsys, monkeypatch):
    original = bridge.to_training_config

    def float_epochs(*args, **kwargs):
        return dataclasses.replace(original(*args, **kwargs), nepochs=50.0)

    monkeypatch.setattr(bridge, "to_training_config", float_epochs)
    code, out, _ = _run(capsys, str(ROOT / "examples" / "default.toml"))
    assert code == 1
    line = next(line for line in out.splitlines() if line.startswith("nepochs"))
    assert "TYPE differs (int vs float)" in line


def test_missing_and_extra_keys_are_reported(capsys, monkeypatch):
    original = snapshots.pytorch_snapshot

    def defective(config):
        snap = original(config)
        del snap.params["probe.big"]
        snap.params["stray_key"] = 1
        return snap

    monkeypatch.setattr(snapshots, "pytorch_snapshot", defective)
    code, out, _ = _run(capsys, str(ROOT / "examples" / "default.toml"), "--only-differences")
    assert code == 1
    assert "MISSING in pytorch path" in out and "EXTRA in pytorch path" in out
    assert "probe.big (missing)" in out and "stray_key (extra)" in out


def test_set_overrides_apply_and_yaml_json_accepted(capsys, tmp_path):
    y = tmp_path / "c.yaml"
    y.write_text("train_data_file: t.npz\nmodel:\n  gridsize: 2\n", encoding="utf-8")
    code, out, _ = _run(capsys, str(y), "--set", "nepochs=3", "--set", "model.N=128")
    assert code == 0
    assert next(x for x in out.splitlines() if x.startswith("nepochs ")).split()[1:3] == ["3", "3"]
    assert next(x for x in out.splitlines() if x.startswith("N ")).split()[1:3] == ["128", "128"]
    j = tmp_path / "c.json"
    j.write_text(json.dumps({"train_data_file": "t.npz"}), encoding="utf-8")
    assert _run(capsys, str(j))[0] == 0


def test_inference_config_is_compared(capsys, tmp_path):
    path = tmp_path / "i.toml"
    path.write_text('model_path = "m"\ntest_data_file = "t.npz"\ndebug = true\n', encoding="utf-8")
    code, out, _ = _run(capsys, str(path))
    assert code == 0 and "(inference config)" in out
    assert "model_path=" in out and "debug=True" in out  # inference fields travel as overrides


def test_bad_input_exits_two(capsys, tmp_path):
    assert _run(capsys)[0] == 2
    path = tmp_path / "c.toml"
    path.write_text("nepoch = 2\n", encoding="utf-8")
    code, _, err = _run(capsys, str(path))
    assert code == 2 and "did you mean 'nepochs'" in err
    assert _run(capsys, str(tmp_path / "absent.toml"))[0] == 2
    assert _run(capsys, "x.toml", "--set", "novalue")[0] == 2


def test_config_without_train_data_file_is_an_input_error(capsys, tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("nepochs = 2\n", encoding="utf-8")
    code, _, err = _run(capsys, str(path))
    assert code == 2 and "train_data_file is required" in err


def test_defaults_reproduce_the_documented_drift(capsys):
    code, out, _ = _run(capsys, "--defaults")
    assert code == 0
    drifting = {
        "N", "gridsize", "amp_activation", "object_big", "probe_big", "probe_mask", "probe_scale",
        "nepochs", "nphotons", "neighbor_count", "positions_provided",
        "intensity_scale_trainable", "output_dir", "debug", "n_groups", "n_subsample",
    }  # fmt: skip
    found = {line.split()[0] for line in out.splitlines() if line.endswith("drift (documented)")}
    assert found == drifting
    line = next(x for x in out.splitlines() if x.startswith("probe_scale "))
    assert line.split()[2:6] == ["4.0", "10.0", "1.0", "1.0"]
    line = next(x for x in out.splitlines() if x.startswith("nphotons "))
    assert line.split()[2:6] == ["1e9", "1e9", "1e5", "1e5"]
    assert "OK: 16 drifting fields, all documented" in out


def test_defaults_fail_on_undocumented_drift(capsys, monkeypatch):
    monkeypatch.setitem(bridge.TRAINING_CONSTANTS, "probe_trainable", True)
    code, out, _ = _run(capsys, "--defaults")
    assert code == 1
    assert "DRIFT NOT DOCUMENTED" in out
    assert "FAIL: drift not documented in docs/config.md (g): probe_trainable" in out
