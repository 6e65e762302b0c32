"""convergence (sign-off): reconstruction metrics of several seeded trainings per backend,
compared as distributions, and each backend's own weight initialiser against Glorot theory.

The stated test is equivalence by two one-sided t-tests (TOST) at level ``alpha``: the backends
are equivalent on a metric when the ``1 - 2 alpha`` confidence interval of the mean difference
(candidate - reference) lies inside ``(-margin, +margin)``. With ``init = "shared"`` both
backends start seed ``s`` from the same weights, the samples are paired by seed and the interval
is the paired t interval (a Wilcoxon signed-rank p-value is reported beside it); with
``init = "own"`` the samples are independent and the interval is Welch's (Mann-Whitney beside
it). The side tests are evidence only; they do not decide the verdict.

Metrics matched by ``[convergence.reported]`` (name patterns with the reason) are reported with
their statistics but decide nothing: those whose seed-to-seed behaviour no affordable number of
seeds can resolve (see docs/report.md). Every tested finding states the power of its test: the
chance that two identical backends pass with this many seeds, given the measured spread of the
differences.

The initialiser check (``convergence.init``) needs no second backend: every kernel a backend
draws from a seed must look like Glorot uniform ``U(-L, L)``, ``L = sqrt(6 / (fan_in +
fan_out))`` (model.md 8): no element beyond ``L``, and sample mean and standard deviation within
``z_limit`` standard errors of ``0`` and ``L / sqrt(3)``; every bias must be zero.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

import numpy as np

from parity.checks.base import Context, summarize_passes
from parity.findings import FAIL, PASS, SKIPPED, Finding, margin_of, skipped_finding


@dataclass
class Equivalence:
    """Outcome of a TOST on two samples."""

    diff: float
    low: float
    high: float
    p_tost: float
    p_rank: float | None
    df: float
    test: str
    rank_test: str

    @property
    def bound(self) -> float:
        """The confidence bound farthest from zero."""
        return max(abs(self.low), abs(self.high))


def _tost(
    diff: float, se: float, df: float, margin: float, alpha: float
) -> tuple[float, float, float]:
    """The ``1 - 2 alpha`` interval of a mean difference and the TOST p-value."""
    from scipy import stats

    if se == 0.0:
        return diff, diff, 0.0 if abs(diff) < margin else 1.0
    t = float(stats.t.ppf(1.0 - alpha, df))
    p_low = float(stats.t.sf((diff + margin) / se, df))
    p_high = float(stats.t.cdf((diff - margin) / se, df))
    return diff - t * se, diff + t * se, max(p_low, p_high)


def tost_welch(
    ref: Sequence[float], cand: Sequence[float], margin: float, alpha: float
) -> Equivalence:
    """Two one-sided Welch t-tests of ``|mean(cand) - mean(ref)| < margin`` (independent
    samples)."""
    from scipy import stats

    a = np.asarray(ref, dtype=np.float64)
    b = np.asarray(cand, dtype=np.float64)
    diff = float(b.mean() - a.mean())
    va = a.var(ddof=1) / a.size
    vb = b.var(ddof=1) / b.size
    se = math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1)) if se else math.inf
    low, high, p = _tost(diff, se, df, margin, alpha)
    try:
        p_rank: float | None = float(stats.mannwhitneyu(b, a, alternative="two-sided").pvalue)
    except ValueError:
        p_rank = None
    return Equivalence(diff, low, high, p, p_rank, float(df), "Welch", "Mann-Whitney")


def tost_paired(
    ref: Sequence[float], cand: Sequence[float], margin: float, alpha: float
) -> Equivalence:
    """Two one-sided paired t-tests of ``|mean(cand - ref)| < margin`` (``ref[i]`` and
    ``cand[i]`` share seed ``i``)."""
    from scipy import stats

    d = np.asarray(cand, dtype=np.float64) - np.asarray(ref, dtype=np.float64)
    diff = float(d.mean())
    se = float(d.std(ddof=1) / math.sqrt(d.size))
    df = float(d.size - 1)
    low, high, p = _tost(diff, se, df, margin, alpha)
    p_rank: float | None = None
    if np.any(d != 0):
        try:
            p_rank = float(stats.wilcoxon(d).pvalue)
        except ValueError:
            p_rank = None
    return Equivalence(diff, low, high, p, p_rank, df, "paired", "Wilcoxon")


def tost_power(sd: float, n: int, margin: float, alpha: float, diff: float = 0.0) -> float:
    """Approximate power of the paired TOST: the chance that the ``1 - 2 alpha`` interval of
    ``n`` differences with standard deviation ``sd`` and true mean ``diff`` lies inside
    ``(-margin, margin)`` (the sample SD taken as ``sd``, t distribution with ``n - 1`` df)."""
    from scipy import stats

    if n < 2:
        return 0.0
    if sd == 0.0:
        return 1.0 if abs(diff) < margin else 0.0
    df = n - 1
    se = sd / math.sqrt(n)
    t = float(stats.t.ppf(1.0 - alpha, df))
    upper = float(stats.t.cdf((margin - diff) / se - t, df))
    lower = float(stats.t.cdf((margin + diff) / se - t, df))
    return max(0.0, upper + lower - 1.0)


def seeds_for_power(
    sd: float, margin: float, alpha: float, power: float = 0.8, limit: int = 1000
) -> int:
    """The fewest paired seeds at which the TOST of two identical backends (true difference 0)
    passes with probability ``power`` when the differences have standard deviation ``sd``."""
    for n in range(2, limit + 1):
        if tost_power(sd, n, margin, alpha) >= power:
            return n
    return limit


def reported_reason(metric: str, reported: Mapping[str, str]) -> str | None:
    """The reason a metric is reported only: the first pattern of ``[convergence.reported]``
    that matches its name."""
    for pattern, reason in reported.items():
        if fnmatchcase(metric, pattern):
            return str(reason)
    return None


def _margin(metric: str, ref: Sequence[float], settings: Mapping[str, Any]) -> tuple[float, str]:
    """The equivalence margin of a metric and where it comes from: its entry in
    ``[convergence.margins]``, else ``relative_margin * |mean(reference)|``; at least
    ``min_margin``."""
    margins = settings.get("margins", {})
    if metric in margins:
        margin, source = float(margins[metric]), "table"
    else:
        scale = abs(float(np.mean(np.asarray(ref, dtype=np.float64))))
        margin, source = float(settings.get("relative_margin", 0.05)) * scale, "relative"
    floor = float(settings.get("min_margin", 1e-6))
    return (margin, source) if margin >= floor else (floor, "floor")


def run(ctx: Context) -> Iterator[Finding]:
    """Findings of the convergence family."""
    problems, ok = ctx.section_findings("convergence", "convergence")
    yield from problems
    if not ok:
        return
    settings = ctx.tolerances.convergence()
    for trace in ctx.traces:
        yield from init_findings(
            trace.backend, trace.json("params", "convergence_init") or {}, settings
        )
        yield from resemblance_findings(
            trace.backend,
            trace.json("params", "convergence") or {},
            trace.json("params", "convergence_reference") or {},
            settings,
        )
    if ctx.cand is None:
        return
    yield from metric_findings(ctx, settings)


def metric_findings(ctx: Context, settings: Mapping[str, Any]) -> Iterator[Finding]:
    """One TOST finding per reconstruction metric."""
    alpha = float(settings.get("alpha", 0.05))
    paired = ctx.scenario.convergence.init == "shared"
    per_seed = {t.backend: (t.json("params", "convergence") or {}) for t in ctx.traces}
    ref_runs, cand_runs = per_seed[ctx.ref_name], per_seed[ctx.cand_name]
    if paired:
        if set(ref_runs) != set(cand_runs):
            problem = (
                f"the traces hold different seeds ({sorted(ref_runs)} vs {sorted(cand_runs)}); "
                "record both from the same scenario"
            )
            yield Finding("convergence", "*", "seeds", None, None, None, FAIL, problem)
            return
        cand_runs = {s: cand_runs[s] for s in ref_runs}  # pair by seed
    if len(ref_runs) < 2 or len(cand_runs) < 2:
        yield skipped_finding("convergence", "*", "need at least 2 seeds per backend for a t-test")
        return
    metrics = sorted(
        set.intersection(*[set(r["metrics"]) for r in (*ref_runs.values(), *cand_runs.values())])
    )
    for metric in metrics:
        a = [float(r["metrics"][metric]) for r in ref_runs.values()]
        b = [float(r["metrics"][metric]) for r in cand_runs.values()]
        if not any(map(math.isfinite, a + b)):
            yield skipped_finding(
                "convergence",
                metric,
                f"undefined on every seed of both backends ({a[0]}): nothing to compare",
            )
            continue
        if not all(map(math.isfinite, a + b)):
            yield Finding(
                "convergence",
                metric,
                "finite",
                None,
                None,
                None,
                FAIL,
                f"non-finite values: {ctx.ref_name} {a}, {ctx.cand_name} {b}",
            )
            continue
        margin, source = _margin(metric, a, settings)
        eq = (tost_paired if paired else tost_welch)(a, b, margin, alpha)
        rank = "n/a" if eq.p_rank is None else f"{eq.p_rank:.3g}"
        stats_text = (
            f"{ctx.ref_name} {np.mean(a):.4g} ± {np.std(a, ddof=1):.2g} (n={len(a)}), "
            f"{ctx.cand_name} {np.mean(b):.4g} ± {np.std(b, ddof=1):.2g} (n={len(b)}); "
            f"{'mean paired difference' if paired else 'difference'} "
            f"{eq.diff:.3g}, {100 * (1 - 2 * alpha):.0f}% CI [{eq.low:.3g}, {eq.high:.3g}]"
        )
        details = {"reference": a, "candidate": b, "ci": [eq.low, eq.high], "p_tost": eq.p_tost}
        reason = reported_reason(metric, settings.get("reported", {}))
        if reason is not None:
            yield Finding(
                "convergence",
                metric,
                "reported only",
                eq.bound,
                None,
                None,
                SKIPPED,
                f"reported only: {reason}; {stats_text}",
                details=details,
            )
            continue
        verdict = PASS if eq.bound < margin else FAIL
        sd = _difference_sd(a, b, paired)
        n = min(len(a), len(b))
        power = tost_power(sd, n, margin, alpha)
        half = (eq.high - eq.low) / 2.0
        hint = ""
        if verdict == FAIL and half >= margin:
            hint = (
                f"; underpowered: the interval's half-width {half:.3g} alone exceeds the margin, "
                f"so no difference could pass with {len(a)} seeds (about "
                f"{seeds_for_power(sd, margin, alpha)} seeds would resolve it)"
            )
        yield Finding(
            check="convergence",
            tensor=metric,
            metric=f"TOST ({eq.test}), alpha={alpha:g}",
            measured=eq.bound,
            tolerance=margin,
            margin=margin_of(eq.bound, margin),
            verdict=verdict,
            evidence=(
                f"{stats_text} vs margin ±{margin:.3g} ({source}); TOST p={eq.p_tost:.3g}; "
                f"{eq.rank_test} p={rank}; power {100 * power:.0f}% at n={n} for the measured "
                f"SD of the differences {sd:.2g}{hint}"
            ),
            details={**details, "power": power},
        )


def lower_is_better(metric: str) -> bool:
    """Whether a smaller value of the metric means a better reconstruction (errors)."""
    return metric.rsplit(".", 1)[-1] in ("mae", "mse", "rmse")


def resemblance_findings(
    backend: str,
    per_seed: Mapping[str, Mapping[str, Any]],
    reference: Mapping[str, Mapping[str, float]],
    settings: Mapping[str, Any],
) -> Iterator[Finding]:
    """Did training make the reconstruction resemble the object? For each metric of
    ``resemblance_metrics``, the backend's mean over seeds must beat the flat object (constant
    amplitude, zero phase, measured the same way) by ``resemblance_margins`` times the metric's
    equivalence margin (training must move it further than the backends may differ): a backend
    whose training does nothing passes every equivalence test against an equally broken twin,
    and fails here."""
    flat = reference.get("flat object")
    metrics = settings.get("resemblance_metrics", [])
    if not per_seed or not metrics:
        return
    if not flat:
        yield skipped_finding(
            "convergence.trained",
            "*",
            "the trace holds no flat-object reference (recorded before it existed): record again",
            backend=backend,
        )
        return
    factor = float(settings.get("resemblance_margins", 2.0))
    margins = settings.get("margins", {})
    measured = [m for m in metrics if m in flat]
    if not measured:
        yield skipped_finding(
            "convergence.trained",
            "*",
            f"the metric function computes none of {', '.join(metrics)}",
            backend=backend,
        )
        return
    for metric in measured:
        values = [
            float(run["metrics"][metric])
            for run in per_seed.values()
            if metric in run.get("metrics", {})
        ]
        if not values or metric not in margins:
            yield skipped_finding(
                "convergence.trained",
                metric,
                "no trained value, or no margin in [convergence.margins] to scale the gain by",
                backend=backend,
            )
            continue
        mean = float(np.mean(values))
        gain = (flat[metric] - mean) if lower_is_better(metric) else (mean - flat[metric])
        needed = factor * float(margins[metric])
        verdict = PASS if math.isfinite(gain) and gain >= needed else FAIL
        yield Finding(
            check="convergence.trained",
            tensor=metric,
            metric="gain over a flat object",
            measured=gain,
            tolerance=needed,
            margin=(gain - needed) / needed if math.isfinite(gain) and needed > 0 else None,
            verdict=verdict,
            evidence=(
                f"trained mean {mean:.4g} over {len(values)} seeds vs flat object "
                f"{flat[metric]:.4g}: {'better' if gain >= 0 else 'worse'} by {abs(gain):.3g}, "
                f"needed {needed:.3g} ({factor:g} times the equivalence margin)"
                + ("" if verdict == PASS else "; training did not reconstruct the object")
            ),
            backend=backend,
        )


def _difference_sd(ref: Sequence[float], cand: Sequence[float], paired: bool) -> float:
    """Standard deviation of the paired differences, or for independent samples the SD whose
    paired standard error equals Welch's (``sqrt(var_ref + var_cand)``)."""
    a = np.asarray(ref, dtype=np.float64)
    b = np.asarray(cand, dtype=np.float64)
    if paired:
        return float((b - a).std(ddof=1))
    return float(math.sqrt(a.var(ddof=1) + b.var(ddof=1)))


