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


def blank_png() -> str:
    """An empty figure as PNG (loads matplotlib, its Agg canvas and its fonts)."""
    fig = _figure(1, 1)
    fig.text(0.5, 0.5, "-")
    return _png(fig)


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


MIN_CURVE_POINTS = 3
"""Curves with fewer points are stated in words, not drawn."""


def loss_curves(
    curves: dict[str, list[tuple[str, np.ndarray]]],
    title: str,
    ylabel: str,
    xlabel: str = "step",
) -> str:
    """Overlaid curves ``{backend: [(label, values), ...]}``: each run faint, the backend's
    mean over runs (of equal length) bold, one colour and line style per backend."""
    fig = _figure(7.5, 4)
    ax = fig.add_subplot()
    fig.subplots_adjust(left=0.12, right=0.97, top=0.9, bottom=0.13)
    styles = ["-", "--", ":"]
    colours = ["#0969da", "#cf222e", "#1a7f37"]
    finite: list[np.ndarray] = []
    for i, (backend, series) in enumerate(curves.items()):
        colour, style = colours[i % 3], styles[i % 3]
        arrays = [np.asarray(v, dtype=np.float64) for _, v in series]
        for label, values in zip([s[0] for s in series], arrays, strict=True):
            x = np.arange(1, len(values) + 1)
            faint = len(arrays) > 1
            ax.plot(
                x,
                values,
                style,
                color=colour,
                alpha=0.3 if faint else 1.0,
                lw=0.8 if faint else 2.0,
                label=None if faint else f"{backend} {label}".strip(),
            )
            finite.append(values[np.isfinite(values)])
        lengths = {len(a) for a in arrays}
        if len(arrays) > 1 and len(lengths) == 1:
            mean = np.mean(np.stack(arrays), axis=0)
            ax.plot(
                np.arange(1, len(mean) + 1),
                mean,
                style,
                color=colour,
                lw=2.2,
                label=f"{backend} mean of {len(arrays)} seeds",
            )
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    vals = np.concatenate(finite) if finite else np.empty(0)
    if vals.size and np.all(vals > 0) and np.ptp(np.log10(vals)) > 2:
        ax.set_yscale("log")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    return _png(fig)


def curve_or_text(
    curves: dict[str, list[tuple[str, np.ndarray]]], title: str, ylabel: str, xlabel: str
) -> str:
    """The plot, or ``"text:..."`` stating the values when a curve has under three points."""
    shortest = min((len(v) for s in curves.values() for _, v in s), default=0)
    if shortest >= MIN_CURVE_POINTS:
        return loss_curves(curves, title, ylabel, xlabel)
    parts = []
    for backend, series in curves.items():
        for label, values in series:
            shown = ", ".join(f"{float(x):.6g}" for x in np.asarray(values).ravel())
            parts.append(f"{backend} {label}: [{shown}]".replace("  ", " "))
    return (
        f"text:{len(np.asarray(curves[next(iter(curves))][0][1]))} {xlabel}(s) only, too few "
        f"to draw a trend (at least {MIN_CURVE_POINTS} are needed); values: " + "; ".join(parts)
    )


