"""The sweep table: one row per cell and check, from the cell directories, as Parquet and CSV.

Columns: ``cell`` (id), ``index``, ``label`` (the overrides and seed), ``cell_verdict``,
``check``, ``family``, ``verdict``, ``worst_margin``, ``tensor``, ``backend``,
``first_divergent``, ``seconds``, ``evidence``, ``report``. A cell without check rows (invalid, or
an error before any check ran) has one row with check ``-``. The knob coverage of the finished
cells goes into ``knobs.json``.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from parity.sweep import cells as cells_mod

TABLE = "sweep"
COLUMNS = (
    "cell",
    "index",
    "label",
    "cell_verdict",
    "check",
    "family",
    "verdict",
    "worst_margin",
    "tensor",
    "backend",
    "first_divergent",
    "seconds",
    "cell_seconds",
    "evidence",
    "report",
)


def frame(root: Path) -> Any:
    """The sweep table (pandas DataFrame) of every finished cell under ``root``."""
    import pandas as pd

    rows: list[dict[str, Any]] = []
    for cell, result in cells_mod.read_cells(root):
        ident = str(cell.get("id"))
        report = result.get("report") or ""
        base = {
            "cell": ident,
            "index": int(cell.get("index", -1)),
            "label": str(cell.get("label", "")),
            "cell_verdict": str(result.get("verdict", "")),
            "first_divergent": str(result.get("first_divergent", "")),
            "cell_seconds": float(result.get("seconds", 0.0) or 0.0),
            "report": f"{cells_mod.CELLS}/{ident}/{report}" if report else "",
        }
        checks = result.get("rows") or []
        if not checks:
            rows.append(
                {
                    **base,
                    "check": "-",
                    "family": "-",
                    "verdict": base["cell_verdict"],
                    "worst_margin": None,
                    "tensor": "",
                    "backend": "",
                    "seconds": base["cell_seconds"],
                    "evidence": str(result.get("error", ""))[:500],
                }
            )
        for r in checks:
            rows.append({**base, **{k: r.get(k) for k in COLUMNS if k in r}})
    table = pd.DataFrame(rows, columns=list(COLUMNS))
    table["worst_margin"] = pd.to_numeric(table["worst_margin"], errors="coerce")
    table["seconds"] = pd.to_numeric(table["seconds"], errors="coerce")
    return table.sort_values(["index", "check"], kind="stable").reset_index(drop=True)


def knob_runs(root: Path) -> list[dict[str, Any]]:
    """The knob values of every valid finished cell (:func:`parity.knobs.used_values`)."""
    from parity.knobs import used_values

    out = []
    for cell, _ in cells_mod.read_cells(root):
        sc = cell.get("scenario")
        if not isinstance(sc, dict):
            continue
        values = used_values(sc.get("config") or {}, float(sc["run"]["learning_rate"]))
        values.setdefault("subsample_seed", (sc.get("seeds") or {}).get("data"))
        out.append(values)
    return out


def write(root: Path) -> dict[str, Path]:
    """Write ``sweep.parquet``, ``sweep.csv``, ``knobs.json`` and ``index.html`` under ``root``
    (each through a temporary file and a rename); returns their paths."""
    from parity.knobs import coverage
    from parity.report import atomic_write
    from parity.sweep import page

    root = Path(root)
    table = frame(root)
    knobs = [k.to_json() for k in coverage(knob_runs(root))] if knob_runs(root) else []
    out: dict[str, Path] = {}
    buffer = io.BytesIO()
    table.to_parquet(buffer, index=False)
    out["parquet"] = atomic_write(root / f"{TABLE}.parquet", buffer.getvalue())
    out["csv"] = atomic_write(root / f"{TABLE}.csv", table.to_csv(index=False))
    out["knobs"] = atomic_write(root / "knobs.json", json.dumps(knobs, indent=2))
    meta = _sweep_meta(root)
    out["html"] = atomic_write(root / "index.html", page.render(table, knobs, meta))
    return out


def _sweep_meta(root: Path) -> dict[str, Any]:
    from parity.sweep.execute import SWEEP_FILE

    try:
        return dict(json.loads((root / SWEEP_FILE).read_text(encoding="utf-8")))
    except (OSError, json.JSONDecodeError):
        return {}


def worst(table: Any, limit: int = 20) -> Any:
    """The failing and erroring rows (then invalid cells), worst margin first."""
    bad = table[table["verdict"].isin(["fail", "error", "invalid"])]
    return bad.sort_values(["worst_margin", "index"], na_position="last").head(limit)
