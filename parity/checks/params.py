"""params: the legacy snapshots each backend's own configuration path produces.

Both snapshots are diffed key by key (missing, extra, type, value); each is also diffed against
the snapshot the canonical configuration translates to (default drift between the layers), when
:mod:`backends.config` provides ``to_legacy_snapshot``.
"""

from __future__ import annotations

from collections.abc import Iterator

from parity.checks.base import Context, keyed_diff
from parity.findings import Finding

IGNORED = {
    "backend": "each configuration path names its own backend (config.md d: the bridge sets "
    "backend='pytorch')",
}


def run(ctx: Context) -> Iterator[Finding]:
    """Findings of the params family."""
    healthy = []
    for trace in ctx.traces:
        problem = ctx.trace_section("params", trace, "params")
        if problem is None:
            healthy.append(trace)
        else:
            yield problem
    if ctx.cand is not None and len(healthy) == 2:
        yield from keyed_diff(
            "params.legacy",
            ctx.ref.json("params", "legacy") or {},
            ctx.cand.json("params", "legacy") or {},
            ctx.ref_name,
            ctx.cand_name,
            ignore=IGNORED,
            label="legacy keys",
        )
    for trace in healthy:
        expected = trace.json("params", "legacy_expected")
        if expected is None:
            continue
        got = trace.json("params", "legacy") or {}
        # update_legacy_dict skips None values (config.md c): an absent key stands for None
        expected = {k: v for k, v in expected.items() if v is not None or k in got}
        for f in keyed_diff(
            "params.canonical",
            expected,
            {k: v for k, v in got.items() if k in expected},
            "the canonical config",
            trace.backend,
            ignore=IGNORED,
            label="keys matching the canonical config",
        ):
            f.backend = trace.backend
            yield f