def ground_truth_panels(recon: np.ndarray, truth: np.ndarray, backend: str, title: str) -> str:
    """2 x 3 panels over the scanned region: ground truth, reconstruction (aligned) and their
    difference, for amplitude (first row) and phase (second row, cyclic colormap)."""
    from backends.metrics import aligned_pair, crop_to_covered

    r, t, alignment = aligned_pair(*crop_to_covered(recon, truth))
    amp_r, amp_t = alignment["amplitude_scale"] * np.abs(r), np.abs(t)
    lo, hi = float(min(amp_r.min(), amp_t.min())), float(max(amp_r.max(), amp_t.max()))
    fig = _figure(11, 6.6)
    axes = fig.subplots(2, 3)
    fig.subplots_adjust(left=0.02, right=0.96, top=0.88, bottom=0.03, wspace=0.25, hspace=0.25)
    panels = [
        (axes[0, 0], amp_t, "ground truth amplitude", "gray", lo, hi),
        (axes[0, 1], amp_r, f"{backend} amplitude (scaled)", "gray", lo, hi),
        (axes[0, 2], amp_r - amp_t, f"amplitude: {backend} - truth", "RdBu_r", None, None),
        (axes[1, 0], np.angle(t), "ground truth phase", PHASE_CMAP, -math.pi, math.pi),
        (axes[1, 1], np.angle(r), f"{backend} phase (aligned)", PHASE_CMAP, -math.pi, math.pi),
        (axes[1, 2], np.angle(r * np.conj(t)), "phase difference (wrapped)", "RdBu_r", None, None),
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
    shift = alignment["registration"]["shift"]
    fig.suptitle(
        f"{title} (registered by ({shift[0]:.2f}, {shift[1]:.2f}) px, phase offset "
        f"{alignment['phase_offset']:.2f} rad removed)",
        fontsize=11,
    )
    return _png(fig)


def frc_figure(pairs: dict[str, tuple[np.ndarray, np.ndarray]]) -> str:
    """FRC against the ground truth of amplitude and phase, per backend, with the 1/7 and
    half-bit thresholds."""
    from backends.metrics import crop_to_covered, reconstruction_metrics

    fig = _figure(11, 4)
    axes = fig.subplots(1, 2)
    fig.subplots_adjust(left=0.07, right=0.98, top=0.88, bottom=0.14, wspace=0.2)
    styles = ["-", "--", ":"]
    for i, (backend, (recon, truth)) in enumerate(pairs.items()):
        m = reconstruction_metrics(*crop_to_covered(recon, truth))
        for ax, part in zip(axes, ("amplitude", "phase"), strict=True):
            frc = m[part]["frc"]
            res = frc["threshold_half-bit"]
            ax.plot(
                frc["frequency"],
                frc["curve"],
                styles[i % 3],
                label=f"{backend} (half-bit: {res['resolution_px']:.3g} px)",
            )
            if i == 0:
                ax.plot(frc["frequency"], frc["half_bit"], color="gray", lw=1, label="half-bit")
                ax.axhline(1 / 7, color="black", lw=0.8, ls=":", label="1/7")
    for ax, part in zip(axes, ("amplitude", "phase"), strict=True):
        ax.set_title(f"FRC against ground truth: {part}", fontsize=10)
        ax.set_xlabel("spatial frequency (cycles / pixel)")
        ax.set_ylim(-0.2, 1.05)
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
    """Every figure the traces and findings allow, by caption (drawn ones only)."""
    return {c: p for _, c, p in build_sections(data, directory) if not p.startswith("text:")}


def build_sections(data: dict[str, Any], directory: Path) -> list[tuple[str, str, str]]:
    """``(section, caption, payload)`` for the HTML report: section ``reconstruction``,
    ``curves`` or ``diagnostics``; payload a base64 PNG, or ``"text:..."`` where a figure
    would mislead (a curve of fewer than three points)."""
    from parity.trace import Trace

    out: list[tuple[str, str, str]] = []
    traces = data.get("traces", {})
    ref_name, cand_name = data.get("reference", ""), data.get("candidate", "")
    opened: dict[str, Trace] = {}
    try:
        for name, rel in traces.items():
            path = Path(directory) / str(rel)
            if path.is_file():
                opened[name] = Trace(path)
        out += _reconstructions(opened)
        out += _curves(opened)
        ref, cand = opened.get(ref_name), opened.get(cand_name)
        if ref is not None and cand is not None:
            if ref.has("inference", "stitched") and cand.has("inference", "stitched"):
                a, b = ref.get("inference", "stitched"), cand.get("inference", "stitched")
                if a.shape == b.shape:
                    title = "Stitched object of the untrained networks (inference check)"
                    out.append(
                        (
                            "diagnostics",
                            title + ": identical initial weights, not a reconstruction",
                            object_images(a, b, ref_name, cand_name, title),
                        )
                    )
            if ref.has("forward/outputs", "trimmed_obj") and cand.has(
                "forward/outputs", "trimmed_obj"
            ):
                a = ref.get("forward/outputs", "trimmed_obj")
                b = cand.get("forward/outputs", "trimmed_obj")
                if a.shape == b.shape and a.ndim == 4:
                    out.append(
                        (
                            "diagnostics",
                            "trimmed_obj of the untrained networks, first group (forward)",
                            object_images(
                                a[0, :, :, 0], b[0, :, :, 0], ref_name, cand_name, "trimmed_obj[0]"
                            ),
                        )
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
        caption = "Where the backends part ways" + (
            f" (first divergent: {loc.get('cumulative')})" if loc.get("cumulative") else ""
        )
        out.append(("diagnostics", caption, profile))
    hist = error_histograms(findings)
    if hist:
        out.append(("diagnostics", "Error histograms", hist))
    return out


def _reconstructions(opened: dict[str, Any]) -> list[tuple[str, str, str]]:
    out: list[tuple[str, str, str]] = []
    pairs: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for name, t in opened.items():
        if not t.has("convergence", "truth"):
            continue
        truth = np.asarray(t.get("convergence", "truth"))
        for seed in t.groups("convergence"):
            if t.has(f"convergence/{seed}", "stitched"):
                recon = np.asarray(t.get(f"convergence/{seed}", "stitched")).squeeze()
                if recon.shape != truth.shape:
                    continue
                pairs[name] = (recon, truth)
                out.append(
                    (
                        "reconstruction",
                        f"{name}: trained reconstruction ({seed}) against the ground truth",
                        ground_truth_panels(recon, truth, name, f"{name}, trained, {seed}"),
                    )
                )
                break
    if pairs:
        out.append(("reconstruction", "Fourier ring correlation", frc_figure(pairs)))
    return out


def _curves(opened: dict[str, Any]) -> list[tuple[str, str, str]]:
    out: list[tuple[str, str, str]] = []
    steps: dict[str, list[tuple[str, np.ndarray]]] = {}
    for name, t in opened.items():
        stage = "training/step_losses"
        terms = t.names(stage)
        term = "total" if "total" in terms else (terms[0] if terms else None)
        if term is not None:
            steps.setdefault(name, []).append((term, t.get(stage, term)))
    if steps:
        out.append(
            (
                "curves",
                "Per-step training loss from identical weights",
                curve_or_text(steps, "Training steps (identical weights)", "loss", "step"),
            )
        )
    for key, xlabel, title in (
        ("step_loss", "step", "Convergence runs: loss per optimizer step"),
        ("loss", "epoch", "Convergence runs: training loss per epoch"),
        ("val_loss", "epoch", "Convergence runs: validation loss per epoch"),
    ):
        conv: dict[str, list[tuple[str, np.ndarray]]] = {}
        for name, t in opened.items():
            for seed in t.groups("convergence"):
                group = f"convergence/{seed}" + ("" if key == "step_loss" else "/history")
                if t.has(group, key):
                    conv.setdefault(name, []).append((seed, np.asarray(t.get(group, key))))
        if conv:
            caption = f"{title}, every seed (faint) and the mean (bold)"
            out.append(("curves", caption, curve_or_text(conv, title, "loss", xlabel)))
    return out
