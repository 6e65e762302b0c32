"""Record and compare on the NumPy fake backends: agreement passes, float noise passes, a crash
yields error findings while the rest goes on."""

from __future__ import annotations

from pathlib import Path

import pytest

from parity.engine import compare_traces
from parity.findings import counts
from parity.record import record
from parity.tolerances import Registry
from parity.trace import Trace
from tests.parity import fake_physics
from tests.parity.conftest import TraceCache
from tests.parity.helpers import fake_scenario

FAMILIES = ("params", "data", "ops", "forward", "gradients", "training", "bundles", "inference")


@pytest.fixture(scope="module")
def scenario():
    return fake_scenario()


def _compare(ref: Path, cand: Path, scenario) -> list:
    return compare_traces(ref, cand, scenario, Registry.load())


def _record_candidate(fake: str, scenario, ref: Path, tmp_path: Path) -> Path:
    """A trace of ``tests.parity.fakes:<fake>``, single-step stages fed from ``ref``."""
    return record(
        f"tests.parity.fakes:{fake}",
        scenario,
        tmp_path / f"{fake}.h5",
        reference=ref,
        oracle=fake_physics,
    )


@pytest.mark.slow
def test_identical_backends_pass_every_family(
    trace_cache: TraceCache, scenario, tmp_path: Path
) -> None:
    ref = trace_cache.reference(scenario)
    cand = _record_candidate("candidate", scenario, ref, tmp_path)
    findings = _compare(ref, cand, scenario)
    c = counts(findings)
    assert c["fail"] == 0 and c["error"] == 0, [
        f for f in findings if f.verdict in ("fail", "error")
    ]
    families = {f.family for f in findings}
    assert set(FAMILIES) <= families
    loc = [f for f in findings if f.check == "forward.localisation"]
    assert loc and loc[0].verdict == "pass" and loc[0].details["cumulative"] is None
    stages = [f.tensor for f in findings if f.check == "forward.single_step"]
    assert "enc1" in stages and "pred_intensity" in stages
    with Trace(cand) as t:
        assert t.json("params", "single_step")["source"] == "reference:fake-reference"
        assert t.meta["backend"] == "fake-candidate"


def test_float32_level_noise_stays_within_tolerance(
    trace_cache: TraceCache, scenario, tmp_path: Path
) -> None:
    ref = trace_cache.reference(scenario)
    cand = _record_candidate("noisy", scenario, ref, tmp_path)
    findings = _compare(ref, cand, scenario)
    bad = [f for f in findings if f.verdict in ("fail", "error")]
    assert not bad, bad
    forward = [f for f in findings if f.check == "forward.activation"]
    assert any(f.measured and f.measured > 0 for f in forward), "the noise is visible but tolerated"


def test_a_backend_that_raises_yields_error_findings_and_the_rest_runs(
    trace_cache: TraceCache, scenario, tmp_path: Path
) -> None:
    ref = trace_cache.reference(scenario)
    cand = _record_candidate("crashing", scenario, ref, tmp_path)
    findings = _compare(ref, cand, scenario)
    errors = {f.family for f in findings if f.verdict == "error"}
    assert {"forward", "gradients", "training", "bundles", "inference"} <= errors
    forward_error = next(f for f in findings if f.family == "forward" and f.verdict == "error")
    assert (
        "injected crash in forward" in forward_error.evidence
        and "Traceback" in forward_error.evidence
    )
    assert forward_error.backend == "fake-crashing"
    passing = {f.family for f in findings if f.verdict == "pass"}
    assert {"params", "data", "ops"} <= passing


def test_only_a_reference_compares_against_the_oracle(trace_cache: TraceCache, scenario) -> None:
    ref = trace_cache.reference(scenario)
    findings = compare_traces(ref, None, scenario, Registry.load())
    oracle = [f for f in findings if f.check == "ops.oracle"]
    assert oracle and all(f.verdict == "pass" for f in oracle)
    assert any(f.verdict == "skipped" and f.family == "forward" for f in findings)
    assert not [f for f in findings if f.verdict in ("fail", "error")]
