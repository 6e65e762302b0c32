"""Figures of the HTML report, rendered with matplotlib's Agg canvas to base64 PNG.

Amplitude and phase images of both backends with a cyclic colormap for phase (``twilight``) and
difference panels; overlaid loss curves; error histograms; the per-stage error profile that shows
where the backends part ways.
"""

from __future__ import annotations

import base64
import io
import math
from pathlib import Path
from typing import Any

import numpy as np

PHASE_CMAP = "twilight"


def _figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=80)


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def object_images(
    ref: np.ndarray, cand: np.ndarray, ref_name: str, cand_name: str, title: str
) -> str:
    """2 x 3 panels: amplitude and phase of each backend, and their differences."""
    a = np.asarray(ref).squeeze()
    b = np.asarray(cand).squeeze()
    fig = _figure(11, 6.6)
    axes = fig.subplots(2, 3)
    fig.subplots_adjust(left=0.02, right=0.96, top=0.88, bottom=0.03, wspace=0.25, hspace=0.25)
    amp_a, amp_b = np.abs(a), np.abs(b)
    lo, hi = float(min(amp_a.min(), amp_b.min())), float(max(amp_a.max(), amp_b.max()))
    d_amp = amp_b - amp_a
    d_phase = np.angle(b * np.conj(a))
    panels = [
        (axes[0, 0], amp_a, f"{ref_name} amplitude", "gray", lo, hi),
        (axes[0, 1], amp_b, f"{cand_name} amplitude", "gray", lo, hi),
        (
            axes[0, 2],
            d_amp,
            f"amplitude difference ({cand_name} - {ref_name})",
            "RdBu_r",
            None,
            None,
        ),
        (axes[1, 0], np.angle(a), f"{ref_name} phase", PHASE_CMAP, -math.pi, math.pi),
        (axes[1, 1], np.angle(b), f"{cand_name} phase", PHASE_CMAP, -math.pi, math.pi),
        (axes[1, 2], d_phase, "phase difference (wrapped)", "RdBu_r", None, None),
    ]
    for ax, img, label, cmap, vmin, vmax in panels:
        if vmin is None:
            lim = float(np.max(np.abs(img))) or 1e-12
            vmin, vmax = -lim, lim
        im = ax.imshow(img, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
        ax.set_title(label, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        fig.colorbar(im, ax=ax, shrink=0.8)
    fig.suptitle(title, fontsize=11)
    return _png(fig)


def loss_curves(curves: dict[str, list[tuple[str, np.ndarray]]], title: str, ylabel: str) -> str:
    """Overlaid curves: ``{backend: [(label, values), ...]}``, one line style per backend."""
    fig = _figure(7.5, 4)
    ax = fig.add_subplot()
    fig.subplots_adjust(left=0.12, right=0.97, top=0.9, bottom=0.13)
    styles = ["-", "--", ":"]
    for i, (backend, series) in enumerate(curves.items()):
        for label, values in series:
            ax.plot(
                np.arange(1, len(values) + 1),
                values,
                styles[i % 3],
                marker="o",
                ms=3,
                label=f"{backend} {label}".strip(),
            )
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    if any(len(v) for s in curves.values() for _, v in s):
        vals = np.concatenate([np.asarray(v, float) for s in curves.values() for _, v in s])
        if (
            np.all(vals[np.isfinite(vals)] > 0)
            and np.ptp(np.log10(vals[np.isfinite(vals)] + 1e-300)) > 2
        ):
            ax.set_yscale("log")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    return _png(fig)


def error_histograms(findings: list[dict[str, Any]]) -> str | None:
    """log10 |difference| histograms of the findings that carry one."""
    hists = [f for f in findings if f.get("details", {}).get("histogram")]
    if not hists:
        return None
    fig = _figure(7.5, 4)
    ax = fig.add_subplot()
    fig.subplots_adjust(left=0.1, right=0.97, top=0.9, bottom=0.13)
    for f in hists:
        h = f["details"]["histogram"]
        edges = np.asarray(h["log10_edges"])
        counts = np.asarray(h["counts"], dtype=float)
        total = counts.sum() + h.get("zeros", 0)
        if total == 0:
            continue
        centers = 0.5 * (edges[:-1] + edges[1:])
        ax.step(
            centers,
            counts / total,
            where="mid",
            label=f"{f['check']}:{f['tensor']} ({100 * h.get('zeros', 0) / total:.0f}% exact)",
        )
    ax.set_xlabel("log10 |candidate - reference|")
    ax.set_ylabel("fraction of elements")
    ax.set_title("Error histograms", fontsize=10)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    return _png(fig)


def stage_profile(findings: list[dict[str, Any]], order: list[str] | None) -> str | None:
    """Per-stage use of the tolerance (worst |diff| / allowed), cumulative and single-step."""
    series: dict[str, dict[str, float]] = {"forward.activation": {}, "forward.single_step": {}}
    for f in findings:
        if f["check"] in series and f.get("margin") is not None:
            m = f["margin"]
            m = -math.inf if m in ("-inf", "nan") else float(m)
            series[f["check"]][f["tensor"]] = 1.0 - m if math.isfinite(m) else 1e6
    stages = order or list(series["forward.activation"])
    if not stages or not series["forward.activation"]:
        return None
    fig = _figure(10, 4.2)
    ax = fig.add_subplot()
    fig.subplots_adjust(left=0.08, right=0.98, top=0.9, bottom=0.36)
    x = np.arange(len(stages))
    for check, style, label in (
        ("forward.activation", "o-", "cumulative"),
        ("forward.single_step", "s--", "single-step (reference inputs)"),
    ):
        y = [max(series[check].get(s, np.nan), 1e-12) for s in stages]
        ax.semilogy(x, y, style, ms=4, label=label)
    ax.axhline(1.0, color="red", lw=1, label="tolerance")
    ax.set_xticks(x, stages, rotation=60, ha="right", fontsize=7)
    ax.set_ylabel("worst |diff| / allowed")
    ax.set_title("Forward stages: share of the tolerance used", fontsize=10)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    return _png(fig)


def build(data: dict[str, Any], directory: Path) -> dict[str, str]:
    """Every figure the traces and findings allow, by caption."""
    from parity.trace import Trace

    out: dict[str, str] = {}
    traces = data.get("traces", {})
    ref_name, cand_name = data.get("reference", ""), data.get("candidate", "")
    opened: dict[str, Trace] = {}
    try:
        for name, rel in traces.items():
            path = Path(directory) / rel
            if path.exists():
                opened[name] = Trace(path)
        ref, cand = opened.get(ref_name), opened.get(cand_name)
        if ref is not None and cand is not None:
            if ref.has("inference", "stitched") and cand.has("inference", "stitched"):
                a, b = ref.get("inference", "stitched"), cand.get("inference", "stitched")
                if a.shape == b.shape:
                    out["Stitched object (inference)"] = object_images(
                        a, b, ref_name, cand_name, "Stitched object"
                    )
            if ref.has("forward/outputs", "trimmed_obj") and cand.has(
                "forward/outputs", "trimmed_obj"
            ):
                a, b = (
                    ref.get("forward/outputs", "trimmed_obj"),
                    cand.get("forward/outputs", "trimmed_obj"),
                )
                if a.shape == b.shape and a.ndim == 4:
                    out["trimmed_obj, first group of the batch (forward)"] = object_images(
                        a[0, :, :, 0], b[0, :, :, 0], ref_name, cand_name, "trimmed_obj[0]"
                    )
        curves: dict[str, list[tuple[str, np.ndarray]]] = {}
        for name, t in opened.items():
            stage = "training/step_losses"
            terms = t.names(stage)
            term = "total" if "total" in terms else (terms[0] if terms else None)
            if term is not None:
                curves.setdefault(name, []).append((term, t.get(stage, term)))
        if curves:
            out["Per-step training loss from identical weights"] = loss_curves(
                curves, "Training steps", "loss"
            )
        conv: dict[str, list[tuple[str, np.ndarray]]] = {}
        for name, t in opened.items():
            for seed in t.groups("convergence"):
                if t.has(f"convergence/{seed}", "step_loss"):
                    conv.setdefault(name, []).append(
                        (seed, t.get(f"convergence/{seed}", "step_loss"))
                    )
        if conv:
            out["Convergence: loss per step, every seed"] = loss_curves(
                conv, "Convergence runs", "loss"
            )
    finally:
        for t in opened.values():
            t.close()
    findings = data["findings"]
    loc = data.get("localisation") or {}
    order = None
    for f in findings:
        if f["check"] == "forward.localisation":
            order = f.get("details", {}).get("order")
    profile = stage_profile(findings, order)
    if profile:
        out[
            "Where the backends part ways"
            + (f" (first divergent: {loc.get('cumulative')})" if loc.get("cumulative") else "")
        ] = profile
    hist = error_histograms(findings)
    if hist:
        out["Error histograms"] = hist
    return out
