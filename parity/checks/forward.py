"""forward: identical weights, identical batch; outputs, every stage activation, and the first
divergent stage, cumulatively (each backend runs the whole graph) and in single-step mode (the
candidate runs each stage on the reference's inputs to that stage, so a stage that only inherits
an upstream difference passes)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from parity.checks.base import Context, missing, summarize_passes
from parity.findings import FAIL, PASS, Finding

CANVAS_STAGES = ("padded_obj_2", "trimmed_obj", "padded_objs_with_offsets", "probe_illumination")
FFT_STAGES = ("pred_amplitude", "pred_diff_channels", "intensity_scaler_inv", "pred_amp_scaled")
OUTPUT_KIND = {"trimmed_obj": "canvas", "pred_amp_scaled": "fft", "pred_intensity": "intensity"}


def stage_kind(stage: str) -> str:
    """Tolerance kind of a stage's activation."""
    if stage in CANVAS_STAGES:
        return "canvas"
    if stage in FFT_STAGES:
        return "fft"
    if stage == "pred_intensity":
        return "intensity"
    return "activation"


def stage_names(scenario: Any) -> list[str]:
    """The ordered stage names of the scenario's model (:func:`backends.graph.stages`)."""
    from backends.graph import stages

    return [s.name for s in stages(scenario.model_config())]


def _weights_roundtrip(ctx: Context) -> Iterator[Finding]:
    for trace in ctx.traces:
        status = trace.json("params", "export_check") or {}
        findings = []
        for name, state in sorted(status.items()):
            if state == "equal":
                findings.append(
                    Finding(
                        "forward.weights", name, "exact", 0.0, 0.0, 1.0, PASS, "", trace.backend
                    )
                )
            else:
                findings.append(
                    Finding(
                        "forward.weights",
                        name,
                        "exact",
                        None,
                        0.0,
                        None,
                        FAIL,
                        f"export_weights after import_weights: {state} (weights must round-trip "
                        "bit for bit under their canonical names)",
                        trace.backend,
                    )
                )
        yield from summarize_passes(
            findings, "forward.weights", "weights round-tripped", trace.backend
        )


def run(ctx: Context) -> Iterator[Finding]:
    """Findings of the forward family."""
    problems, ok = ctx.section_findings("forward", "forward")
    yield from problems
    if not ok or ctx.cand is None:
        return
    ref, cand = ctx.ref, ctx.cand
    yield from _weights_roundtrip(ctx)
    for key in ref.names("batch"):
        if cand.has("batch", key):
            f = ctx.compare(
                "forward.inputs",
                key,
                cand.get("batch", key),
                ref.get("batch", key),
                family="forward",
                kind="exact",
                check_dtype=True,
            )
            if f.verdict != PASS:
                yield f
    for name in sorted(set(ref.names("forward/outputs")) | set(cand.names("forward/outputs"))):
        if not cand.has("forward/outputs", name):
            yield missing("forward.output", name, f"{ctx.cand_name}'s outputs")
        elif not ref.has("forward/outputs", name):
            yield missing("forward.output", name, f"{ctx.ref_name}'s outputs")
        else:
            yield ctx.compare(
                "forward.output",
                name,
                cand.get("forward/outputs", name),
                ref.get("forward/outputs", name),
                family="forward",
                kind=OUTPUT_KIND.get(name, "activation"),
                histogram=True,
                check_dtype=True,
            )
    order = stage_names(ctx.scenario)
    first_cumulative: str | None = None
    first_single: str | None = None
    single_meta = cand.json("params", "single_step") or {}
    single_errors = single_meta.get("errors", {})
    for stage in order:
        kind = stage_kind(stage)
        if not ref.has("forward/activations", stage):
            yield missing(
                "forward.activation", stage, f"{ctx.ref_name}'s captured activations", ctx.ref_name
            )
        elif not cand.has("forward/activations", stage):
            yield missing(
                "forward.activation",
                stage,
                f"{ctx.cand_name}'s captured activations",
                ctx.cand_name,
            )
            first_cumulative = first_cumulative or stage
        else:
            expected = ref.get("forward/activations", stage)
            f = ctx.compare(
                "forward.activation",
                stage,
                cand.get("forward/activations", stage),
                expected,
                family="forward",
                kind=kind,
                check_dtype=True,
                context=(
                    f"downstream of the first divergent stage {first_cumulative}"
                    if first_cumulative
                    else ""
                ),
            )
            if f.verdict == FAIL and first_cumulative is None:
                first_cumulative = stage
            yield f
        if not ref.has("forward/activations", stage):
            continue
        if cand.has("forward/single_step", stage):
            f = ctx.compare(
                "forward.single_step",
                stage,
                cand.get("forward/single_step", stage),
                ref.get("forward/activations", stage),
                family="forward",
                kind=kind,
                check_dtype=True,
                context=f"stage re-fed the inputs of {single_meta.get('source', '?')}",
            )
            if f.verdict == FAIL and first_single is None:
                first_single = stage
            yield f
        elif stage in single_errors:
            yield Finding(
                "forward.single_step",
                stage,
                "run_stage",
                None,
                None,
                None,
                FAIL,
                f"run_stage failed: {single_errors[stage]}",
                ctx.cand_name,
            )
            first_single = first_single or stage
    yield _localisation(order, first_cumulative, first_single, single_meta.get("source", "?"))


def _localisation(
    order: list[str], cumulative: str | None, single: str | None, source: str
) -> Finding:
    if cumulative is None and single is None:
        return Finding(
            "forward.localisation",
            "-",
            "first divergent stage",
            0.0,
            0.0,
            1.0,
            PASS,
            f"all {len(order)} stages agree, cumulatively and single-step",
            details={"cumulative": None, "single_step": None, "order": order},
        )
    parts = []
    if cumulative is not None:
        idx = order.index(cumulative)
        parts.append(
            f"first divergent stage (cumulative): {cumulative}, stage {idx + 1} of "
            f"{len(order)}; the {idx} stages before it agree"
        )
    else:
        parts.append("cumulatively every stage agrees")
    if single is not None:
        parts.append(f"first divergent stage (single-step, inputs from {source}): {single}")
    else:
        parts.append("single-step: every stage agrees on the reference inputs")
    return Finding(
        "forward.localisation",
        cumulative or single or "-",
        "first divergent stage",
        None,
        None,
        None,
        FAIL,
        "; ".join(parts),
        details={"cumulative": cumulative, "single_step": single, "order": order},
    )
