"""regression: a backend's trace against its stored baseline trace (same backend, same scenario).

Baselines are slim: tensors above a size limit are stored as summaries (shape, dtype, SHA-256,
L2 norm, max |x| and a sketch: fixed random projections and a downsampled copy). A full tensor is
compared with a summary through its sketch, whose allowance follows from the element tolerance
of the tensor's kind (the derivation is in :mod:`parity.sketch`), so a roll, transpose, flip or
sign change fails although it leaves the norm and the maximum unchanged. Summaries of an older
baseline without a sketch fall back to the relative change of L2 norm and max |x|.

Each trace records a machine fingerprint (:mod:`parity.machine`). Against a baseline with the
same fingerprint the ``[regression*]`` tolerances apply (the run is deterministic there). Against
a baseline from another machine, or one without a fingerprint, the libraries may reorder float32
reductions: the training trajectory is then compared with the cross-backend ``[training.*]``
tolerances (which allow the same reordering, share of mismatched weights included), and the long
convergence trainings, chaotic after that many steps, are skipped with the reason; the
convergence check covers them statistically.

A baseline recorded on another device kind (a CPU baseline for a GPU run) is compared with the
``[device*]`` tolerances instead, never with the same-device ones, and the findings say so; the
``cross-device`` scenario uses the same comparison (:func:`compare_devices`) for one backend's
GPU trace against its CPU trace.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import numpy as np

from parity import machine, numeric
from parity.checks.base import keyed_diff, summarize_passes
from parity.findings import FAIL, PASS, Finding, margin_of, skipped_finding
from parity.tolerances import Registry, Tolerance
from parity.trace import Trace, summarize

SKIP_STAGES = ("bundle",)
"""Stages whose content depends on the machine (none of the bundle bytes are compared)."""
MACHINE_LOCAL_KEYS = {
    key: "a path on the recording machine (dataset cache, output folder)"
    for key in ("train_data_file_path", "test_data_file_path", "output_prefix", "model_path")
}
"""Legacy keys a baseline recorded on another machine legitimately differs in."""
CHAOTIC_PREFIX = "convergence/"
"""Stages of the long trainings (per seed; not the ground truth ``convergence``): across
machines their float32 reordering grows into differences of several per cent."""
CROSS_MACHINE_KINDS = {
    "training/first_step": "first_step",
    "training/weights": "weights",
    "training/step_losses": "loss",
}
"""Training stages compared across machines with the cross-backend ``[training.<kind>]``
entry (same float32 reordering between two builds as between two frameworks)."""


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


def _current_summary(current: Trace, stage: str, name: str, base: dict) -> dict:
    """The summary of a tensor of ``current`` to hold against the baseline's summary ``base``:
    shape, dtype and SHA-256 alone where they equal the baseline's (identical bytes need no
    sketch, which costs most of a regression check), else the whole summary."""
    if current.is_summary(stage, name):
        return current.summary(stage, name)
    arr = np.asarray(current.get(stage, name))
    digest = {
        "shape": list(arr.shape),
        "dtype": str(arr.dtype),
        "sha256": hashlib.sha256(np.ascontiguousarray(arr).tobytes()).hexdigest(),
    }
    if all(digest[key] == base.get(key) for key in digest):
        return digest
    return summarize(arr)


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


DEVICE_FAMILY = "device"
"""Tolerance family (``[device.<kind>]``) of comparisons across device kinds."""


def compare_devices(current: Trace, other: Trace, tolerances: Registry) -> Iterator[Finding]:
    """One backend's trace on one device against its trace on another (checks ``device.*``,
    ``[device.<kind>]`` tolerances)."""
    yield from compare_baseline(current, other, tolerances, check="device")


def compare_baseline(
    current: Trace, baseline: Trace, tolerances: Registry, check: str = "regression"
) -> Iterator[Finding]:
    """Findings of ``current`` against ``baseline`` of the same backend and scenario
    (checks named ``<check>.<stage>``). Traces of different device kinds are compared with
    the ``[device.<kind>]`` tolerances."""
    backend = current.backend
    kinds = (
        machine.device_kind(current.meta_json("machine") or {"device": current.meta.get("device")}),
        machine.device_kind(
            baseline.meta_json("machine") or {"device": baseline.meta.get("device")}
        ),
    )
    cross_device = "unknown" not in kinds and kinds[0] != kinds[1]
    if baseline.backend != backend:
        yield Finding(
            check,
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
            check,
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
            f"{check}.params",
            base_legacy,
            current_legacy,
            "baseline",
            "current",
            ignore=MACHINE_LOCAL_KEYS,
            label="legacy keys",
        ):
            f.backend = backend
            yield f
    elsewhere = machine.differences(current.meta_json("machine"), baseline.meta_json("machine"))
    across = (
        f"{kinds[0]} against {kinds[1]}, [{DEVICE_FAMILY}*] tolerances: " if cross_device else ""
    )
    if cross_device:
        elsewhere = (
            f"recorded on the {kinds[0]} against one recorded on the {kinds[1]}, compared with "
            f"the [{DEVICE_FAMILY}] tolerances (not yet measured on a GPU); {elsewhere}"
        )
    groups: dict[str, list[Finding]] = {}
    by_stage: dict[str, list[Finding]] = {}
    chaotic: list[str] = []
    for stage, name in baseline.walk():
        top = stage.split("/", 1)[0]
        if top in SKIP_STAGES:
            continue
        group = f"{check}.{top}"
        tensor = f"{stage}/{name}"
        if elsewhere and stage.startswith(CHAOTIC_PREFIX):
            chaotic.append(tensor)
            continue
        bucket = groups.setdefault(group, [])
        if not current.has(stage, name):
            bucket.append(
                Finding(
                    group,
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
        summary = baseline.is_summary(stage, name) or current.is_summary(stage, name)
        kind = _kind(stage, ds_dtype, name)
        tol = _tolerance(tolerances, stage, kind, tensor, bool(elsewhere), summary, cross_device)
        if summary:
            base = baseline.summary(stage, name)
            found = _summary_finding(
                group, tensor, _current_summary(current, stage, name, base), base, tol, backend
            )
            found.evidence = f"{across}{found.evidence}"
            bucket.append(found)
            continue
        cmp = numeric.compare(current.get(stage, name), baseline.get(stage, name), tol)
        bucket.append(
            Finding(
                group,
                tensor,
                tol.describe(),
                cmp.measured,
                cmp.allowed,
                cmp.margin,
                PASS if cmp.ok else FAIL,
                f"{across}{cmp.message()}",
                backend,
                details=cmp.details(),
            )
        )
        by_stage.setdefault(stage, []).append(bucket[-1])
    if chaotic:
        stages = sorted({t.rsplit("/", 1)[0] for t in chaotic})
        yield skipped_finding(
            f"{check}.convergence",
            f"<{len(chaotic)} tensors of {', '.join(stages)}>",
            f"{elsewhere}. After this many float32 training steps the reordering between "
            "machines grows chaotically (stitched objects move by several percent), so these "
            "are not compared with another machine's baseline; the convergence check tests the "
            "trained reconstructions statistically",
            backend,
        )
    for stage, kind in CROSS_MACHINE_KINDS.items():
        tol = tolerances.lookup(DEVICE_FAMILY if cross_device else "training", kind)
        if elsewhere and tol.mismatch_fraction > 0 and by_stage.get(stage):
            name = f"{check}.{stage.split('/', 1)[0]}"
            groups[name].append(_mismatch_share(by_stage[stage], tol, stage, elsewhere, backend))
    for name, findings in groups.items():
        yield from summarize_passes(findings, name, "tensors unchanged", backend)


def _tolerance(
    tolerances: Registry,
    stage: str,
    kind: str,
    tensor: str,
    elsewhere: bool,
    summary: bool,
    cross_device: bool = False,
) -> Tolerance:
    """The ``[regression.<kind>]`` entry, or across machines the cross-backend training entry
    of a training stage, or across device kinds the ``[device.<kind>]`` entry. A sketch cannot
    count a share of mismatched elements, so a summarised tensor keeps the regression entry
    where the training entry relies on such a share."""
    if cross_device:
        if kind != "exact" and stage in CROSS_MACHINE_KINDS:
            tol = tolerances.lookup(DEVICE_FAMILY, CROSS_MACHINE_KINDS[stage], tensor)
            if not (summary and tol.mismatch_fraction > 0):
                return tol
        return tolerances.lookup(DEVICE_FAMILY, kind, tensor)
    if elsewhere and kind != "exact" and stage in CROSS_MACHINE_KINDS:
        tol = tolerances.lookup("training", CROSS_MACHINE_KINDS[stage], tensor)
        if not (summary and tol.mismatch_fraction > 0):
            return tol
    return tolerances.lookup("regression", kind, tensor)


def _mismatch_share(
    findings: list[Finding], tol: Tolerance, stage: str, elsewhere: str, backend: str
) -> Finding:
    """Across machines a share of ``mismatch_fraction`` of all elements of ``stage`` may lie
    outside the element tolerance (Adam steps on gradients at float32 noise level flip sign):
    failing tensors are passed when the stage's share stays within it; the share is a finding."""
    mismatched = sum(int(f.details.get("mismatched", 0)) for f in findings)
    total = sum(int(f.details.get("total", 0)) for f in findings)
    share = mismatched / total if total else 0.0
    within = share <= tol.mismatch_fraction
    for f in findings:
        finite = isinstance(f.details.get("max_abs"), float)
        if f.verdict == FAIL and within and finite and f.details.get("mismatched"):
            f.verdict = PASS
            f.evidence = (
                f"{f.details['mismatched']} elements outside the element tolerance, within the "
                f"cross-machine allowance of {tol.mismatch_fraction:.2g} of all elements of "
                f"{stage}; {f.evidence}"
            )
    return Finding(
        f"{findings[0].check if findings else 'regression'}",
        f"{stage}/<all>",
        f"share of elements outside {tol.describe()}",
        share,
        tol.mismatch_fraction,
        margin_of(share, tol.mismatch_fraction),
        PASS if within else FAIL,
        f"{mismatched} of {total} elements of {stage} beyond the element tolerance (allowed "
        f"share {tol.mismatch_fraction:.2g}, [{tol.key}]); baseline from another machine: "
        f"{elsewhere}",
        backend,
    )