def init_findings(
    backend: str,
    per_seed: Mapping[str, Mapping[str, Mapping[str, Any]]],
    settings: Mapping[str, Any],
) -> Iterator[Finding]:
    """The backend's own initial weights (summaries per seed) against model.md 8."""
    if not per_seed:
        return
    z_limit = float(settings.get("init_z_limit", 5.0))
    found: list[Finding] = []
    names = sorted(set.intersection(*[set(w) for w in per_seed.values()]))
    for name in names:
        stats = [w[name] for w in per_seed.values()]
        shape = tuple(stats[0]["shape"])
        if len(shape) == 4:
            found.append(_kernel_finding(backend, name, shape, stats, z_limit))
        else:
            worst = max(float(s["max_abs"]) for s in stats)
            found.append(
                Finding(
                    "convergence.init",
                    name,
                    "max|bias| (zeros)",
                    worst,
                    0.0,
                    margin_of(worst, 0.0),
                    PASS if worst == 0.0 else FAIL,
                    f"initial bias of {len(stats)} seeds: largest magnitude {worst:.3g}, "
                    "model.md 8 initialises biases to zero",
                    backend=backend,
                )
            )
    yield from summarize_passes(found, "convergence.init", "initial weights as model.md 8", backend)


def _kernel_finding(
    backend: str,
    name: str,
    shape: tuple[int, ...],
    stats: Sequence[Mapping[str, Any]],
    z_limit: float,
) -> Finding:
    from parity.initweights import glorot_limit

    n = int(np.prod(shape))
    limit = glorot_limit(shape)
    sigma = limit / math.sqrt(3.0)
    z_mean = max(abs(float(s["mean"])) / (sigma / math.sqrt(n)) for s in stats)
    # sd of the sample standard deviation of U(-L, L): L / sqrt(15 n)
    z_std = max(abs(float(s["std"]) - sigma) / (limit / math.sqrt(15.0 * n)) for s in stats)
    worst_abs = max(float(s["max_abs"]) for s in stats)
    beyond = worst_abs > limit * (1.0 + 1e-6)
    measured = max(z_mean, z_std)
    mean_std = float(np.mean([float(s["std"]) for s in stats]))
    evidence = (
        f"Glorot uniform L={limit:.4g}: std {mean_std:.4g} vs {sigma:.4g} (worst z {z_std:.2f}), "
        f"mean worst z {z_mean:.2f}, largest |w| {worst_abs:.4g}{' > L' if beyond else ''} "
        f"({len(stats)} seeds, {n} elements)"
    )
    return Finding(
        "convergence.init",
        name,
        "|z| of sample mean and std",
        measured,
        z_limit,
        margin_of(measured, z_limit),
        FAIL if beyond or measured > z_limit else PASS,
        evidence,
        backend=backend,
    )
