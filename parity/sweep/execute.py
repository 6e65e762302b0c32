"""Run a sweep's cells on Dask: a ``LocalCluster`` of worker processes, or an existing cluster.

The driver (this module) expands the sweep, stores the invalid cells, skips the finished ones and
submits the rest, one task per cell (:func:`parity.sweep.cells.run_cell`); the workers import the
frameworks, the driver never does. A worker that dies mid-cell gets the cell resubmitted once;
a second death stores the cell as ``error`` with the reason, and the sweep goes on.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backends.core.files import write_text_atomic
from parity.sweep import cells as cells_mod
from parity.sweep.spec import CellSpec, Sweep

SWEEP_FILE = "sweep.json"
RETRIES_AFTER_WORKER_DEATH = 1
POLL_SECONDS = 1.0


@dataclass
class Planned:
    """A cell with its id, ready to run or to skip."""

    spec: CellSpec
    id: str
    document: dict[str, Any]


@dataclass
class Outcome:
    """What a sweep run did."""

    total: int = 0
    skipped: int = 0
    invalid: int = 0
    ran: int = 0
    failed: int = 0
    errors: int = 0
    partials_removed: int = 0


def plan(sweep: Sweep, inject: Sequence[str] = ()) -> list[Planned]:
    """Every cell with its content id and its ``cell.json`` document."""
    out = []
    for spec in sweep.cells():
        doc: dict[str, Any] = {
            "index": spec.index,
            "label": spec.label,
            "overrides": spec.overrides,
            "seed": spec.seed,
            "sweep": sweep.name,
            "backends": list(sweep.backends),
            "inject": list(inject),
        }
        if spec.scenario is None:
            ident = cells_mod.invalid_id(spec.overrides, spec.seed, sweep.name)
            doc.update(id=ident, status=cells_mod.INVALID, problem=spec.problem)
        else:
            ident = cells_mod.cell_id(spec.scenario, sweep.backends, inject)
            doc.update(id=ident, status=cells_mod.VALID, scenario=spec.scenario.to_dict())
            doc["scenario_hash"] = spec.scenario.hash
        out.append(Planned(spec, ident, doc))
    return out


def write_sweep_file(root: Path, sweep: Sweep, planned: Sequence[Planned], command: str) -> None:
    """``sweep.json``: the sweep, its cells in order and the command (for sweep-report)."""
    doc = {
        "name": sweep.name,
        "description": sweep.description,
        "source": sweep.source,
        "base_scenario": sweep.base.name,
        "backends": list(sweep.backends),
        "checks": list(sweep.checks),
        "fields": list(sweep.fields_used),
        "command": command,
        "cells": [
            {
                "id": p.id,
                "index": p.spec.index,
                "label": p.spec.label,
                "status": p.document["status"],
            }
            for p in planned
        ],
    }
    path = root / SWEEP_FILE
    write_text_atomic(path, json.dumps(doc, indent=2, sort_keys=True, default=str))


def _client(scheduler: str | None, workers: int) -> tuple[Any, Any]:
    import dask
    from dask.distributed import Client, LocalCluster

    if scheduler:
        return Client(scheduler, timeout="30s"), None
    # a worker death marks its task failed at once; the driver resubmits it once itself
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        cluster = LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.CRITICAL,
        )
    return Client(cluster), cluster


def run(
    sweep: Sweep,
    root: Path,
    *,
    workers: int = 2,
    scheduler: str | None = None,
    inject: Sequence[str] = (),
    progress: Any = None,
    command: str = "",
    retry_errors: bool = False,
    only: set[int] | None = None,
) -> Outcome:
    """Run every unfinished valid cell of ``sweep`` (or those of index in ``only``) into
    ``root``; store invalid cells."""
    from parity.progress import Silent

    progress = progress or Silent()
    root = Path(root)
    (root / cells_mod.CELLS).mkdir(parents=True, exist_ok=True)
    outcome = Outcome(partials_removed=cells_mod.remove_partials(root))
    planned = plan(sweep, inject)
    write_sweep_file(root, sweep, planned, command)
    if only is not None:
        planned = [p for p in planned if p.spec.index in only]
    outcome.total = len(planned)
    todo: list[Planned] = []
    for p in planned:
        if cells_mod.is_finished(root, p.id):
            if retry_errors and _stored_verdict(root, p.id) == "error":
                _discard(root, p.id)
            else:
                outcome.skipped += 1
                continue
        if p.document["status"] == cells_mod.INVALID:
            cells_mod.publish(root, p.id, p.document, _invalid_result(p.spec.problem))
            outcome.invalid += 1
            continue
        todo.append(p)
    if outcome.partials_removed:
        progress.note(f"removed {outcome.partials_removed} unfinished cells of an interrupted run")
    if outcome.skipped:
        progress.note(f"skipping {outcome.skipped} finished cells of {outcome.total}")
    if outcome.invalid:
        progress.note(f"{outcome.invalid} invalid cells recorded, not run")
    if not todo:
        return outcome
    client, cluster = _client(scheduler, workers)
    try:
        _drive(client, todo, root, inject, outcome, progress, command)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return outcome


def _drive(
    client: Any,
    todo: Sequence[Planned],
    root: Path,
    inject: Sequence[str],
    outcome: Outcome,
    progress: Any,
    command: str,
) -> None:
    """Keep one cell per worker thread in flight (a cell waiting on a worker would count as
    failed if that worker died), collect results, resubmit a cell once after a worker death."""
    from dask.distributed import wait

    by_key: dict[str, Planned] = {}
    attempts: dict[str, int] = {}
    pending: set[Any] = set()
    queue: deque[Planned] = deque(todo)

    def submit(p: Planned) -> None:
        attempts[p.id] = attempts.get(p.id, 0) + 1
        payload = {
            "root": str(root.resolve()),
            "id": p.id,
            "cell": p.document,
            "backends": p.document["backends"],
            "inject": list(inject),
            "command": command,
        }
        key = f"cell-{p.id}-{attempts[p.id]}"
        future = client.submit(cells_mod.run_cell, payload, key=key, pure=False)
        by_key[key] = p
        pending.add(future)

    progress.stage("cells", total=len(todo))
    while pending or queue:
        slots = _thread_count(client)
        while queue and len(pending) < slots:
            submit(queue.popleft())
        try:
            finished, _ = wait(list(pending), timeout=POLL_SECONDS, return_when="FIRST_COMPLETED")
        except TimeoutError:
            continue
        for future in finished:
            pending.discard(future)
            p = by_key.pop(future.key)
            result = _collect(future, p, root, attempts[p.id])
            if result is None:  # its worker died: once more, before the queued cells
                progress.note(f"cell {p.id} ({p.spec.label}): its worker died; retrying")
                queue.appendleft(p)
                continue
            outcome.ran += 1
            verdict = result.get("verdict")
            if verdict == "fail":
                outcome.failed += 1
            elif verdict == "error":
                outcome.errors += 1
            progress.note(
                f"{verdict:>7}  cell {p.id} ({p.spec.label}) {result.get('seconds', 0):.1f} s"
            )
            progress.advance(1, failed=outcome.failed, errors=outcome.errors, running=len(pending))
    progress.close()


def _thread_count(client: Any) -> int:
    """Worker threads of the cluster now (at least 1: a cell waits for a worker to come)."""
    try:
        return max(1, sum(int(n) for n in client.nthreads().values()))
    except Exception:
        return 1


def _collect(future: Any, p: Planned, root: Path, attempt: int) -> dict[str, Any] | None:
    from dask.distributed import KilledWorker

    try:
        return dict(future.result())
    except KilledWorker as exc:
        for stale in (root / cells_mod.CELLS).glob(f".{p.id}.partial-*"):
            shutil.rmtree(stale, ignore_errors=True)
        if attempt <= RETRIES_AFTER_WORKER_DEATH:
            return None
        reason = (
            f"the worker running this cell died {attempt} times (killed, out of memory or "
            f"crashed): {exc}"
        )
    except Exception as exc:  # the task could not run at all (e.g. a worker lacking parity)
        reason = f"{type(exc).__name__}: {exc}"
    if cells_mod.is_finished(root, p.id):
        return json.loads(
            (cells_mod.cell_dir(root, p.id) / cells_mod.RESULT_FILE).read_text(encoding="utf-8")
        )
    result = {
        "verdict": "error",
        "seconds": 0.0,
        "first_divergent": "",
        "rows": [],
        "report": "",
        "error": reason,
    }
    cells_mod.publish(root, p.id, p.document, result)
    return result


def _invalid_result(problem: str) -> dict[str, Any]:
    return {
        "verdict": "invalid",
        "seconds": 0.0,
        "first_divergent": "",
        "rows": [],
        "report": "",
        "error": problem,
    }


def _stored_verdict(root: Path, ident: str) -> str:
    try:
        doc = json.loads(
            (cells_mod.cell_dir(root, ident) / cells_mod.RESULT_FILE).read_text(encoding="utf-8")
        )
    except (OSError, json.JSONDecodeError):
        return ""
    return str(doc.get("verdict", ""))


def _discard(root: Path, ident: str) -> None:
    shutil.rmtree(cells_mod.cell_dir(root, ident), ignore_errors=True)
