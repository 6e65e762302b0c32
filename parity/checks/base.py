"""Shared machinery of the check families: the comparison context and finding helpers."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from parity import numeric
from parity.findings import (
    ERROR,
    FAIL,
    PASS,
    SKIPPED,
    Finding,
    error_finding,
    skipped_finding,
)
from parity.tolerances import Registry
from parity.trace import Trace


@dataclass
class Context:
    """Two traces of one scenario and the tolerances to judge them by.

    ``cand`` is None when only one backend was recorded: cross-backend checks are then skipped
    and only the checks against the oracle (and regression) run.
    """

    ref: Trace
    cand: Trace | None
    scenario: Any
    tolerances: Registry
    histograms: bool = True

    @property
    def traces(self) -> list[Trace]:
        """The recorded traces (reference first)."""
        return [t for t in (self.ref, self.cand) if t is not None]

    def compare(
        self,
        check: str,
        tensor: str,
        actual: Any,
        expected: Any,
        *,
        family: str,
        kind: str,
        backend: str = "both",
        where: np.ndarray | None = None,
        histogram: bool = False,
        check_dtype: bool = False,
        context: str = "",
    ) -> Finding:
        """Compare two tensors and turn the result into a finding."""
        tol = self.tolerances.lookup(family, kind, tensor)
        cmp = numeric.compare(
            actual, expected, tol, where=where, histogram=histogram and self.histograms
        )
        verdict = PASS if cmp.ok else FAIL
        evidence = cmp.message()
        a_dt, b_dt = np.asarray(actual).dtype, np.asarray(expected).dtype
        if check_dtype and a_dt != b_dt:
            verdict = FAIL
            evidence = f"dtype {a_dt} ({self.cand_name}) vs {b_dt} ({self.ref_name}); {evidence}"
        if context:
            evidence = f"{evidence}; {context}"
        details = cmp.details()
        details.update(tolerance_key=tol.key, basis=tol.basis)
        return Finding(
            check=check,
            tensor=tensor,
            metric=tol.describe(),
            measured=cmp.measured,
            tolerance=cmp.allowed,
            margin=cmp.margin,
            verdict=verdict,
            evidence=evidence,
            backend=backend,
            details=details,
        )

    @property
    def ref_name(self) -> str:
        """Name of the reference backend."""
        return self.ref.backend

    @property
    def cand_name(self) -> str:
        """Name of the candidate backend (``-`` when absent)."""
        return self.cand.backend if self.cand is not None else "-"

    def trace_section(self, family: str, trace: Trace, section: str) -> Finding | None:
        """None when ``trace`` recorded ``section`` cleanly, else an error/skipped finding."""
        info = trace.sections.get(section)
        if info is None:
            return skipped_finding(
                family,
                "*",
                f"{trace.backend} trace has no {section!r} section (not in the recorded checks)",
                backend=trace.backend,
            )
        if info.get("status") != "ok":
            return error_finding(
                family,
                section,
                f"{trace.backend} failed while recording {section!r}:\n"
                + str(info.get("traceback") or info.get("error", "")),
                backend=trace.backend,
            )
        return None

    def section_findings(
        self, family: str, section: str, need_both: bool = True
    ) -> tuple[list[Finding], bool]:
        """Error/skip findings for a section that did not record cleanly, and whether the
        comparison can go ahead (both traces, or only the reference when ``need_both`` is
        False, recorded the section)."""
        out: list[Finding] = []
        ok = True
        traces = self.traces if need_both else [self.ref]
        if need_both and self.cand is None:
            return [skipped_finding(family, "*", "only one backend was recorded")], False
        for trace in traces:
            problem = self.trace_section(family, trace, section)
            if problem is not None:
                out.append(problem)
                ok = False
        return out, ok


def summarize_passes(
    findings: Iterable[Finding], check: str, label: str, backend: str = "both"
) -> Iterator[Finding]:
    """Failing findings as they are; passing ones folded into one summary finding (the one
    closest to its limit named), to keep per-weight checks readable."""
    passed: list[Finding] = []
    for f in findings:
        if f.verdict == PASS:
            passed.append(f)
        else:
            yield f
    if not passed:
        return
    worst = min(passed, key=lambda f: f.margin if f.margin is not None else math.inf)
    yield Finding(
        check=check,
        tensor=f"<{len(passed)} {label}>",
        metric=worst.metric,
        measured=worst.measured,
        tolerance=worst.tolerance,
        margin=worst.margin,
        verdict=PASS,
        evidence=f"{len(passed)} {label} within tolerance; closest to its limit: {worst.tensor} "
        f"({worst.evidence})",
        backend=backend,
        details={"members": [f.tensor for f in passed], "worst": worst.tensor},
    )


def missing(check: str, tensor: str, where: str, backend: str = "both") -> Finding:
    """A required tensor or key absent from a trace."""
    return Finding(
        check, tensor, "presence", None, None, None, FAIL, f"missing from {where}", backend
    )


def keyed_diff(
    check: str,
    ref: dict[str, Any],
    cand: dict[str, Any],
    ref_name: str,
    cand_name: str,
    ignore: dict[str, str] | None = None,
    label: str = "keys",
) -> Iterator[Finding]:
    """Key-by-key diff of two JSON mappings: missing, extra, type and value differences fail,
    identical keys fold into one passing finding; ignored keys are reported as skipped."""
    ignore = ignore or {}
    same = 0
    for key in sorted(set(ref) | set(cand)):
        if key in ignore:
            yield Finding(check, key, "ignored", None, None, None, SKIPPED, ignore[key], "both")
            continue
        if key not in cand:
            yield Finding(
                check,
                key,
                "presence",
                None,
                None,
                None,
                FAIL,
                f"key {key!r} is in {ref_name}'s {label} (value {ref[key]!r}) but missing from {cand_name}'s",
            )
        elif key not in ref:
            yield Finding(
                check,
                key,
                "presence",
                None,
                None,
                None,
                FAIL,
                f"key {key!r} is in {cand_name}'s {label} (value {cand[key]!r}) but not in {ref_name}'s",
            )
        elif type(ref[key]) is not type(cand[key]):
            yield Finding(
                check,
                key,
                "type",
                None,
                None,
                None,
                FAIL,
                f"{key!r}: {ref_name} has {type(ref[key]).__name__} {ref[key]!r}, "
                f"{cand_name} has {type(cand[key]).__name__} {cand[key]!r}",
            )
        elif ref[key] != cand[key]:
            yield Finding(
                check,
                key,
                "value",
                None,
                None,
                None,
                FAIL,
                f"{key!r}: {ref_name} {ref[key]!r} vs {cand_name} {cand[key]!r}",
            )
        else:
            same += 1
    if same:
        yield Finding(
            check,
            f"<{same} {label}>",
            "equality",
            0.0,
            0.0,
            1.0,
            PASS,
            f"{same} {label} identical (key, type and value)",
        )


def is_error(f: Finding) -> bool:
    """Whether a finding is an error."""
    return f.verdict == ERROR
