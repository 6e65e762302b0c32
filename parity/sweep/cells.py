"""Cells: one scenario at one configuration and seed, stored under its content hash.

A sweep directory holds ``sweep.json`` (the expanded sweep) and ``cells/<id>/`` per finished
cell: ``cell.json`` (what ran) and ``result.json`` (verdict, seconds, one summary row per check)
and, for cells that ran, ``report/`` (the scenario report with its traces). A cell is built in
``cells/.<id>.partial-<token>/`` and renamed into place when complete, so a directory
``cells/<id>/`` always is a finished cell; an interrupted sweep leaves only partial directories,
which the next run removes. The id hashes the scenario's identity, the backends, the injected
defects and the project version: re-running a sweep skips every cell whose id exists.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import time
import traceback
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from backends.core.files import write_text_atomic
from parity import __version__

CELLS = "cells"
CELL_FILE = "cell.json"
RESULT_FILE = "result.json"
REPORT_DIR = "report"
VALID, INVALID = "valid", "invalid"
CELL_VERDICTS = ("pass", "fail", "error", "invalid")
REPORT_FORMATS = ("json", "md", "html", "csv")


def cell_id(scenario: Any, backends: Sequence[str], inject: Sequence[str]) -> str:
    """Content hash of what a cell computes (16 hex digits)."""
    identity = {
        "scenario": scenario.identity(),
        "backends": list(backends),
        "inject": list(inject),
        "version": __version__,
    }
    text = json.dumps(identity, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def invalid_id(overrides: Mapping[str, Any], seed: int | None, sweep_source: str) -> str:
    """Hash of an invalid cell (its overrides and seed; it never runs)."""
    text = json.dumps(
        {"overrides": overrides, "seed": seed, "source": sweep_source, "version": __version__},
        sort_keys=True,
        default=str,
    )
    return "x" + hashlib.sha256(text.encode()).hexdigest()[:15]


def cell_dir(root: Path, ident: str) -> Path:
    """Where the finished cell ``ident`` lives."""
    return Path(root) / CELLS / ident


def is_finished(root: Path, ident: str) -> bool:
    """Whether cell ``ident`` has completed (its directory exists with a result)."""
    return (cell_dir(root, ident) / RESULT_FILE).is_file()


def remove_partials(root: Path) -> int:
    """Delete the partial cell directories an interrupted run left; returns how many."""
    base = Path(root) / CELLS
    if not base.is_dir():
        return 0
    stale = [p for p in base.iterdir() if p.name.startswith(".") and ".partial-" in p.name]
    for p in stale:
        shutil.rmtree(p, ignore_errors=True)
    return len(stale)


def _write_json(path: Path, data: Any) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=True, default=str))


def publish(root: Path, ident: str, cell: Mapping[str, Any], result: Mapping[str, Any]) -> Path:
    """Store a cell that never ran in a worker (an invalid cell, or one whose workers died):
    ``cell.json`` and ``result.json``, atomically."""
    partial = _partial(root, ident)
    _write_json(partial / CELL_FILE, cell)
    _write_json(partial / RESULT_FILE, result)
    return _commit(partial, root, ident)


def _partial(root: Path, ident: str) -> Path:
    partial = Path(root) / CELLS / f".{ident}.partial-{uuid.uuid4().hex[:12]}"
    partial.mkdir(parents=True)
    return partial


def _commit(partial: Path, root: Path, ident: str) -> Path:
    final = cell_dir(root, ident)
    try:
        os.replace(partial, final)
    except OSError:  # another run finished the same cell first: its copy stands
        shutil.rmtree(partial, ignore_errors=True)
    return final


def summary_rows(findings: Sequence[Any], timings: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per check: worst verdict, worst margin among the findings of that verdict (a
    passing finding counts at least 0; none for a verdict without margins), the
    tensor of the worst finding, and the recording seconds of the check's family (summed over
    backends)."""
    from parity.findings import FAILING

    order = {"error": 0, "fail": 1, "xpass": 2, "known": 3, "pass": 4, "skipped": 5}
    by_check: dict[str, list[Any]] = {}
    for f in findings:
        by_check.setdefault(f.check, []).append(f)
    rows = []
    for check, group in sorted(by_check.items()):
        worst = min(group, key=lambda f: (order.get(f.verdict, 9), _margin_key(f.margin)))
        # a finding passed through an allowance (a share of elements beyond the element
        # tolerance) has a negative margin; as a pass it stands at the limit, margin 0
        margins = [
            max(f.margin, 0.0) if f.verdict == "pass" else f.margin
            for f in group
            if f.margin is not None and f.verdict == worst.verdict
        ]
        family = check.split(".", 1)[0]
        seconds = sum(
            float(t.get(family, 0.0) or 0.0) for t in timings.values() if isinstance(t, Mapping)
        )
        rows.append(
            {
                "check": check,
                "family": family,
                "verdict": worst.verdict,
                "worst_margin": min(margins) if margins else None,
                "tensor": worst.tensor,
                "backend": worst.backend,
                "evidence": str(worst.evidence)[:500],
                "failing": sum(1 for f in group if f.verdict in FAILING),
                "findings": len(group),
                "seconds": round(seconds, 3),
            }
        )
    return rows


