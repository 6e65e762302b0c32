"""training: K optimizer steps from identical weights on identical batches; the per-step loss
terms, the learning rates and the final weights."""

from __future__ import annotations

from collections.abc import Iterator

from parity.checks.base import Context, missing, summarize_passes
from parity.findings import Finding


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
    weights = []
    stage = "training/weights"
    for name in sorted(set(ref.names(stage)) | set(cand.names(stage))):
        if not cand.has(stage, name):
            weights.append(missing("training.weights", name, f"{ctx.cand_name}'s final weights"))
        elif not ref.has(stage, name):
            weights.append(missing("training.weights", name, f"{ctx.ref_name}'s final weights"))
        else:
            weights.append(
                ctx.compare(
                    "training.weights",
                    name,
                    cand.get(stage, name),
                    ref.get(stage, name),
                    family="training",
                    kind="weights",
                    check_dtype=True,
                )
            )
    yield from summarize_passes(weights, "training.weights", "final weights")
