"""The metric table of a report: reconstruction quality against ground truth per backend and
seed (from the convergence section of each trace), with the convergence test's verdict on each
metric beside it."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

COLUMNS = (
    ("amplitude.psnr", "amp PSNR (dB)"),
    ("amplitude.ssim", "amp SSIM"),
    ("amplitude.mae", "amp MAE"),
    ("amplitude.frc.threshold_half-bit.frequency", "amp FRC ½-bit (cycles/px)"),
    ("amplitude.frc.threshold_1/7.resolution_px", "amp FRC 1/7 (px)"),
    ("phase.psnr", "phase PSNR (dB)"),
    ("phase.ssim", "phase SSIM"),
    ("phase.mae", "phase MAE (rad)"),
    ("phase.frc.threshold_half-bit.frequency", "phase FRC ½-bit (cycles/px)"),
    ("phase.frc.threshold_1/7.resolution_px", "phase FRC 1/7 (px)"),
    ("final_loss", "final loss"),
)
"""(flattened metric name, column label) in table order: the half-bit FRC as the frequency the
convergence test compares (one ring its margin), the 1/7 crossing as a resolution (reported)."""


def _number(value: Any) -> float | None:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x


def metric_table(doc: Mapping[str, Any], directory: Path) -> dict[str, Any]:
    """``{"columns": [[name, label], ...], "rows": [{"backend", "seed", "values"}],
    "reference": {name: value}, "resemblance": {backend: {name: {"verdict", "evidence"}}},
    "verdicts": {name: {"verdict", "evidence"}}}``: the trained metrics, those of a flat object
    (the trivial reconstruction), each backend's verdict on beating it and the equivalence
    verdicts; empty rows without convergence traces."""
    from parity.trace import Trace

    rows: list[dict[str, Any]] = []
    reference: dict[str, float | None] = {}
    for backend, rel in (doc.get("traces") or {}).items():
        path = Path(directory) / str(rel)
        if not path.is_file():
            continue
        try:
            with Trace(path) as trace:
                runs = trace.json("params", "convergence") or {}
                flat = (trace.json("params", "convergence_reference") or {}).get("flat object")
        except Exception:  # a damaged trace shows as an error finding elsewhere
            continue
        if flat and not reference:
            reference = {name: _number(flat.get(name)) for name, _ in COLUMNS}
        for seed, run in sorted(runs.items(), key=lambda kv: str(kv[0])):
            metrics = run.get("metrics", {}) if isinstance(run, Mapping) else {}
            values = {name: _number(metrics.get(name)) for name, _ in COLUMNS}
            rows.append({"backend": str(backend), "seed": str(seed), "values": values})
    verdicts: dict[str, dict[str, str]] = {}
    resemblance: dict[str, dict[str, dict[str, str]]] = {}
    for f in doc.get("findings", []):
        if f.get("tensor") not in dict(COLUMNS):
            continue
        cell = {"verdict": f["verdict"], "evidence": str(f.get("evidence"))}
        if f.get("check") == "convergence":
            verdicts[f["tensor"]] = cell
        elif f.get("check") == "convergence.trained":
            resemblance.setdefault(str(f.get("backend")), {})[f["tensor"]] = cell
    return {
        "columns": [list(c) for c in COLUMNS],
        "rows": rows,
        "reference": reference,
        "resemblance": resemblance,
        "verdicts": verdicts,
    }


def format_value(value: Any) -> str:
    """A table cell: 4 significant digits, ``inf``/``nan`` spelled out, blank when missing."""
    x = _number(value)
    if x is None:
        return ""
    if not math.isfinite(x):
        return str(x)
    return f"{x:.4g}"
