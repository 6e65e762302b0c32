"""gradients: loss terms and the gradient of the total loss by canonical weight name, from
identical weights on an identical batch."""

from __future__ import annotations

from collections.abc import Iterator

from parity.checks.base import Context, missing, summarize_passes
from parity.findings import Finding


def run(ctx: Context) -> Iterator[Finding]:
    """Findings of the gradients family."""
    problems, ok = ctx.section_findings("gradients", "gradients")
    yield from problems
    if not ok or ctx.cand is None:
        return
    ref, cand = ctx.ref, ctx.cand
    for term in sorted(set(ref.names("gradients/losses")) | set(cand.names("gradients/losses"))):
        if not (ref.has("gradients/losses", term) and cand.has("gradients/losses", term)):
            side = ctx.cand_name if ref.has("gradients/losses", term) else ctx.ref_name
            yield missing("gradients.loss", term, f"{side}'s loss terms")
            continue
        yield ctx.compare(
            "gradients.loss",
            term,
            cand.get("gradients/losses", term),
            ref.get("gradients/losses", term),
            family="gradients",
            kind="loss",
        )
    grads = []
    for name in sorted(set(ref.names("gradients/grads")) | set(cand.names("gradients/grads"))):
        if not cand.has("gradients/grads", name):
            grads.append(missing("gradients.grad", name, f"{ctx.cand_name}'s gradients"))
        elif not ref.has("gradients/grads", name):
            grads.append(missing("gradients.grad", name, f"{ctx.ref_name}'s gradients"))
        else:
            grads.append(
                ctx.compare(
                    "gradients.grad",
                    name,
                    cand.get("gradients/grads", name),
                    ref.get("gradients/grads", name),
                    family="gradients",
                    kind="gradient_bias" if name.endswith(".bias") else "gradient",
                    check_dtype=True,
                )
            )
    yield from summarize_passes(grads, "gradients.grad", "gradients")
