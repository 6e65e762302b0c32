"""The parity commands on the fake backends: exit codes 0 / 1 / 2 and their outputs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from parity.cli import main
from parity.defects import strip_params_key
from tests.parity.helpers import CAND, ORACLE, REF

SCENARIO = """
name = "clifake"
description = "fake backends"
dataset = "python:tests.parity.fakes:make_data"
checks = ["params", "ops", "forward", "bundles"]
[run]
batch_size = 1
op_batch = 1
[config]
n_groups = 4
[config.model]
N = 64
n_filters_scale = 1
"""


@pytest.fixture()
def scenario_file(tmp_path: Path) -> Path:
    path = tmp_path / "clifake.toml"
    path.write_text(SCENARIO)
    return path


def test_list(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "--defects"]) == 0
    out = capsys.readouterr().out
    assert "default" in out and "signoff" in out and "fftshift-dropped" in out


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["run", "defualt", "--out", str(tmp_path)]) == 2
    assert "did you mean 'default'" in capsys.readouterr().err
    assert main(["run", "smoke", "--backends", "tensorflow,jax"]) == 2
    assert main(["run", "smoke", "--inject", "nonsense"]) == 2
    assert main(["compare", str(tmp_path / "a.h5"), str(tmp_path / "b.h5")]) == 2
    assert main(["report", str(tmp_path)]) == 2


def _run_args(scenario_file: Path, out: Path) -> list[str]:
    """``parity run`` arguments: the fake scenario on the fake backends, reports under ``out``."""
    return [
        str(scenario_file),
        "--backends",
        f"{REF},{CAND}",
        "--oracle",
        ORACLE,
        "--out",
        str(out),
        "-q",
    ]


@pytest.mark.slow
def test_run_pass_fail_and_report(
    scenario_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "reports"
    common = _run_args(scenario_file, out)
    assert main(["run", *common]) == 0
    assert main(["run", *common, "--inject", "merge-clamped", "--format", "json,md"]) == 1
    text = capsys.readouterr().out
    assert "first divergent stage: padded_obj_2 (cumulative), padded_obj_2 (single-step)" in text
    runs = sorted(out.iterdir())
    assert len(runs) == 2
    failing = next(r for r in runs if not (r / "report.html").exists())
    assert (failing / "report.md").exists()
    rendered = tmp_path / "again"
    assert main(["report", str(failing), "--out", str(rendered), "--format", "html,csv"]) == 1
    assert (rendered / "report.html").exists() and (rendered / "findings.csv").exists()
    html = (rendered / "report.html").read_text()
    assert "data:image/png;base64," in html  # figures drawn from the run's traces


@pytest.mark.slow
def test_record_then_compare(scenario_file: Path, tmp_path: Path) -> None:
    a, b = tmp_path / "a.h5", tmp_path / "b.h5"
    assert (
        main(
            ["record", "--backend", REF, str(scenario_file), "-o", str(a), "--oracle", ORACLE, "-q"]
        )
        == 0
    )
    assert (
        main(
            [
                "record",
                "--backend",
                CAND,
                str(scenario_file),
                "-o",
                str(b),
                "--oracle",
                ORACLE,
                "--reference",
                str(a),
                "-q",
                "--inject",
                "bridge-drops-object-big",
            ]
        )
        == 0
    )
    assert main(["compare", str(a), str(a)]) == 0
    assert main(["compare", str(a), str(b), "--out", str(tmp_path / "cmp")]) == 1
    data = json.loads((tmp_path / "cmp" / "report.json").read_text())
    assert any(f["tensor"] == "object.big" and f["verdict"] == "fail" for f in data["findings"])
    assert main(["compare", str(a), str(b), "--checks", "ops"]) == 0
    assert main(["compare", str(a), str(b), "--scenario", "smoke"]) == 2


@pytest.mark.slow
def test_diff_bundles(
    scenario_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "reports"
    assert main(["run", *_run_args(scenario_file, out), "--format", "json"]) == 0
    run_dir = next(out.iterdir())
    bundles = sorted((run_dir / "bundles").iterdir())
    assert main(["diff-bundles", str(bundles[0]), str(bundles[1])]) == 0
    copy = tmp_path / "copy"
    shutil.copytree(bundles[1], copy)
    strip_params_key(copy / "wts.h5.zip", "probe_scale")
    capsys.readouterr()
    assert main(["diff-bundles", str(bundles[1]), str(copy)]) == 1
    assert "probe_scale" in capsys.readouterr().out
    assert main(["diff-bundles", str(tmp_path / "nowhere"), str(copy)]) == 2


@pytest.mark.slow
def test_baseline_update_and_check(scenario_file: Path, tmp_path: Path) -> None:
    base = tmp_path / "baselines"
    scenario = scenario_file.with_name("withregression.toml")
    scenario.write_text(
        SCENARIO.replace(
            'checks = ["params", "ops", "forward", "bundles"]',
            'checks = ["ops", "forward", "regression"]',
        )
    )
    args = [str(scenario), "--backends", REF, "--dir", str(base), "--oracle", ORACLE, "-q"]
    assert main(["baseline", "update", *args]) == 0
    stored = list(base.iterdir())
    assert len(stored) == 1 and stored[0].stat().st_size < 600_000
    assert main(["baseline", "check", *args]) == 0


def test_the_console_script_exits_with_the_commands_code_after_its_output() -> None:
    """``python -m parity`` (the console script's :func:`parity.cli.entry`) ends without the
    frameworks' teardown once a framework is loaded, with main's exit code and all output."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "parity", "run", "no-such-scenario"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "unknown scenario 'no-such-scenario'" in done.stderr


@pytest.mark.pytorch
def test_the_console_script_skips_teardown_but_not_output() -> None:
    import subprocess
    import sys

    pytest.importorskip("torch")
    code = (
        "import sys, torch\n"
        "from parity import cli\n"
        "cli.main = lambda: (print('last line', flush=False), 3)[1]\n"
        "cli.entry()\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert loaded.returncode == 3
    assert loaded.stdout.strip() == "last line"
