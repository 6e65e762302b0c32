"""convergence (sign-off): reconstruction metrics of several independently seeded trainings per
backend, compared as distributions.

The stated test is equivalence by two one-sided Welch t-tests (TOST) at level ``alpha``: the
backends are equivalent on a metric when the ``1 - 2 alpha`` Welch confidence interval of
``mean(candidate) - mean(reference)`` lies inside ``(-margin, +margin)``. A Mann-Whitney U test
of equal distributions is reported beside it as evidence (it does not decide the verdict).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from parity.checks.base import Context
from parity.findings import FAIL, PASS, Finding, margin_of, skipped_finding


@dataclass
class Equivalence:
    """Outcome of a TOST on two samples."""

    diff: float
    low: float
    high: float
    p_tost: float
    p_mannwhitney: float | None
    df: float

    @property
    def bound(self) -> float:
        """The confidence bound farthest from zero."""
        return max(abs(self.low), abs(self.high))


def tost_welch(
    ref: Sequence[float], cand: Sequence[float], margin: float, alpha: float
) -> Equivalence:
    """Two one-sided Welch t-tests of ``|mean(cand) - mean(ref)| < margin``."""
    from scipy import stats

    a = np.asarray(ref, dtype=np.float64)
    b = np.asarray(cand, dtype=np.float64)
    diff = float(b.mean() - a.mean())
    va = a.var(ddof=1) / a.size
    vb = b.var(ddof=1) / b.size
    se = math.sqrt(va + vb)
    if se == 0.0:
        inside = abs(diff) < margin
        return Equivalence(diff, diff, diff, 0.0 if inside else 1.0, None, math.inf)
    df = (va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1))
    t = float(stats.t.ppf(1.0 - alpha, df))
    low, high = diff - t * se, diff + t * se
    p_low = float(stats.t.sf((diff + margin) / se, df))
    p_high = float(stats.t.cdf((diff - margin) / se, df))
    try:
        p_mw = float(stats.mannwhitneyu(b, a, alternative="two-sided").pvalue)
    except ValueError:
        p_mw = None
    return Equivalence(diff, low, high, max(p_low, p_high), p_mw, float(df))


def _margin(
    metric: str, ref: Sequence[float], cand: Sequence[float], settings: dict[str, Any]
) -> tuple[float, str]:
    """The equivalence margin of a metric and how it was chosen."""
    a = np.asarray(ref, dtype=np.float64)
    b = np.asarray(cand, dtype=np.float64)
    pooled = math.sqrt((a.var(ddof=1) + b.var(ddof=1)) / 2.0) if a.size > 1 and b.size > 1 else 0.0
    margins = settings.get("margins", {})
    candidates = {
        "seed spread": float(settings.get("sd_margin", 2.0)) * pooled,
        "floor": float(settings.get("min_margin", 1e-6)),
    }
    if metric in margins:
        candidates["table"] = float(margins[metric])
    else:
        candidates["relative"] = float(settings.get("relative_margin", 0.05)) * abs(float(a.mean()))
    source = max(candidates, key=lambda k: candidates[k])
    return candidates[source], source


def run(ctx: Context) -> Iterator[Finding]:
    """Findings of the convergence family."""
    problems, ok = ctx.section_findings("convergence", "convergence")
    yield from problems
    if not ok or ctx.cand is None:
        return
    settings = ctx.tolerances.convergence()
    alpha = float(settings.get("alpha", 0.05))
    per_seed = {t.backend: (t.json("params", "convergence") or {}) for t in ctx.traces}
    ref_runs, cand_runs = per_seed[ctx.ref_name], per_seed[ctx.cand_name]
    if len(ref_runs) < 2 or len(cand_runs) < 2:
        yield skipped_finding("convergence", "*", "need at least 2 seeds per backend for a t-test")
        return
    metrics = sorted(
        set.intersection(*[set(r["metrics"]) for r in (*ref_runs.values(), *cand_runs.values())])
    )
    for metric in metrics:
        a = [float(r["metrics"][metric]) for r in ref_runs.values()]
        b = [float(r["metrics"][metric]) for r in cand_runs.values()]
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
        margin, source = _margin(metric, a, b, settings)
        eq = tost_welch(a, b, margin, alpha)
        verdict = PASS if eq.bound < margin else FAIL
        mw = "n/a" if eq.p_mannwhitney is None else f"{eq.p_mannwhitney:.3g}"
        yield Finding(
            check="convergence",
            tensor=metric,
            metric=f"TOST (Welch), alpha={alpha:g}",
            measured=eq.bound,
            tolerance=margin,
            margin=margin_of(eq.bound, margin),
            verdict=verdict,
            evidence=(
                f"{ctx.ref_name} {np.mean(a):.4g} ± {np.std(a, ddof=1):.2g} (n={len(a)}), "
                f"{ctx.cand_name} {np.mean(b):.4g} ± {np.std(b, ddof=1):.2g} (n={len(b)}); "
                f"difference {eq.diff:.3g}, {100 * (1 - 2 * alpha):.0f}% CI [{eq.low:.3g}, {eq.high:.3g}] "
                f"vs margin ±{margin:.3g} ({source}); TOST p={eq.p_tost:.3g}; Mann-Whitney p={mw}"
            ),
            details={"reference": a, "candidate": b, "ci": [eq.low, eq.high], "p_tost": eq.p_tost},
        )
