"""The built-in ``data-parallel`` scenario: each backend's 2-worker steps against its 1-worker
steps, and the two backends' 2-worker runs against each other; and the check fails when the
workers' weights leave the 1-worker run's."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from parity import engine
from parity.scenario import load as load_scenario
from parity.tolerances import Registry


@pytest.mark.both
@pytest.mark.slow
def test_data_parallel_scenario_passes_and_catches_moved_weights(tmp_path: Path) -> None:
    pytest.importorskip("tensorflow")
    pytest.importorskip("lightning")
    scenario = load_scenario("data-parallel")
    result = engine.run_scenario(scenario, ["tensorflow", "pytorch"], out_root=None)
    assert result.verdict == "pass", [f for f in result.findings if f.verdict != "pass"]
    pooled = {(f.check, f.backend) for f in result.findings if f.tensor == "<all weights>"}
    assert pooled == {
        ("data_parallel.self.weights", "tensorflow"),
        ("data_parallel.self.weights", "pytorch"),
        ("data_parallel.cross.weights", "both"),
    }
    losses = {(f.check, f.backend) for f in result.findings if f.tensor == "total"}
    assert ("data_parallel.self.loss", "pytorch") in losses
    assert ("data_parallel.cross.loss", "both") in losses

    # the 2-worker weights of one backend moved by a whole Adam step (lr = 1e-3) fail
    moved = tmp_path / "moved.h5"
    cand = Path(result.traces["pytorch"])
    moved.write_bytes(cand.read_bytes())
    with h5py.File(moved, "r+") as handle:
        group = handle["tensors/data_parallel/workers/weights"]
        for name in group:
            group[name][...] = np.asarray(group[name]) + np.float32(1e-3)
    findings = engine.compare_traces(
        Path(result.traces["tensorflow"]), moved, scenario, Registry.load()
    )
    failed = {(f.check, f.backend) for f in findings if f.verdict == "fail"}
    assert ("data_parallel.self.weights", "pytorch") in failed
    assert ("data_parallel.cross.weights", "both") in failed
    assert ("data_parallel.self.weights", "tensorflow") not in failed
