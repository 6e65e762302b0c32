"""Root causes: failing findings grouped under the earliest failing stage they follow from.

The check families form a pipeline: a wrong configuration (``params``) or wrong data spoil
everything after them, a wrong physics op (``ops``) spoils every forward stage, gradient,
training step and reconstruction built on it, a forward divergence spoils gradients,
training, bundles and inference, and so on (:data:`DOWNSTREAM`). Failing families are taken in
pipeline order; a family downstream of one that already failed joins that root cause, any
other opens a new one. A root cause names what broke (the op, stage, key or section), which
backend left the float64 oracle where an oracle verdict exists, how many findings follow from
it, and the commands that reproduce it.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from typing import Any

from parity.checks import FAMILIES

FAILING = ("fail", "error")
PIPELINE = ("record", *FAMILIES, "regression")
_AFTER_MODEL = ("gradients", "training", "bundles", "inference", "convergence", "regression")
DOWNSTREAM: dict[str, tuple[str, ...]] = {
    "record": PIPELINE[1:],
    "params": PIPELINE[2:],
    "data": ("forward", *_AFTER_MODEL),
    "ops": ("forward", *_AFTER_MODEL),
    "forward": _AFTER_MODEL,
    "gradients": ("training", "convergence", "regression"),
    "training": ("convergence", "regression"),
    "bundles": ("regression",),
    "inference": ("convergence", "regression"),
    "convergence": ("regression",),
    "regression": (),
}
"""Families whose results depend on each family's (what a failure there spoils)."""


def _family(check: str) -> str:
    return str(check).split(".", 1)[0]


def _rank(family: str) -> int:
    return PIPELINE.index(family) if family in PIPELINE else len(PIPELINE)


def _first_line(text: Any, limit: int = 240) -> str:
    line = str(text or "").strip().splitlines()[0] if str(text or "").strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _where(family: str, primary: Mapping[str, Any], group: Sequence[Mapping[str, Any]]) -> str:
    if family == "ops":
        ops = list(dict.fromkeys(str(f["tensor"]) for f in group))
        more = f" (with {len(ops) - 1} more op(s): {', '.join(ops[1:4])})" if len(ops) > 1 else ""
        return f"op {primary['tensor']}{more}"
    if family == "forward":
        for f in group:
            if f["check"] == "forward.localisation":
                details = f.get("details") or {}
                stage = details.get("cumulative") or details.get("single_step") or f["tensor"]
                return f"forward stage {stage}"
        return f"forward {primary['tensor']}"
    if family == "params":
        return f"configuration key {primary['tensor']}"
    if primary["verdict"] == "error" and primary.get("metric") == "error":
        return f"{primary['check']} {primary['tensor']} (the section did not run)"
    return f"{primary['check']} {primary['tensor']}"


def _oracle_verdict(group: Sequence[Mapping[str, Any]], backends: Sequence[str]) -> str:
    """Which backend left the oracle, from the ``ops.oracle`` findings of the group."""
    oracle = [f for f in group if f["check"] == "ops.oracle"]
    if not oracle:
        return ""
    off = sorted({str(f["backend"]) for f in oracle if f["verdict"] in FAILING})
    agree = [b for b in backends if b not in off]
    if len(off) == 1:
        return f"{off[0]} departs from the oracle" + (
            f"; {', '.join(agree)} agrees with it" if agree else ""
        )
    if off:
        return "every backend departs from the oracle: " + ", ".join(off)
    return "both backends agree with the oracle, not with each other"


def _primary(family: str, group: Sequence[Mapping[str, Any]]) -> Mapping[str, Any]:
    if family == "ops":
        oracle = [f for f in group if f["check"] == "ops.oracle" and f["backend"] != "both"]
        if oracle:
            return oracle[0]
    if family == "forward":
        staged = [f for f in group if f["check"] == "forward.localisation"]
        if staged:
            return staged[0]
    return group[0]


def root_causes(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The root causes of a report document (the ``root_cause`` list of ``report.json``).

    Each entry: ``id`` (1, 2, ...), ``family``, ``check``, ``tensor``, ``where``, ``backend``
    (the side the primary finding concerns), ``oracle`` (who left it, where known),
    ``summary`` (the primary finding's evidence, first line), ``findings`` (indices into
    ``data["findings"]``, the primary first), ``follows`` (how many findings follow from it),
    ``follows_by_family`` and ``reproduce`` (shell commands).
    """
    findings = list(data.get("findings", []))
    failing = [(i, f) for i, f in enumerate(findings) if f.get("verdict") in FAILING]
    by_family: dict[str, list[int]] = {}
    for i, f in failing:
        by_family.setdefault(_family(f["check"]), []).append(i)
    backends = [str(b) for b in (data.get("reference"), data.get("candidate")) if b]
    roots: list[dict[str, Any]] = []
    for family in sorted(by_family, key=_rank):
        owner = next((r for r in roots if family in DOWNSTREAM.get(r["family"], ())), None)
        if owner is not None:
            owner["findings"] += by_family[family]
            continue
        group = [findings[i] for i in by_family[family]]
        primary = _primary(family, group)
        first = findings.index(primary) if primary in findings else by_family[family][0]
        indices = [first] + [i for i in by_family[family] if i != first]
        roots.append(
            {
                "id": len(roots) + 1,
                "family": family,
                "check": primary["check"],
                "tensor": primary["tensor"],
                "where": _where(family, primary, group),
                "backend": primary.get("backend", "both"),
                "oracle": _oracle_verdict(group, backends),
                "summary": _first_line(primary.get("evidence")),
                "findings": indices,
                "reproduce": _reproduce(data, family),
            }
        )
    for root in roots:
        follows = root["findings"][1:]
        root["follows"] = len(follows)
        counts: dict[str, int] = {}
        for i in follows:
            fam = _family(findings[i]["check"])
            counts[fam] = counts.get(fam, 0) + 1
        root["follows_by_family"] = counts
    return roots


def _reproduce(data: Mapping[str, Any], family: str) -> list[str]:
    commands = [str(data["reproduce"])] if data.get("reproduce") else []
    traces = data.get("traces") or {}
    ref, cand = data.get("reference"), data.get("candidate")
    if ref in traces and cand in traces:
        commands.append(
            shlex.join(
                ["parity", "compare", str(traces[ref]), str(traces[cand]), "--checks", family]
            )
            + "   # in the report directory: this family only, from the recorded traces"
        )
    return commands
