"""The harness on the real backends: the smoke scenario through TensorFlow and PyTorch."""

from __future__ import annotations

from pathlib import Path

import pytest

from parity import scenario
from parity.engine import run_scenario


@pytest.mark.both
@pytest.mark.slow
def test_smoke_scenario_passes_on_both_backends(tmp_path: Path) -> None:
    pytest.importorskip("tensorflow")
    pytest.importorskip("torch")
    result = run_scenario(scenario.load("smoke"), ["tensorflow", "pytorch"], out_root=tmp_path)
    failing = [
        (f.check, f.tensor, f.evidence[:200])
        for f in result.findings
        if f.verdict in ("fail", "error")
    ]
    assert not failing, failing
    assert result.report_dir is not None and (result.report_dir / "report.html").exists()
    loc = result.localisation()
    assert loc == {"cumulative": None, "single_step": None}
