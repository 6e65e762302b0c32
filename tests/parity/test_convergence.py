"""The equivalence test of the convergence check, against hand-computed values."""

from __future__ import annotations

import math

import pytest

from parity.checks.convergence import tost_welch


def test_identical_samples_are_equivalent_within_any_margin() -> None:
    eq = tost_welch([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], margin=0.5, alpha=0.05)
    assert eq.diff == 0.0
    # se = sqrt(1/3 + 1/3), df = (2/3)^2 / (2 * (1/3)^2 / 2) = 4, t_{0.95,4} = 2.131847
    half = 2.131847 * math.sqrt(2 / 3)
    assert eq.low == pytest.approx(-half, rel=1e-5) and eq.high == pytest.approx(half, rel=1e-5)
    assert eq.bound > 0.5  # three noisy seeds cannot prove a margin of 0.5
    assert tost_welch([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], margin=2.0, alpha=0.05).bound < 2.0


def test_shifted_distribution_is_not_equivalent() -> None:
    a = [10.0, 10.1, 9.9, 10.05, 9.95]
    b = [11.0, 11.1, 10.9, 11.05, 10.95]
    eq = tost_welch(a, b, margin=0.5, alpha=0.05)
    assert eq.diff == pytest.approx(1.0)
    assert eq.low > 0.5 and eq.p_tost > 0.05


def test_zero_variance_uses_the_difference_itself() -> None:
    eq = tost_welch([1.0, 1.0], [1.2, 1.2], margin=0.5, alpha=0.05)
    assert eq.low == eq.high == pytest.approx(0.2) and eq.p_tost == 0.0


def test_convergence_family_on_fake_backends(tmp_path) -> None:
    import copy

    from parity import scenario as sc_mod
    from parity.engine import compare_traces
    from parity.record import record
    from parity.tolerances import Registry
    from tests.parity import fake_physics, fakes
    from tests.parity.helpers import BASE, CAND, REF

    raw = copy.deepcopy(BASE)
    raw["checks"] = ["convergence"]
    raw["convergence"] = {"seeds": [0, 1, 2], "epochs": 1, "n_groups": 4, "test_groups": 4}
    sc = sc_mod.from_dict(raw, source="<test>")
    a = record(REF, sc, tmp_path / "a.h5", oracle=fake_physics, metrics_fn=fakes.metrics)
    b = record(CAND, sc, tmp_path / "b.h5", oracle=fake_physics, metrics_fn=fakes.metrics)
    findings = compare_traces(a, b, sc, Registry.load())
    assert {f.tensor for f in findings} == {"amp_mae", "phase_mae", "final_loss"}
    assert all(f.verdict == "pass" for f in findings), findings
    assert "TOST p=" in findings[0].evidence and "n=3" in findings[0].evidence


def _metrics_trace(path, scenario, backend: str, values: list[float]):
    from parity.trace import TraceWriter

    with TraceWriter(path, backend, scenario) as w:
        w.put_json(
            "params",
            "convergence",
            {str(i): {"metrics": {"amplitude.psnr": v}} for i, v in enumerate(values)},
        )
        w.record_section("convergence", status="ok", seconds=0.0)
    return path


def test_shifted_metric_distribution_fails_and_names_the_metric(tmp_path) -> None:
    from parity.engine import compare_traces
    from parity.tolerances import Registry
    from tests.parity.helpers import fake_scenario

    sc = fake_scenario(checks=["convergence"])
    ref = _metrics_trace(tmp_path / "a.h5", sc, "ref", [30.0, 30.4, 29.8, 30.1, 29.9])
    same = _metrics_trace(tmp_path / "b.h5", sc, "cand", [30.1, 29.9, 30.2, 29.8, 30.0])
    worse = _metrics_trace(tmp_path / "c.h5", sc, "cand", [27.0, 27.3, 26.8, 27.1, 26.9])
    reg = Registry.load()
    ok = compare_traces(ref, same, sc, reg)
    assert [f.verdict for f in ok] == ["pass"] and ok[0].tensor == "amplitude.psnr"
    bad = compare_traces(ref, worse, sc, reg)
    assert [f.verdict for f in bad] == ["fail"] and bad[0].tensor == "amplitude.psnr"
    assert "difference -3.02" in bad[0].evidence and "(table)" in bad[0].evidence
