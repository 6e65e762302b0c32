"""Scenarios: the built-ins, validation messages, hashing, inheritance."""

from __future__ import annotations

from pathlib import Path

import pytest

from parity import scenario
from parity.errors import InputError

BUILTINS = {
    "smoke",
    "default",
    "signoff",
    "gridsize2",
    "object_big_off",
    "probe_big_off",
    "probe_mask",
    "smoothing",
    "n128",
}


def test_every_builtin_loads_and_validates() -> None:
    assert set(scenario.builtin_names()) >= BUILTINS
    for name in scenario.builtin_names():
        sc = scenario.load(name)
        assert sc.name == name
        cfg = sc.training_config()
        assert cfg.model.N in (64, 128, 256)
        assert sc.description


def test_variants_change_exactly_their_model_field() -> None:
    base = scenario.load("default").model_config()
    expected = {
        "gridsize2": ("gridsize", 2),
        "object_big_off": ("object_big", False),
        "probe_big_off": ("probe_big", False),
        "probe_mask": ("probe_mask", True),
        "smoothing": ("gaussian_smoothing_sigma", 0.5),
        "n128": ("N", 128),
    }
    for name, (field, value) in expected.items():
        cfg = scenario.load(name).model_config()
        assert getattr(cfg, field) == value
        assert getattr(base, field) != value
    assert scenario.load("n128").dataset == "builtin:lines-128"


def test_signoff_adds_convergence_with_several_seeds() -> None:
    sc = scenario.load("signoff")
    assert "convergence" in sc.checks and len(sc.convergence.seeds) >= 3
    assert sc.convergence.init == "shared"
    assert "convergence" not in scenario.load("default").checks


def test_convergence_model_overrides_only_the_convergence_trainings(tmp_path: Path) -> None:
    sc = scenario.load("signoff")
    assert sc.convergence_model_config().n_filters_scale == 1
    assert sc.model_config().n_filters_scale == 2  # every other check: the default model
    assert scenario.from_json(sc.to_dict()).convergence.model == {"n_filters_scale": 1}
    base = 'extends = "signoff"\nname = "x"\n'
    wider = scenario.load(_write(tmp_path, base + "[convergence.model]\nn_filters_scale = 2\n"))
    assert wider.hash != sc.hash  # a different trained network: traces do not compare
    with pytest.raises(InputError, match=r"\[convergence.model\].*did you mean 'n_filters_scale'"):
        scenario.load(_write(tmp_path, base + "[convergence.model]\nn_filter_scale = 1\n"))
    with pytest.raises(InputError, match=r"s\.toml: invalid \[convergence.model\]"):
        scenario.load(_write(tmp_path, base + "[convergence.model]\nn_filters_scale = 0\n"))
    with pytest.raises(InputError, match=r"\[convergence.model\] must be a table"):
        scenario.load(_write(tmp_path, base + "[convergence]\nmodel = 1\n"))


def test_test_dataset_defaults_to_the_builtin_test_file() -> None:
    assert scenario.load("default").test_dataset == "builtin:lines-phase-64:test"


def test_unknown_scenario_suggests_the_closest() -> None:
    with pytest.raises(InputError, match="did you mean 'default'"):
        scenario.load("defualt")


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "s.toml"
    path.write_text(text)
    return path


def test_unknown_keys_name_the_closest_key(tmp_path: Path) -> None:
    base = 'name = "x"\ndataset = "builtin:lines-64"\n'
    cases = {
        "[run]\nbatch_sise = 2\n": "did you mean 'batch_size'",
        "[config.model]\ngridsise = 2\n": "did you mean 'gridsize'",
        "[config]\nn_group = 2\n": "did you mean 'n_groups'",
        'chekcs = ["ops"]\n': "did you mean 'checks'",
        'checks = ["forwrd"]\n': "did you mean 'forward'",
        "[seeds]\nweight = 1\n": "did you mean 'weights'",
    }
    for extra, message in cases.items():
        with pytest.raises(InputError, match=message):
            scenario.load(_write(tmp_path, base + extra))


def test_invalid_values_are_reported_with_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path, 'name = "x"\ndataset = "builtin:lines-64"\n[config]\nbatch_size = 3\n')
    with pytest.raises(InputError, match=r"s\.toml.*batch_size=3"):
        scenario.load(path)
    path = _write(tmp_path, 'name = "x"\n')
    with pytest.raises(InputError, match="dataset"):
        scenario.load(path)
    path = _write(tmp_path, 'name = "x"\ndataset = "d"\n[config]\ngridsize = 2\n')
    with pytest.raises(InputError, match=r"\[config.model\]"):
        scenario.load(path)
    path = _write(tmp_path, 'name = "x"\ndataset = "d"\n[convergence]\ninit = "random"\n')
    with pytest.raises(InputError, match=r"s\.toml.*\[convergence\]\.init.*shared, own.*'random'"):
        scenario.load(path)


def test_extends_and_hash(tmp_path: Path) -> None:
    path = _write(tmp_path, 'extends = "default"\nname = "mine"\n[config.model]\ngridsize = 2\n')
    sc = scenario.load(path)
    default = scenario.load("default")
    assert sc.run == default.run and sc.model_config().gridsize == 2
    assert sc.hash != default.hash
    assert scenario.load("default").hash == default.hash  # stable
    again = scenario.from_json(sc.to_dict())
    assert again.hash == sc.hash


def test_extends_cycle_is_refused(tmp_path: Path) -> None:
    a = tmp_path / "a.toml"
    b = tmp_path / "b.toml"
    a.write_text(f'extends = "{b}"\nname = "a"\ndataset = "d"\n')
    b.write_text(f'extends = "{a}"\nname = "b"\ndataset = "d"\n')
    with pytest.raises(InputError, match="cycle"):
        scenario.load(a)


def test_data_parallel_workers_count_only_where_the_family_runs() -> None:
    """A trace's identity holds the data-parallel worker count only where the scenario records
    the data_parallel family, so adding the setting left every other scenario's hash alone."""
    import dataclasses

    from parity import scenario as scenarios

    smoke = scenarios.load("smoke")
    more = dataclasses.replace(smoke, run=dataclasses.replace(smoke.run, workers=3))
    assert more.hash == smoke.hash
    dp = scenarios.load("data-parallel")
    assert "data_parallel" in dp.checks
    changed = dataclasses.replace(dp, run=dataclasses.replace(dp.run, workers=3))
    assert changed.hash != dp.hash
