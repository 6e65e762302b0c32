"""inference: object patches of every test group, the stitched object, its amplitude and its
phase (compared as angles, where the amplitude is not negligible)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from parity.checks.base import Context, missing
from parity.findings import Finding
from parity.numeric import mask_from

KINDS = {"patches": "canvas", "stitched": "canvas", "amplitude": "amplitude", "phase": "phase"}


def run(ctx: Context) -> Iterator[Finding]:
    """Findings of the inference family."""
    problems, ok = ctx.section_findings("inference", "inference")
    yield from problems
    if not ok or ctx.cand is None:
        return
    ref, cand = ctx.ref, ctx.cand
    for name, kind in KINDS.items():
        if not (ref.has("inference", name) and cand.has("inference", name)):
            side = ctx.cand_name if ref.has("inference", name) else ctx.ref_name
            yield missing("inference.output", name, f"{side}'s inference results")
            continue
        where = None
        context = ""
        if name == "phase" and ref.has("inference", "amplitude"):
            tol = ctx.tolerances.lookup("inference", kind, name)
            amp = np.asarray(ref.get("inference", "amplitude"))
            if amp.shape == np.asarray(ref.get("inference", "phase")).shape:
                where = mask_from(amp, tol.mask_below)
                if where is not None:
                    context = f"phase compared where amplitude >= {tol.mask_below:g} of its maximum"
        yield ctx.compare(
            "inference.output",
            name,
            cand.get("inference", name),
            ref.get("inference", name),
            family="inference",
            kind=kind,
            where=where,
            histogram=True,
            check_dtype=True,
            context=context,
        )
