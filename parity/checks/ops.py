"""ops: every physics op on identical inputs, each backend against the float64 oracle and the
backends against each other. When the backends disagree, the finding says which one left the
oracle."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from parity.checks.base import Context
from parity.findings import FAIL, Finding, error_finding, skipped_finding
from parity.opcases import KIND_BY_OP
from parity.trace import Trace


def _kind(case_id: str, output: np.ndarray) -> str:
    op = case_id.split("[", 1)[0]
    if op in KIND_BY_OP:
        return KIND_BY_OP[op]
    return "complex" if np.iscomplexobj(output) else "real"


def _inputs_digest(trace: Trace, case_id: str) -> dict[str, str]:
    import hashlib

    stage = f"ops/{case_id}/inputs"
    return {
        n: hashlib.sha256(np.ascontiguousarray(trace.get(stage, n)).tobytes()).hexdigest()
        for n in trace.names(stage)
    }


def run(ctx: Context) -> Iterator[Finding]:
    """Findings of the ops family."""
    healthy: list[Trace] = []
    for trace in ctx.traces:
        problem = ctx.trace_section("ops", trace, "ops")
        if problem is None:
            healthy.append(trace)
        else:
            yield problem
    if not healthy:
        return
    errors = {t.backend: t.json("params", "ops_errors") or {} for t in healthy}
    case_ids = sorted({c for t in healthy for c in t.groups("ops")})
    both = len(healthy) == 2
    for case_id in case_ids:
        if both and _inputs_digest(healthy[0], case_id) != _inputs_digest(healthy[1], case_id):
            yield error_finding(
                "ops.inputs",
                case_id,
                "the two traces fed this op different inputs (recorded with another harness "
                "version or seed); re-record both",
            )
            continue
        oracle_vs: dict[str, Finding] = {}
        outputs: dict[str, np.ndarray] = {}
        for trace in healthy:
            stage = f"ops/{case_id}"
            err = errors.get(trace.backend, {}).get(case_id, {})
            if "output" in err:
                yield error_finding(
                    "ops.oracle",
                    case_id,
                    f"{trace.backend} raised:\n{err['output']}",
                    trace.backend,
                )
                continue
            if not trace.has(stage, "output"):
                yield skipped_finding("ops.oracle", case_id, "no output recorded", trace.backend)
                continue
            out = trace.get(stage, "output")
            outputs[trace.backend] = out
            if not trace.has(stage, "oracle"):
                reason = err.get("oracle", "the oracle produced no output")
                yield skipped_finding(
                    "ops.oracle",
                    case_id,
                    f"oracle unavailable: {reason.splitlines()[-1] if reason else ''}",
                    trace.backend,
                )
                continue
            f = ctx.compare(
                "ops.oracle",
                case_id,
                out,
                trace.get(stage, "oracle"),
                family="ops",
                kind=_kind(case_id, out),
                backend=trace.backend,
            )
            oracle_vs[trace.backend] = f
            yield f
        if not both or ctx.cand is None:
            continue
        a, b = ctx.ref_name, ctx.cand_name
        if a not in outputs or b not in outputs:
            continue
        f = ctx.compare(
            "ops.backends",
            case_id,
            outputs[b],
            outputs[a],
            family="ops",
            kind=_kind(case_id, outputs[a]),
            check_dtype=True,
        )
        if f.verdict == FAIL and f.details.get("mismatched", 1) == 0:
            f.evidence = f"values agree within tolerance but the dtypes differ; {f.evidence}"
        elif f.verdict == FAIL:
            f.evidence = f"{_who_left(oracle_vs, a, b)}; {f.evidence}"
        yield f


def _who_left(oracle_vs: dict[str, Finding], a: str, b: str) -> str:
    fa, fb = oracle_vs.get(a), oracle_vs.get(b)
    if fa is None or fb is None:
        return "no oracle verdict to say which backend is wrong"
    off = [n for n, f in ((a, fa), (b, fb)) if f.verdict == FAIL]
    if len(off) == 1:
        good = b if off[0] == a else a
        bad_f = fa if off[0] == a else fb
        return (
            f"{off[0]} departs from the oracle (greatest absolute difference "
            f"{_fmt(bad_f)}) while {good} agrees with it"
        )
    if len(off) == 2:
        return "both backends depart from the oracle"
    return (
        "both backends agree with the oracle within its tolerance but not with each other "
        "(errors of opposite sign)"
    )


def _fmt(f: Finding) -> str:
    return "n/a" if f.measured is None else f"{f.measured:.3g}"
