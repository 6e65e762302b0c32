"""Sweep files: expansion into cells, invalid cells, clear errors for bad files; knob coverage."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from parity import knobs
from parity.cli import main
from parity.errors import InputError
from parity.sweep import spec
from parity.sweep.execute import plan

HERE = Path(__file__).parent
FAKE = str(HERE / "fake_scenario.toml")


def _sweep(text: str, tmp_path: Path, name: str = "s.toml") -> Path:
    path = tmp_path / name
    path.write_text(f'scenario = "{FAKE}"\n' + text, encoding="utf-8")
    return path


def test_grid_is_the_product_and_seeds_multiply(tmp_path: Path) -> None:
    path = _sweep(
        "seeds = [3, 4]\n[grid]\nlearning_rate = [1e-3, 3e-4]\ngridsize = [1, 2]\n", tmp_path
    )
    cells = spec.load(path).cells()
    assert len(cells) == 8
    assert [c.seed for c in cells[:2]] == [3, 4]
    assert cells[1].overrides == {"learning_rate": 1e-3, "gridsize": 1}
    sc = cells[7].scenario
    assert sc.run.learning_rate == 3e-4
    assert sc.config["model"]["gridsize"] == 2
    assert (sc.seeds.data, sc.seeds.weights, sc.seeds.ops) == (4, 4, 4)


def test_explicit_cells_dotted_paths_and_dataset(tmp_path: Path) -> None:
    path = _sweep(
        "[[cells]]\n\"config.model.N\" = 128\ndataset = 'builtin:lines-128'\n"
        '[[cells]]\n"run.train_steps" = 2\nnll_weight = 0.25\n',
        tmp_path,
    )
    a, b = spec.load(path).cells()
    assert a.scenario.config["model"]["N"] == 128
    assert (a.scenario.dataset, a.scenario.test_dataset) == (
        "builtin:lines-128",
        "builtin:lines-128:test",
    )
    assert b.scenario.run.train_steps == 2
    assert b.scenario.config["nll_weight"] == 0.25


def test_content_ids_depend_on_what_runs_only(tmp_path: Path) -> None:
    one = spec.load(_sweep("[grid]\nlearning_rate = [1e-3, 3e-4]\n", tmp_path, "a.toml"))
    two = spec.load(_sweep('name = "other"\n[grid]\nlearning_rate = [3e-4]\n', tmp_path, "b.toml"))
    ids_one = [p.id for p in plan(one)]
    assert len(set(ids_one)) == 2
    assert plan(two)[0].id == ids_one[1]  # same scenario, backends, version: same cell
    assert plan(two, inject=["learning-rate-ignored"])[0].id != ids_one[1]


def test_rejected_combination_is_an_invalid_cell(tmp_path: Path) -> None:
    path = _sweep("[grid]\nnll_weight = [0.5, 2.0]\n", tmp_path)
    good, bad = spec.load(path).cells()
    assert good.scenario is not None and not good.problem
    assert bad.scenario is None
    assert "nll_weight" in bad.problem and "[0, 1]" in bad.problem


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        (
            "[grid]\nlerning_rate = [1e-3]\n",
            "unknown field 'lerning_rate' in [grid]; did you mean 'learning_rate'",
        ),
        (
            "[[cells]]\ngrid_size = 2\n",
            "unknown field 'grid_size' in [[cells]] #1; did you mean 'gridsize'",
        ),
        (
            "[sample]\ncount = 2\n[sample.fields]\nnll = { uniform = [0, 1] }\n",
            "unknown field 'nll' in [sample.fields]",
        ),
        ("gird = 1\n", "unknown key 'gird' in the top level; did you mean 'grid'"),
        ('checks = ["regression"]\n', "check 'regression' cannot run in sweep cells"),
        ("[sample]\n[sample.fields]\nnll_weight = { normal = [0, 1] }\n", "unknown key 'normal'"),
    ],
)
def test_bad_sweep_file_names_file_and_field(
    text: str, needle: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _sweep(text, tmp_path)
    with pytest.raises(InputError) as info:
        spec.load(path)
    assert str(path) in str(info.value) and needle in str(info.value)
    assert main(["sweep", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_unknown_sweep_name_suggests(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sweep", "knob"]) == 2
    assert "did you mean 'knobs'" in capsys.readouterr().err


@given(
    seed=st.integers(0, 2**31),
    count=st.integers(1, 6),
    lo=st.floats(1e-6, 1e-2),
    span=st.floats(1.0, 1e3),
)
def test_sampled_values_are_in_range_and_reproducible(
    seed: int, count: int, lo: float, span: float
) -> None:
    raw = {
        "scenario": FAKE,
        "sample": {
            "count": count,
            "seed": seed,
            "fields": {
                "learning_rate": {"log_uniform": [lo, lo * span]},
                "nll_weight": {"uniform": [0.1, 0.9]},
                "amp_activation": {"choice": ["swish", "relu"]},
                "neighbor_count": {"int_uniform": [3, 6]},
            },
        },
    }
    first, again = spec.from_dict(raw).configurations, spec.from_dict(raw).configurations
    assert first == again and len(first) == count
    for c in first:
        assert lo * (1 - 1e-12) <= c["learning_rate"] <= lo * span * (1 + 1e-12)
        assert 0.1 <= c["nll_weight"] <= 0.9
        assert c["amp_activation"] in ("swish", "relu")
        assert c["neighbor_count"] in range(3, 7)


def test_knobs_sweep_sets_every_field_to_a_non_default_value() -> None:
    sweep = spec.load("knobs")
    runs = []
    for cell in sweep.cells():
        assert cell.scenario is not None, cell.problem
        runs.append(knobs.used_values(cell.scenario.config, cell.scenario.run.learning_rate))
    coverage = knobs.coverage(runs)
    assert knobs.missing(coverage) == []
    by_field = {k.field: k for k in coverage}
    # the defects of the knobs sweep need these exact non-default values
    assert by_field["learning_rate"].exercised
    assert any(not math.isclose(float(v), 1.0) for v in by_field["nll_weight"].values)
    assert False in by_field["intensity_scale_trainable"].values


def test_coverage_by_hand() -> None:
    runs = [
        knobs.used_values({"model": {"gridsize": 2}, "nll_weight": 1.0}, 1e-3),
        knobs.used_values({"model": {"gridsize": 1}}, 3e-4),
    ]
    by_field = {k.field: k for k in knobs.coverage(runs)}
    assert by_field["gridsize"].exercised and by_field["gridsize"].values == (2, 1)
    assert not by_field["nll_weight"].exercised  # 1.0 is the default
    assert by_field["learning_rate"].values == (1e-3, 3e-4)
    assert not by_field["object_big"].exercised and by_field["object_big"].default is True
    assert "probe_trainable" not in knobs.missing(by_field.values())
    assert "object_big" in knobs.missing(by_field.values())