def _margin_key(margin: float | None) -> float:
    return float("inf") if margin is None else float(margin)


def _import_frameworks_in_order(backends: Sequence[str]) -> None:
    # torch first: TensorFlow loaded before torch in one process can break torch's kernels
    if "pytorch" in backends:
        with contextlib.suppress(ImportError):
            import torch  # noqa: F401


def run_cell(payload: Mapping[str, Any]) -> dict[str, Any]:
    """Run one cell and store it (called in a Dask worker; imports the frameworks here only).

    ``payload``: ``root``, ``id``, ``cell`` (the cell.json document, with the scenario as
    :meth:`parity.scenario.Scenario.to_dict`), ``backends``, ``inject``. Returns the result
    document. An exception inside the run becomes an ``error`` result; the cell is stored."""
    from parity import scenario as scenario_mod

    root, ident = Path(payload["root"]), str(payload["id"])
    if is_finished(root, ident):
        return json.loads((cell_dir(root, ident) / RESULT_FILE).read_text(encoding="utf-8"))
    cell = dict(payload["cell"])
    backends = list(payload["backends"])
    partial = _partial(root, ident)
    started = time.perf_counter()
    result: dict[str, Any]
    try:
        _import_frameworks_in_order(backends)
        from parity.engine import run_scenario

        sc = scenario_mod.from_json(cell["scenario"])
        run = run_scenario(
            sc,
            backends,
            out_root=partial / "runs",
            inject=list(payload.get("inject", [])),
            formats=list(REPORT_FORMATS),
            command=str(payload.get("command", "")),
        )
        assert run.report_dir is not None
        os.replace(run.report_dir, partial / REPORT_DIR)
        shutil.rmtree(partial / "runs", ignore_errors=True)
        loc = run.localisation() or {}
        result = {
            "verdict": run.verdict,
            "seconds": round(time.perf_counter() - started, 3),
            "first_divergent": loc.get("cumulative") or "",
            "rows": summary_rows(run.findings, run.timings),
            "report": f"{REPORT_DIR}/report.html",
            "error": "",
            "worker_pid": os.getpid(),
        }
    except Exception:
        result = {
            "verdict": "error",
            "seconds": round(time.perf_counter() - started, 3),
            "first_divergent": "",
            "rows": [],
            "report": "",
            "error": traceback.format_exc()[-4000:],
            "worker_pid": os.getpid(),
        }
    _write_json(partial / CELL_FILE, cell)
    _write_json(partial / RESULT_FILE, result)
    _commit(partial, root, ident)
    return result


def read_cells(root: Path) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """``(cell.json, result.json)`` of every finished cell under ``root`` (partial ones and
    unreadable files are skipped)."""
    base = Path(root) / CELLS
    out: list[tuple[dict[str, Any], dict[str, Any]]] = []
    if not base.is_dir():
        return out
    for d in sorted(base.iterdir()):
        if d.name.startswith(".") or not (d / RESULT_FILE).is_file():
            continue
        try:
            cell = json.loads((d / CELL_FILE).read_text(encoding="utf-8"))
            result = json.loads((d / RESULT_FILE).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
        cell.setdefault("id", d.name)
        out.append((cell, result))
    return out
