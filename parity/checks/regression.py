"""regression: a backend's trace against its stored baseline trace (same backend, same scenario).

Baselines are slim: tensors above a size limit are stored as summaries (shape, dtype, SHA-256,
L2 norm, max |x| and a sketch: fixed random projections and a downsampled copy). A full tensor is
compared with a summary through its sketch, whose allowance follows from the element tolerance
of the tensor's kind (the derivation is in :mod:`parity.sketch`), so a roll, transpose, flip or
sign change fails although it leaves the norm and the maximum unchanged. Summaries of an older
baseline without a sketch fall back to the relative change of L2 norm and max |x|.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from parity import numeric
from parity.checks.base import keyed_diff, summarize_passes
from parity.findings import FAIL, PASS, Finding, margin_of
from parity.tolerances import Registry, Tolerance
from parity.trace import Trace

SKIP_STAGES = ("bundle",)
MACHINE_LOCAL_KEYS = {
    key: "a path on the recording machine (dataset cache, output folder)"
    for key in ("train_data_file_path", "test_data_file_path", "output_prefix", "model_path")
}
"""Legacy keys a baseline recorded on another machine legitimately differs in."""
"""Stages whose content depends on the machine (none of the bundle bytes are compared)."""


def _kind(stage: str, dtype: str, name: str = "") -> str:
    if np.dtype(dtype).kind in "iub":
        return "exact"
    if stage.startswith("data"):
        return "data"
    if stage.startswith(("training", "convergence")):
        return "training"
    if stage.startswith("gradients"):
        return "gradient_bias" if name.endswith(".bias") else "gradient"
    return "default"


def _summary_finding(
    check: str, tensor: str, cur: dict, base: dict, tol: Tolerance, backend: str
) -> Finding:
    if cur["shape"] != base["shape"] or cur["dtype"] != base["dtype"]:
        return Finding(
            check,
            tensor,
            "summary",
            None,
            None,
            None,
            FAIL,
            f"shape/dtype {cur['shape']} {cur['dtype']} vs baseline {base['shape']} {base['dtype']}",
            backend,
        )
    if tol.mode == "exact" or cur["sha256"] == base["sha256"]:
        same = cur["sha256"] == base["sha256"]
        return Finding(
            check,
            tensor,
            "sha256",
            0.0 if same else 1.0,
            0.0,
            1.0 if same else None,
            PASS if same else FAIL,
            "identical bytes" if same else "bytes differ from the baseline (exact tensor)",
            backend,
        )
    if "sketch" in cur and "sketch" in base and not tol.cyclic:
        from parity import sketch

        got = sketch.compare(cur, base, rtol=tol.rtol, atol=tol.atol, mode=tol.mode)
        return Finding(
            check,
            tensor,
            f"sketch ({sketch.PROJECTIONS} projections, downsampled copy), {tol.describe()}",
            got["ratio"],
            1.0,
            margin_of(got["ratio"], 1.0),
            PASS if got["ok"] else FAIL,
            got["evidence"],
            backend,
        )
    worst = 0.0
    for stat in ("l2", "max_abs"):
        ref = float(base[stat])
        rel = abs(float(cur[stat]) - ref) / ref if ref else abs(float(cur[stat]))
        worst = max(worst, rel)
    allowed = tol.rtol + (tol.atol if tol.mode == "elementwise" else 0.0)
    ok = worst <= allowed
    return Finding(
        check,
        tensor,
        f"summary (l2, max|x|) rtol={allowed:.3g}",
        worst,
        allowed,
        margin_of(worst, allowed),
        PASS if ok else FAIL,
        f"relative change of l2/max|x| {worst:.3g} (baseline l2 {base['l2']:.6g}, now "
        f"{cur['l2']:.6g}); the baseline has no sketch and cannot see a shift or transpose: "
        "re-record it (parity baseline update --all)",
        backend,
    )


def compare_baseline(current: Trace, baseline: Trace, tolerances: Registry) -> Iterator[Finding]:
    """Findings of ``current`` against ``baseline`` of the same backend and scenario."""
    backend = current.backend
    if baseline.backend != backend:
        yield Finding(
            "regression",
            "*",
            "backend",
            None,
            None,
            None,
            FAIL,
            f"baseline {baseline.path} is of backend {baseline.backend!r}, not {backend!r}",
            backend,
        )
        return
    if (baseline.scenario_name, baseline.scenario_hash) != (
        current.scenario_name,
        current.scenario_hash,
    ):
        yield Finding(
            "regression",
            "*",
            "scenario",
            None,
            None,
            None,
            FAIL,
            f"baseline {baseline.path} was recorded for another version of scenario "
            f"{baseline.scenario_name!r} (hash {baseline.scenario_hash} vs {current.scenario_hash}); "
            "run `parity baseline update` if the change is intended",
            backend,
        )
        return
    base_legacy = baseline.json("params", "legacy")
    current_legacy = current.json("params", "legacy")
    if base_legacy is not None and current_legacy is not None:
        for f in keyed_diff(
            "regression.params",
            base_legacy,
            current_legacy,
            "baseline",
            "current",
            ignore=MACHINE_LOCAL_KEYS,
            label="legacy keys",
        ):
            f.backend = backend
            yield f
    groups: dict[str, list[Finding]] = {}
    for stage, name in baseline.walk():
        top = stage.split("/", 1)[0]
        if top in SKIP_STAGES:
            continue
        check = f"regression.{top}"
        tensor = f"{stage}/{name}"
        bucket = groups.setdefault(check, [])
        if not current.has(stage, name):
            bucket.append(
                Finding(
                    check,
                    tensor,
                    "presence",
                    None,
                    None,
                    None,
                    FAIL,
                    "in the baseline but not recorded now",
                    backend,
                )
            )
            continue
        ds_dtype = str(baseline.dataset(stage, name).dtype)
        if baseline.is_summary(stage, name):
            ds_dtype = baseline.summary(stage, name)["dtype"]
        tol = tolerances.lookup("regression", _kind(stage, ds_dtype, name), tensor)
        if baseline.is_summary(stage, name) or current.is_summary(stage, name):
            bucket.append(
                _summary_finding(
                    check,
                    tensor,
                    current.summary(stage, name),
                    baseline.summary(stage, name),
                    tol,
                    backend,
                )
            )
            continue
        cmp = numeric.compare(current.get(stage, name), baseline.get(stage, name), tol)
        bucket.append(
            Finding(
                check,
                tensor,
                tol.describe(),
                cmp.measured,
                cmp.allowed,
                cmp.margin,
                PASS if cmp.ok else FAIL,
                cmp.message(),
                backend,
                details=cmp.details(),
            )
        )
    for check, findings in groups.items():
        yield from summarize_passes(findings, check, "tensors unchanged", backend)
