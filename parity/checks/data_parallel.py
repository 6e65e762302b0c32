"""data_parallel: K optimiser steps on N workers against the same steps on one worker.

Each backend is checked against itself first: from identical weights, with global batches of B
groups, N workers (each computing its shard, gradients combined by the framework: DDP or
MirroredStrategy) must take the steps one worker takes with the whole batch. The per-step
losses and the weights after K steps differ only by the order of float32 sums. Then the two
backends' N-worker runs are compared with each other, as the training family compares their
one-worker runs.
"""

from __future__ import annotations

from collections.abc import Iterator

from parity.checks.base import Context, missing
from parity.checks.training import pooled_weights
from parity.findings import Finding
from parity.trace import Trace

FAMILY = "data_parallel"


def run(ctx: Context) -> Iterator[Finding]:
    """Findings of the data-parallel family."""
    recorded = []
    for trace in ctx.traces:
        problem = ctx.trace_section(FAMILY, trace, FAMILY)
        if problem is not None:
            yield problem
            continue
        recorded.append(trace)
        yield from _pair(ctx, trace, trace, "workers", "single", trace.backend)
    if ctx.cand is not None and len(recorded) == 2:
        yield from _pair(ctx, ctx.cand, ctx.ref, "workers", "workers", "both")


def _pair(
    ctx: Context, actual: Trace, expected: Trace, a_run: str, e_run: str, backend: str
) -> Iterator[Finding]:
    """Losses and final weights of ``actual``'s ``a_run`` against ``expected``'s ``e_run``."""
    what = (
        f"{actual.backend}: {a_run} vs {e_run}"
        if actual is expected
        else f"{a_run}: {actual.backend} vs {expected.backend}"
    )
    check = "data_parallel.self" if actual is expected else "data_parallel.cross"
    stage = f"{FAMILY}/{{}}/step_losses"
    a_stage, e_stage = stage.format(a_run), stage.format(e_run)
    for name in sorted(set(actual.names(a_stage)) | set(expected.names(e_stage))):
        if not (actual.has(a_stage, name) and expected.has(e_stage, name)):
            yield missing(f"{check}.loss", name, what, backend=backend)
            continue
        yield ctx.compare(
            f"{check}.loss",
            name,
            actual.get(a_stage, name),
            expected.get(e_stage, name),
            family=FAMILY,
            kind="loss",
            backend=backend,
            context=what,
        )
    yield from pooled_weights(
        ctx,
        actual,
        expected,
        f"{FAMILY}/{a_run}/weights",
        f"{FAMILY}/{e_run}/weights",
        family=FAMILY,
        kind="weights",
        when=f"after the steps ({what})",
        backend=backend,
        check=f"{check}.weights",
    )
