"""The equivalence test of the convergence check, against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


@pytest.mark.parametrize(("init", "test"), [("shared", "paired"), ("own", "Welch")])
def test_convergence_family_on_fake_backends(tmp_path, init: str, test: str) -> None:
    import copy

    from parity import machine
    from parity import scenario as sc_mod
    from parity.engine import compare_traces
    from parity.record import record
    from parity.tolerances import Registry
    from parity.trace import Trace
    from tests.parity import fake_physics, fakes
    from tests.parity.helpers import BASE, CAND, REF

    raw = copy.deepcopy(BASE)
    raw["checks"] = ["convergence"]
    raw["convergence"] = {
        "seeds": [0, 1, 2],
        "epochs": 1,
        "n_groups": 4,
        "test_groups": 4,
        "init": init,
    }
    sc = sc_mod.from_dict(raw, source="<test>")
    a = record(REF, sc, tmp_path / "a.h5", oracle=fake_physics, metrics_fn=fakes.metrics)
    b = record(CAND, sc, tmp_path / "b.h5", oracle=fake_physics, metrics_fn=fakes.metrics)
    findings = compare_traces(a, b, sc, Registry.load())
    with Trace(a) as trace:  # the environment section records the machine fingerprint
        versions, device = trace.meta_json("versions"), str(trace.meta["device"])
        assert trace.meta_json("machine") == machine.fingerprint(versions, device)
    # the fakes' metric function computes none of the metrics resemblance is judged on
    trained = [f for f in findings if f.check == "convergence.trained"]
    assert sorted(f.backend for f in trained) == ["fake-candidate", "fake-reference"]
    assert all(f.verdict == "skipped" and "computes none of" in f.evidence for f in trained)
    findings = [f for f in findings if f.check != "convergence.trained"]
    verdicts = {f.tensor: f.verdict for f in findings if f.check == "convergence"}
    if init == "own":
        # the fakes' phase MAE varies between seeds far more than 5% of its mean: with three
        # independent seeds a Welch interval cannot show equivalence, and the finding says so
        assert verdicts.pop("phase_mae") == "fail"
        bad = next(f for f in findings if f.tensor == "phase_mae")
        assert "underpowered" in bad.evidence and "seeds would resolve it" in bad.evidence
        findings = [f for f in findings if f.tensor != "phase_mae"]
    assert all(f.verdict == "pass" for f in findings), findings
    metric = [f for f in findings if f.check == "convergence"]
    assert {f.tensor for f in metric} | ({"phase_mae"} if init == "own" else set()) == {
        "amp_mae",
        "phase_mae",
        "final_loss",
    }
    assert "TOST p=" in metric[0].evidence and "n=3" in metric[0].evidence
    assert f"TOST ({test})" in metric[0].metric
    init = [f for f in findings if f.check == "convergence.init"]
    assert sorted(f.backend for f in init) == ["fake-candidate", "fake-reference"]
    assert all(f.tensor == "<44 initial weights as model.md 8>" for f in init)


def _metrics_trace(path, scenario, backend: str, values: list[float], name="amplitude.psnr"):
    from parity.trace import TraceWriter

    with TraceWriter(path, backend, scenario) as w:
        w.put_json(
            "params",
            "convergence",
            {str(i): {"metrics": {name: v}} for i, v in enumerate(values)},
        )
        w.record_section("convergence", status="ok", seconds=0.0)
    return path


def _equivalence(findings):
    """The equivalence findings (these traces hold no flat-object reference to judge the
    reconstructions' resemblance by)."""
    trained = [f for f in findings if f.check == "convergence.trained"]
    assert all(f.verdict == "skipped" and "record again" in f.evidence for f in trained)
    return [f for f in findings if f.check == "convergence"]


def test_shifted_metric_distribution_fails_and_names_the_metric(tmp_path) -> None:
    from parity.engine import compare_traces
    from parity.tolerances import Registry
    from tests.parity.helpers import fake_scenario

    sc = fake_scenario(checks=["convergence"])
    ref = _metrics_trace(tmp_path / "a.h5", sc, "ref", [30.0, 30.4, 29.8, 30.1, 29.9])
    same = _metrics_trace(tmp_path / "b.h5", sc, "cand", [30.1, 29.9, 30.2, 29.8, 30.0])
    worse = _metrics_trace(tmp_path / "c.h5", sc, "cand", [27.0, 27.3, 26.8, 27.1, 26.9])
    reg = Registry.load()
    ok = _equivalence(compare_traces(ref, same, sc, reg))
    assert [f.verdict for f in ok] == ["pass"] and ok[0].tensor == "amplitude.psnr"
    bad = _equivalence(compare_traces(ref, worse, sc, reg))
    assert [f.verdict for f in bad] == ["fail"] and bad[0].tensor == "amplitude.psnr"
    assert "difference -3.02" in bad[0].evidence and "(table)" in bad[0].evidence


def test_non_finite_metrics(tmp_path) -> None:
    """A metric undefined on every seed of both backends (an FRC that never crosses its
    threshold: resolution inf) is skipped with the reason; one backend non-finite fails."""
    from parity.engine import compare_traces
    from parity.tolerances import Registry
    from tests.parity.helpers import fake_scenario

    sc = fake_scenario(checks=["convergence"])
    name = "phase.frc.threshold_0.5.resolution_px"
    inf = float("inf")
    ref = _metrics_trace(tmp_path / "a.h5", sc, "ref", [inf, inf, inf], name)
    same = _metrics_trace(tmp_path / "b.h5", sc, "cand", [inf, inf, inf], name)
    mixed = _metrics_trace(tmp_path / "c.h5", sc, "cand", [inf, 2.0, inf], name)
    reg = Registry.load()
    skipped = _equivalence(compare_traces(ref, same, sc, reg))
    assert [(f.verdict, f.tensor) for f in skipped] == [("skipped", name)]
    assert "undefined on every seed" in skipped[0].evidence
    bad = _equivalence(compare_traces(ref, mixed, sc, reg))
    assert [(f.verdict, f.tensor) for f in bad] == [("fail", name)]
    assert "non-finite" in bad[0].evidence


def test_paired_interval_by_hand() -> None:
    from parity.checks.convergence import tost_paired

    eq = tost_paired([1.0, 2.0, 3.0, 4.0], [1.1, 2.1, 3.2, 4.0], margin=0.5, alpha=0.05)
    # d = (.1, .1, .2, 0): mean .1, sd sqrt(.02 / 3), se = sd / 2, t_{0.95,3} = 2.353363
    half = 2.353363 * math.sqrt(0.02 / 3) / 2
    assert eq.diff == pytest.approx(0.1)
    assert eq.low == pytest.approx(0.1 - half, rel=1e-5)
    assert eq.high == pytest.approx(0.1 + half, rel=1e-5)
    assert eq.df == 3 and eq.test == "paired" and eq.bound < 0.5


def test_pairing_removes_the_seed_spread() -> None:
    """Seeds that spread a metric by 6 dB hide nothing from the paired test (each seed moves
    both backends alike), while the independent-samples test cannot show equivalence."""
    from parity.checks.convergence import tost_paired

    ref = [30.0, 36.0, 42.0, 48.0]
    cand = [30.1, 36.05, 42.12, 48.08]
    assert tost_paired(ref, cand, margin=1.0, alpha=0.05).bound < 1.0
    assert tost_welch(ref, cand, margin=1.0, alpha=0.05).bound > 1.0
    shifted = [x + 1.5 for x in cand]
    assert tost_paired(ref, shifted, margin=1.0, alpha=0.05).bound > 1.0


def _summaries(weights):
    from parity.record import weight_summaries

    return weight_summaries(weights)


def test_initialiser_check_accepts_glorot_and_names_departures() -> None:
    from backends.config import ModelConfig
    from parity.checks.convergence import init_findings
    from parity.initweights import glorot_weights
    from parity.tolerances import Registry

    settings = Registry.load().convergence()
    cfg = ModelConfig(N=64, gridsize=1)
    good = {str(s): _summaries(glorot_weights(cfg, s, bias_limit=0.0)) for s in range(3)}
    findings = list(init_findings("x", good, settings))
    assert [f.verdict for f in findings] == ["pass"] and findings[0].backend == "x"
    assert findings[0].tolerance == 5.0 and findings[0].measured < 5.0

    bad = {}
    for s in range(3):
        w = glorot_weights(cfg, s, bias_limit=0.0)
        w["enc2.conv1.kernel"] = w["enc2.conv1.kernel"] / np.float32(np.sqrt(3.0))
        w["phase.head.conv_main.bias"] = np.full_like(w["phase.head.conv_main.bias"], 0.01)
        bad[str(s)] = _summaries(w)
    failing = {f.tensor: f for f in init_findings("x", bad, settings) if f.verdict == "fail"}
    assert set(failing) == {"enc2.conv1.kernel", "phase.head.conv_main.bias"}
    assert failing["enc2.conv1.kernel"].measured > 20
    assert "model.md 8" in failing["phase.head.conv_main.bias"].evidence


def test_initialiser_check_rejects_elements_beyond_the_bound() -> None:
    from backends.config import ModelConfig
    from parity.checks.convergence import init_findings
    from parity.initweights import glorot_limit, glorot_weights
    from parity.tolerances import Registry

    cfg = ModelConfig(N=64, gridsize=1)
    w = glorot_weights(cfg, 0, bias_limit=0.0)
    k = w["enc1.conv1.kernel"]
    k.flat[0] = np.float32(1.5 * glorot_limit(k.shape))
    failing = [
        f
        for f in init_findings("x", {"0": _summaries(w)}, Registry.load().convergence())
        if f.verdict == "fail"
    ]
    assert [f.tensor for f in failing] == ["enc1.conv1.kernel"] and "> L" in failing[0].evidence


@pytest.mark.pytorch
def test_initialiser_check_catches_torch_default_init() -> None:
    """The upstream torch port's init (model.md 8: Kaiming-uniform, nonzero biases) fails."""
    import torch

    import backends
    from backends.config import ModelConfig
    from parity.checks.convergence import init_findings
    from parity.tolerances import Registry

    pt = backends.get("pytorch")
    model = pt.build(ModelConfig(N=64, gridsize=1), np.ones((64, 64), np.complex64), 100.0, seed=0)
    own = _summaries(pt.export_weights(model))
    settings = Registry.load().convergence()
    assert [f.verdict for f in init_findings("pytorch", {"0": own}, settings)] == ["pass"]
    torch.manual_seed(0)
    for module in model.module.modules():
        if isinstance(module, torch.nn.Conv2d):
            module.reset_parameters()
    default = _summaries(pt.export_weights(model))
    failing = {
        f.tensor for f in init_findings("pytorch", {"0": default}, settings) if f.verdict == "fail"
    }
    assert "enc1.conv1.kernel" in failing and "enc1.conv1.bias" in failing
    assert len(failing) == 44


def _t3_cdf(t: float) -> float:
    """Student t CDF with 3 degrees of freedom in closed form."""
    u = t / math.sqrt(3.0)
    return 0.5 + (u / (1.0 + u * u) + math.atan(u)) / math.pi


def test_power_by_hand() -> None:
    from parity.checks.convergence import tost_power

    # n = 4 differences with sd 1: se = 0.5, t_{0.95,3} = 2.353363; margin 3 gives 6 se
    t = 2.353363
    expected = 2.0 * _t3_cdf(6.0 - t) - 1.0
    assert tost_power(1.0, 4, 3.0, 0.05) == pytest.approx(expected, rel=1e-5)
    shifted = _t3_cdf(6.0 - 1.0 - t) + _t3_cdf(6.0 + 1.0 - t) - 1.0  # true difference 0.5
    assert tost_power(1.0, 4, 3.0, 0.05, diff=0.5) == pytest.approx(shifted, rel=1e-5)
    assert tost_power(1.0, 4, 1.0, 0.05) == 0.0  # 2 se margin < t se: no sample can pass
    assert tost_power(0.0, 3, 1.0, 0.05) == 1.0 and tost_power(0.0, 3, 1.0, 0.05, 1.5) == 0.0


@settings(max_examples=30, deadline=None)
@given(
    sd=st.floats(0.01, 10.0),
    margin=st.floats(0.01, 10.0),
    n=st.integers(2, 30),
    share=st.floats(0.0, 0.99),
)
def test_power_grows_with_seeds_and_margin_and_falls_with_the_difference(
    sd: float, margin: float, n: int, share: float
) -> None:
    """For a true difference inside the margin (``share`` of it) more seeds or a wider margin
    pass more often, a larger difference less often."""
    from parity.checks.convergence import tost_power

    diff = share * margin
    p = tost_power(sd, n, margin, 0.05, diff)
    assert 0.0 <= p <= 1.0
    assert tost_power(sd, n + 1, margin, 0.05, diff) >= p - 1e-12
    assert tost_power(sd, n, 1.5 * margin, 0.05, diff) >= p - 1e-12
    assert tost_power(sd, n, margin, 0.05, diff + 0.5 * sd) <= p + 1e-12
    # the size of the test: a difference at or beyond the margin passes at most alpha of the time
    assert tost_power(sd, n, margin, 0.05, margin * (1.0 + share)) <= 0.05 + 1e-12


@pytest.mark.parametrize(("sd", "margin"), [(0.15, 1.0), (0.028, 0.029), (0.022, 0.0143)])
def test_seeds_for_power_is_the_first_seed_count_with_80_percent(sd: float, margin: float) -> None:
    from parity.checks.convergence import seeds_for_power, tost_power

    n = seeds_for_power(sd, margin, 0.05)
    assert tost_power(sd, n, margin, 0.05) >= 0.8
    assert n == 2 or tost_power(sd, n - 1, margin, 0.05) < 0.8


def _seed_metrics(path, scenario, backend: str, metrics: dict[str, list[float]]):
    from parity.trace import TraceWriter

    n = len(next(iter(metrics.values())))
    with TraceWriter(path, backend, scenario) as w:
        per_seed = {str(i): {"metrics": {k: v[i] for k, v in metrics.items()}} for i in range(n)}
        w.put_json("params", "convergence", per_seed)
        w.record_section("convergence", status="ok", seconds=0.0)
    return path


# Measured on the signoff scenario (3 seeds, shared initial weights): TensorFlow, PyTorch.
SIGNOFF_AMPLITUDE_SSIM = ([0.24925, 0.20879, 0.26418], [0.25468, 0.21278, 0.28811])
SIGNOFF_PHASE_SSIM = ([0.17366, 0.17569, 0.20464], [0.20819, 0.15781, 0.23064])


def test_signoff_margin_passes_the_measured_runs_and_fails_a_shift_of_one_seed_spread(
    tmp_path,
) -> None:
    from parity.engine import compare_traces
    from parity.tolerances import Registry
    from tests.parity.helpers import fake_scenario

    reg = Registry.load()
    margin = reg.convergence()["margins"]["amplitude.ssim"]
    sc = fake_scenario(checks=["convergence"])
    tf, pt = SIGNOFF_AMPLITUDE_SSIM
    ref = _seed_metrics(tmp_path / "a.h5", sc, "ref", {"amplitude.ssim": tf})
    same = _seed_metrics(tmp_path / "b.h5", sc, "cand", {"amplitude.ssim": pt})
    worse = _seed_metrics(
        tmp_path / "c.h5", sc, "cand", {"amplitude.ssim": [v - margin for v in pt]}
    )
    ok = _equivalence(compare_traces(ref, same, sc, reg))
    assert [f.verdict for f in ok] == ["pass"] and "power 86% at n=3" in ok[0].evidence
    bad = _equivalence(compare_traces(ref, worse, sc, reg))
    assert [f.verdict for f in bad] == ["fail"]


def test_reported_metrics_are_shown_but_decide_nothing(tmp_path) -> None:
    from parity.engine import compare_traces
    from parity.tolerances import Registry
    from tests.parity.helpers import fake_scenario

    reg = Registry.load()
    reported = reg.convergence()["reported"]
    sc = fake_scenario(checks=["convergence"])
    tf, pt = SIGNOFF_PHASE_SSIM
    far = [v + 0.5 for v in pt]  # even a huge difference only shows in the evidence
    ref = _seed_metrics(tmp_path / "a.h5", sc, "ref", {"phase.ssim": tf})
    cand = _seed_metrics(tmp_path / "b.h5", sc, "cand", {"phase.ssim": far})
    (found,) = _equivalence(compare_traces(ref, cand, sc, reg))
    assert found.verdict == "skipped" and found.metric == "reported only"
    assert found.evidence.startswith(f"reported only: {reported['phase.ssim']}")
    assert "mean paired difference 0.5" in found.evidence and "90% CI" in found.evidence


def test_no_metric_is_both_tested_and_reported() -> None:
    from parity.checks.convergence import reported_reason
    from parity.tolerances import Registry

    conv = Registry.load().convergence()
    assert all(reported_reason(m, conv["reported"]) is None for m in conv["margins"])
    assert reported_reason("phase.frc.threshold_half-bit.resolution_px", conv["reported"])
    assert reported_reason("amplitude.frc.threshold_1/7.frequency", conv["reported"])
    assert reported_reason("amplitude.ssim", conv["reported"]) is None


def _trained(values: dict[str, list[float]]) -> dict[str, dict[str, dict[str, float]]]:
    seeds = len(next(iter(values.values())))
    return {str(i): {"metrics": {m: v[i] for m, v in values.items()}} for i in range(seeds)}


RESEMBLANCE = {
    "resemblance_metrics": ["amplitude.psnr", "phase.mae"],
    "resemblance_margins": 2.0,
    "margins": {"amplitude.psnr": 1.0, "phase.mae": 0.025},
}


def _resemblance(backend: str, psnr: list[float], phase_mae: list[float]) -> dict:
    """Findings against a flat object of amplitude PSNR 14 dB and phase MAE 0.25 rad."""
    from parity.checks.convergence import resemblance_findings

    flat = {"flat object": {"amplitude.psnr": 14.0, "phase.mae": 0.25}}
    runs = _trained({"amplitude.psnr": psnr, "phase.mae": phase_mae})
    return {f.tensor: f for f in resemblance_findings(backend, runs, flat, RESEMBLANCE)}


def test_trained_reconstructions_must_beat_a_flat_object() -> None:
    """The gain over the flat object, by hand: PSNR mean 16.5 - 14.0 = 2.5 dB >= 2 x 1.0 dB;
    phase MAE 0.25 - 0.19 = 0.06 >= 2 x 0.025 (lower is better)."""
    found = _resemblance("tf", [16.0, 17.0, 16.5], [0.18, 0.20, 0.19])
    assert {t: f.verdict for t, f in found.items()} == {
        "amplitude.psnr": "pass",
        "phase.mae": "pass",
    }
    assert math.isclose(found["amplitude.psnr"].measured, 2.5)
    assert math.isclose(found["phase.mae"].measured, 0.06)
    assert math.isclose(found["phase.mae"].tolerance, 0.05)
    assert all(f.check == "convergence.trained" and f.backend == "tf" for f in found.values())


def test_an_untrained_or_worse_reconstruction_fails_resemblance() -> None:
    # 1 dB better than flat is within the margin; a larger phase error than flat is worse
    found = _resemblance("pt", [15.0, 15.0, 15.0], [0.30, 0.26, 0.28])
    assert {t: f.verdict for t, f in found.items()} == {
        "amplitude.psnr": "fail",
        "phase.mae": "fail",
    }
    assert "worse by 0.03" in found["phase.mae"].evidence
    assert "training did not reconstruct the object" in found["amplitude.psnr"].evidence


def test_resemblance_without_a_reference_or_metrics_is_skipped_with_the_reason() -> None:
    from parity.checks.convergence import resemblance_findings

    runs = _trained({"amp_mae": [0.1, 0.2]})
    old = list(resemblance_findings("tf", runs, {}, RESEMBLANCE))
    assert [f.verdict for f in old] == ["skipped"] and "record again" in old[0].evidence
    other = list(resemblance_findings("tf", runs, {"flat object": {"amp_mae": 0.3}}, RESEMBLANCE))
    assert [f.verdict for f in other] == ["skipped"]
    assert "computes none of amplitude.psnr, phase.mae" in other[0].evidence
