"""Check families. Each module provides ``run(ctx) -> Iterator[Finding]`` over two traces.

The reference trace (``ctx.ref``, normally TensorFlow) is the expected side; the candidate
(``ctx.cand``) the actual side. A family that raises yields one ``error`` finding and the other
families still run.
"""

from __future__ import annotations

import importlib
import traceback
from collections.abc import Iterable, Iterator

from parity.checks.base import Context
from parity.findings import Finding, error_finding

FAMILIES = (
    "params",
    "data",
    "ops",
    "forward",
    "gradients",
    "training",
    "data_parallel",
    "bundles",
    "inference",
    "convergence",
)
"""Families comparing two traces (``regression`` compares a trace with its baseline)."""


def run_family(name: str, ctx: Context) -> Iterator[Finding]:
    """The findings of one family; an exception becomes an ``error`` finding."""
    module = importlib.import_module(f"parity.checks.{name}")
    try:
        yield from module.run(ctx)
    except Exception:
        yield error_finding(name, "*", f"check raised:\n{traceback.format_exc()}")


def run_all(ctx: Context, families: Iterable[str]) -> list[Finding]:
    """Findings of every requested family, in :data:`FAMILIES` order."""
    wanted = set(families)
    out: list[Finding] = []
    for name in FAMILIES:
        if name in wanted:
            out.extend(run_family(name, ctx))
    return out


__all__ = ["FAMILIES", "Context", "run_all", "run_family"]
