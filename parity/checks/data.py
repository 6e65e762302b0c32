"""data: the containers each backend builds from the same file must be the same bytes."""

from __future__ import annotations

from collections.abc import Iterator

from parity.checks.base import Context, missing
from parity.findings import Finding


def run(ctx: Context) -> Iterator[Finding]:
    """Findings of the data family."""
    problems, ok = ctx.section_findings("data", "data")
    yield from problems
    if not ok or ctx.cand is None:
        return
    for split in ("train", "test"):
        stage = f"data/{split}"
        ref_names, cand_names = set(ctx.ref.names(stage)), set(ctx.cand.names(stage))
        for name in sorted(ref_names | cand_names):
            tensor = f"{split}.{name}"
            if name not in cand_names:
                yield missing("data.container", tensor, f"{ctx.cand_name}'s {split} container")
            elif name not in ref_names:
                yield missing("data.container", tensor, f"{ctx.ref_name}'s {split} container")
            else:
                yield ctx.compare(
                    "data.container",
                    tensor,
                    ctx.cand.get(stage, name),
                    ctx.ref.get(stage, name),
                    family="data",
                    kind="exact",
                    check_dtype=True,
                )
