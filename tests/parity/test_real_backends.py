"""The harness on the real backends: the smoke scenario through TensorFlow and PyTorch, with the
explicit bundle conversion."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from parity import scenario
from parity.engine import run_scenario


@pytest.mark.both
@pytest.mark.slow
def test_smoke_scenario_passes_on_both_backends(tmp_path: Path) -> None:
    pytest.importorskip("tensorflow")
    pytest.importorskip("torch")
    smoke = scenario.load("smoke")
    sc = dataclasses.replace(smoke, run=dataclasses.replace(smoke.run, convert_bundles=True))
    result = run_scenario(sc, ["tensorflow", "pytorch"], out_root=tmp_path)
    failing = [
        (f.check, f.tensor, f.evidence[:200])
        for f in result.findings
        if f.verdict in ("fail", "error")
    ]
    assert not failing, failing
    families = {f.family for f in result.findings if f.verdict == "pass"}
    assert {
        "params",
        "data",
        "ops",
        "forward",
        "gradients",
        "training",
        "bundles",
        "inference",
    } <= families
    assert any(f.check == "bundles.conversion" and f.verdict == "pass" for f in result.findings)
    assert result.localisation() == {"cumulative": None, "single_step": None}
    assert result.report_dir is not None and (result.report_dir / "report.html").exists()
