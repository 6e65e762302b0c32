"""Hostile files handed to the commands: every one is an exit-2 error naming the file, never a
traceback; built-in scenarios carry no code references."""

from __future__ import annotations

import contextlib
import copy
import io
import json
import zipfile
from pathlib import Path

import h5py
import pytest
from hypothesis import given
from hypothesis import strategies as st

from backends.bundle import read_bundle
from backends.safeio import BundleFileError
from parity import scenario
from parity.cli import main
from parity.errors import InputError
from tests.backends.test_bundle import _rewrite, _write


def test_builtin_scenarios_reference_no_code() -> None:
    """``python:`` datasets and ``module:factory`` backends run code; built-ins use neither."""
    for name in scenario.builtin_names():
        sc = scenario.load(name)
        for spec in (sc.dataset, sc.test_dataset):
            assert not spec.startswith("python:"), (name, spec)
        text = (scenario.SCENARIO_DIR / f"{name}.toml").read_text()
        assert "python:" not in text and "backends =" not in text, name


def test_scenario_tolerance_must_be_finite(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    for value in ("nan", "inf", "-1.0"):
        path.write_text(f'extends = "smoke"\n[tolerances.ops]\nrtol = {value}\n', encoding="utf-8")
        with pytest.raises(InputError, match=r"rtol=.* must be a finite number >= 0"):
            scenario.load(path)


def test_deeply_nested_scenario(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text("x = " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(InputError, match="nested more than 64 levels"):
        scenario.load(path)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda m: m.update(models=None), r"manifest\.json: models': must be a list, got null"),
        (lambda m: m.update(payloads=[]), "payloads': must be a mapping, got list"),
        (lambda m: m.update(arrays={"probe": None}), "arrays.probe': must be a mapping"),
        (lambda m: m.update(intensity_scale=10**400), "too large for a floating-point"),
        (lambda m: m.update(extra_files=["a"]), "extra_files': must be a mapping"),
        (lambda m: m["payloads"]["diffraction_to_obj"].update(format=["x"]), "must be a string"),
    ],
)
def test_manifest_with_wrong_json_types(tmp_path: Path, mutate, message) -> None:
    good = _write(tmp_path / "good")
    bad = _rewrite(good, tmp_path / "bad" / "wts.h5.zip", manifest=mutate)
    with pytest.raises(BundleFileError, match=message):
        read_bundle(bad, expected_backend="tensorflow")


def test_report_json_of_the_wrong_shape(tmp_path: Path, capsys) -> None:
    path = tmp_path / "report.json"
    for text, message in (
        ("[1, 2]", "must be a mapping, got list"),
        ("[" * 10_000 + "]" * 10_000, "nested more than 64 levels"),
        ('{"format": 1, "traces": []}', "'traces': must be a mapping"),
    ):
        path.write_text(text)
        assert main(["report", str(path)]) == 2
        assert message in capsys.readouterr().err


def test_diff_bundles_on_a_hostile_archive(tmp_path: Path, capsys) -> None:
    good = _write(tmp_path / "good")
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad, "w", zipfile.ZIP_BZIP2) as zf:
        zf.writestr("manifest.json", json.dumps({}))
    assert main(["diff-bundles", str(good), str(bad)]) == 2
    assert "compression method 12" in capsys.readouterr().err


def test_compare_refuses_a_trace_with_a_link_loop(tmp_path: Path, capsys) -> None:
    path = tmp_path / "loop.h5"
    with h5py.File(path, "w") as f:
        f.create_group("meta").attrs["format_version"] = "1.0"
        f["tensors/a"] = h5py.SoftLink("/tensors/b")
        f["tensors/b"] = h5py.SoftLink("/tensors/a")
    assert main(["compare", str(path), str(path)]) == 2
    assert "is a soft link" in capsys.readouterr().err


@pytest.fixture(scope="module")
def report_json(tmp_path_factory) -> dict:
    from parity import engine
    from tests.parity.helpers import CAND, ORACLE, REF, fake_scenario

    out = tmp_path_factory.mktemp("report")
    result = engine.run_scenario(
        fake_scenario(checks=["params"]), [REF, CAND], out_root=out, oracle=ORACLE,
        formats=["json"],
    )  # fmt: skip
    return json.loads((result.report_dir / "report.json").read_text())


def _leaf_paths(doc, prefix=()):
    if isinstance(doc, dict):
        items = list(doc.items())
    elif isinstance(doc, list):
        items = list(enumerate(doc[:3]))
    else:
        return
    for key, value in items:
        yield (*prefix, key)
        yield from _leaf_paths(value, (*prefix, key))


@given(
    pick=st.integers(0, 10_000),
    value=st.sampled_from([None, [], {}, "x", 1, 2.5, True, [1, "a"], {"a": None}]),
)
def test_report_json_with_one_field_of_another_type(report_json, tmp_path_factory, pick, value):
    """Every field of a real report.json replaced in turn: rendered, or refused with exit 2."""
    doc = copy.deepcopy(report_json)
    paths = list(_leaf_paths(doc))
    path = paths[pick % len(paths)]
    target = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    folder = tmp_path_factory.mktemp("mutated")
    (folder / "report.json").write_text(json.dumps(doc))
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        code = main(["report", str(folder), "--format", "html,md,junit,csv"])
    assert code in (0, 1, 2)
