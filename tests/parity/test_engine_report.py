"""The engine end to end on the fake backends: report directory, formats, exit codes, isolation,
a dying subprocess, an interrupted run."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pandas as pd
import pytest

from parity import engine
from parity.report import FILE_NAMES
from tests.parity.helpers import CAND, ORACLE, REF, fake_scenario

SMALL = ["params", "ops", "forward", "inference", "training"]


def _run(tmp_path: Path, **kwargs):
    sc = kwargs.pop("scenario", None) or fake_scenario(checks=SMALL)
    return engine.run_scenario(
        sc,
        kwargs.pop("backends", [REF, CAND]),
        out_root=tmp_path / "reports",
        oracle=ORACLE,
        **kwargs,
    )


@pytest.mark.slow
def test_report_directory_has_every_format(tmp_path: Path) -> None:
    result = _run(tmp_path, command="parity run fake")
    assert result.exit_code == 0 and result.verdict == "pass"
    run_dir = result.report_dir
    assert run_dir is not None and run_dir.parent == tmp_path / "reports"
    assert run_dir.name.endswith("-fake") and run_dir.name[:8].isdigit() and "T" in run_dir.name
    assert [p.name for p in (tmp_path / "reports").iterdir()] == [run_dir.name]  # nothing partial
    for name in FILE_NAMES.values():
        assert (run_dir / name).is_file(), name
    data = json.loads((run_dir / "report.json").read_text())
    assert data["verdict"] == "pass" and data["exit_code"] == 0
    assert data["reference"] == "fake-reference" and data["candidate"] == "fake-candidate"
    assert data["reproduce"].startswith("parity run ")
    assert len(data["findings"]) == len(result.findings)
    for trace in data["traces"].values():
        assert (run_dir / trace).is_file()
    frame = pd.read_csv(run_dir / "findings.csv")
    assert list(frame.columns[:8]) == [
        "check",
        "tensor",
        "backend",
        "metric",
        "measured",
        "tolerance",
        "margin",
        "verdict",
    ]
    assert len(frame) == len(result.findings)
    junit = ET.parse(run_dir / "junit.xml").getroot()
    assert int(junit.get("tests")) == len(result.findings) and junit.get("failures") == "0"


@pytest.mark.slow
def test_html_is_self_contained_with_verdict_first_and_figures(tmp_path: Path) -> None:
    result = _run(tmp_path, inject=["fftshift-dropped"])
    assert result.exit_code == 1
    html = (result.report_dir / "report.html").read_text()
    body = html.split("<body>", 1)[1]
    assert body.index("Verdict: FAIL") < body.index("<h2>Findings</h2>")
    assert "src='http" not in html and "<script src" not in html and "<link" not in html
    assert (
        html.count("data:image/png;base64,") >= 4
    )  # images, loss curves, stage profile, histograms
    assert "Stitched object" in html and "Per-step training loss" in html
    assert "first divergent: pred_amplitude" in html
    md = (result.report_dir / "report.md").read_text()
    assert "**Verdict: ❌ FAIL**" in md and "First divergent stage: **pred_amplitude**" in md
    assert "--inject fftshift-dropped" in md
    junit = ET.parse(result.report_dir / "junit.xml").getroot()
    assert int(junit.get("failures")) > 0


def test_interrupted_run_leaves_no_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def interrupted(*args, **kwargs):
        calls.append(args)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    original = engine.record
    monkeypatch.setattr(engine, "record", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path)
    assert list((tmp_path / "reports").iterdir()) == []


@pytest.mark.slow
def test_isolated_subprocesses_and_a_dying_backend(tmp_path: Path) -> None:
    sc = fake_scenario(checks=["params", "ops"])
    result = _run(tmp_path, scenario=sc, isolate=True)
    assert result.exit_code == 0, [f for f in result.findings if f.verdict != "pass"]
    died = _run(tmp_path, scenario=sc, isolate=True, backends=[REF, "tests.parity.fakes:dying"])
    assert died.exit_code == 1
    record_error = next(f for f in died.findings if f.check == "record")
    assert "exited with code 3" in record_error.evidence
    assert {f.family for f in died.findings if f.verdict == "error"} >= {"params", "ops"}
    assert (died.report_dir / "report.html").exists()  # the report is still written


@pytest.mark.slow
def test_regression_against_a_baseline(tmp_path: Path) -> None:
    from parity.checks.regression import MACHINE_LOCAL_KEYS
    from parity.trace import slim

    sc = fake_scenario(checks=["ops", "forward", "regression"])
    first = _run(tmp_path, scenario=sc, backends=[REF])
    skipped = [f for f in first.findings if f.check == "regression"]
    assert (
        skipped
        and skipped[0].verdict == "skipped"
        and "parity baseline update" in skipped[0].evidence
    )
    base_dir = tmp_path / "baselines"
    slim(
        first.traces[REF],
        engine.baseline_path(sc.name, "fake-reference", base_dir),
        max_elements=64,
    )
    again = _run(tmp_path, scenario=sc, backends=[REF], baseline_dir=base_dir)
    regression = [f for f in again.findings if f.family == "regression"]
    compared = [f for f in regression if f.metric != "ignored"]
    ignored = {f.tensor for f in regression if f.metric == "ignored"}
    assert compared and all(f.verdict == "pass" for f in compared)
    assert ignored <= set(MACHINE_LOCAL_KEYS)
    assert all(f.verdict == "skipped" for f in regression if f.metric == "ignored")
    drifted = _run(
        tmp_path, scenario=sc, backends=["tests.parity.fakes:drifted"], baseline_dir=base_dir
    )
    failing = [f for f in drifted.findings if f.verdict == "fail" and f.family == "regression"]
    assert failing and all(f.backend == "fake-reference" for f in failing)
    assert any(f.check == "regression.forward" for f in failing)
