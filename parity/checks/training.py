"""training: optimizer steps from identical weights on identical batches.

The weights after the first step test the optimizer's update rule itself (strict); the per-step
losses, learning rates and final weights of K steps test the trajectory, where float32 chaos
builds up (Adam steps on gradients at noise level flip sign and perturb the next gradients), so
the final weights allow a larger share of elements outside a wider element tolerance.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from parity.checks.base import Context, missing, summarize_passes
from parity.findings import FAIL, PASS, Finding, margin_of
from parity.trace import Trace


def run(ctx: Context) -> Iterator[Finding]:
    """Findings of the training family."""
    problems, ok = ctx.section_findings("training", "training")
    yield from problems
    if not ok or ctx.cand is None:
        return
    ref, cand = ctx.ref, ctx.cand
    stage = "training/step_losses"
    for term in sorted(set(ref.names(stage)) | set(cand.names(stage))):
        if not (ref.has(stage, term) and cand.has(stage, term)):
            side = ctx.cand_name if ref.has(stage, term) else ctx.ref_name
            yield missing("training.loss", term, f"{side}'s per-step losses")
            continue
        yield ctx.compare(
            "training.loss",
            term,
            cand.get(stage, term),
            ref.get(stage, term),
            family="training",
            kind="loss",
        )
    if ref.has("training", "learning_rates") and cand.has("training", "learning_rates"):
        yield ctx.compare(
            "training.lr",
            "learning_rates",
            cand.get("training", "learning_rates"),
            ref.get("training", "learning_rates"),
            family="training",
            kind="lr",
        )
    yield from _applied_lr(ctx)
    yield from _weights(ctx, ref, cand, "training/first_step", "first_step", "after one step")
    if ctx.scenario.run.train_steps > 1:
        yield from _weights(ctx, ref, cand, "training/weights", "weights", "after all steps")


def _applied_lr(ctx: Context) -> Iterator[Finding]:
    """The learning rate each optimizer step of each backend applied (measured from its weight
    changes and gradients, see :func:`parity.numeric.applied_learning_rates`) against the
    scenario's learning rate."""
    requested = float(ctx.scenario.run.learning_rate)
    for trace in (ctx.ref, ctx.cand):
        if trace is None or not trace.has("training", "applied_lr"):
            continue
        applied = np.atleast_1d(trace.get("training", "applied_lr"))
        yield ctx.compare(
            "training.applied_lr",
            "learning_rate",
            applied,
            np.full(applied.shape, requested),
            family="training",
            kind="applied_lr",
            backend=trace.backend,
            context=f"learning rate applied by each of {trace.backend}'s {applied.size} Adam "
            f"steps (index = step - 1), measured from its weight changes, against the "
            f"scenario's {requested:g}",
        )


def _weights(
    ctx: Context, ref: Trace, cand: Trace, stage: str, kind: str, when: str
) -> Iterator[Finding]:
    """Weights of the two backends after the same steps (:func:`pooled_weights`)."""
    yield from pooled_weights(ctx, cand, ref, stage, stage, family="training", kind=kind, when=when)


def pooled_weights(
    ctx: Context,
    actual: Trace,
    expected: Trace,
    actual_stage: str,
    expected_stage: str,
    *,
    family: str,
    kind: str,
    when: str,
    backend: str = "both",
    check: str | None = None,
) -> Iterator[Finding]:
    """Weights: every element within the element tolerance, except a share of at most
    ``mismatch_fraction`` of all elements (Adam steps on gradients at float32 noise level flip
    sign; model.md 9 expects divergence from float32 non-associativity)."""
    check = check or f"{family}.{kind}"
    tol = ctx.tolerances.lookup(family, kind)
    per_tensor: list[Finding] = []
    mismatched = total = 0
    names = set(expected.names(expected_stage)) | set(actual.names(actual_stage))
    for name in sorted(names):
        if not actual.has(actual_stage, name):
            per_tensor.append(missing(check, name, f"{actual.backend}'s weights {when}", backend))
        elif not expected.has(expected_stage, name):
            per_tensor.append(missing(check, name, f"{expected.backend}'s weights {when}", backend))
        else:
            f = ctx.compare(
                check,
                name,
                actual.get(actual_stage, name),
                expected.get(expected_stage, name),
                family=family,
                kind=kind,
                backend=backend,
                check_dtype=True,
            )
            mismatched += int(f.details.get("mismatched", 0))
            total += int(f.details.get("total", 0))
            per_tensor.append(f)
    if not per_tensor:
        return
    fraction = mismatched / total if total else 0.0
    allowed = tol.mismatch_fraction
    within = fraction <= allowed
    out = []
    for f in per_tensor:
        if f.verdict == FAIL and within and f.metric != "presence" and "dtype" not in f.evidence:
            f.verdict = PASS
            f.evidence = (
                f"{f.details.get('mismatched', 0)} elements outside the element tolerance, "
                f"within the allowance of {allowed:.2g} of all weights; {f.evidence}"
            )
        out.append(f)
    yield from summarize_passes(out, check, f"weight tensors {when}")
    yield Finding(
        check=check,
        tensor="<all weights>",
        metric=f"share of elements outside {tol.describe()}",
        measured=fraction,
        tolerance=allowed,
        margin=margin_of(fraction, allowed),
        verdict=PASS if within else FAIL,
        evidence=f"{mismatched} of {total} weight elements differ beyond the element tolerance "
        f"{when} (allowed share {allowed:.2g})",
        backend=backend,
    )
