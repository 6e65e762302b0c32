"""Sweeps on a real Dask LocalCluster with the fake backends: four cells on two workers, resume
after the driver is killed, a worker killed mid-cell. Every sweep runs as a subprocess in its own
process group with a time limit; the group is killed afterwards, so nothing outlives a test."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("distributed")
pytest.importorskip("pyarrow")

HERE = Path(__file__).parent
ROOT = HERE.parents[2]
FOUR = HERE / "four.toml"
LIMIT = 240.0
STARTED: list[subprocess.Popen[str]] = []


@pytest.fixture(autouse=True)
def _reap() -> Iterator[None]:
    yield
    while STARTED:
        proc = STARTED.pop()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    env["PARITY_PROGRESS_INTERVAL"] = "1000"
    env.update(extra)
    return env


def _start(*args: str, **env: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "parity", "sweep", *args],
        cwd=ROOT,
        env=_env(**env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    STARTED.append(proc)
    return proc


def _sweep(*args: str, **env: str) -> tuple[int, str, str]:
    proc = _start(*args, **env)
    out, err = proc.communicate(timeout=LIMIT)
    return proc.returncode, out, err


def _finished(root: Path) -> list[str]:
    cells = root / "cells"
    if not cells.is_dir():
        return []
    return sorted(p.name for p in cells.iterdir() if (p / "result.json").is_file())


def _process_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:  # a zombie is gone too
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().split()[2] == "Z"
    except OSError:
        return True


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text(encoding="ascii")
    except OSError:
        return []
    return [int(x) for x in text.split()]


def test_four_cells_on_two_workers_then_rerun_skips_them(tmp_path: Path) -> None:
    import pandas as pd

    out = tmp_path / "four"
    code, stdout, stderr = _sweep(str(FOUR), "--out", str(out), "--workers", "2")
    assert code == 0, stderr[-3000:]
    assert "5 cells: 4 run, 0 skipped (finished before), 1 invalid" in stdout
    assert len(_finished(out)) == 5
    table = pd.read_parquet(out / "sweep.parquet")
    invalid = table[table["cell_verdict"] == "invalid"]
    assert list(invalid["label"]) == ["nll_weight=2"]
    assert "nll_weight" in invalid["evidence"].item()
    table = table[table["cell_verdict"] != "invalid"]
    assert set(table["cell_verdict"]) == {"pass"}
    assert len(set(table["cell"])) == 4
    assert {"params.legacy", "training.applied_lr", "training.first_step"} <= set(table["check"])
    csv = pd.read_csv(out / "sweep.csv")
    assert list(csv.columns) == list(table.columns) and len(csv) == len(table) + 1
    lr = table[table["check"] == "training.applied_lr"]
    assert sorted(set(lr["label"])) == sorted(
        f"learning_rate={a}, nll_weight={b}" for a in ("0.0003", "0.001") for b in ("0.5", "1")
    )
    page = (out / "index.html").read_text(encoding="utf-8")
    for ident in set(table["cell"]):
        assert f"href='cells/{ident}/report/report.html'" in page
        assert (out / "cells" / ident / "report" / "report.html").is_file()
    knobs = {k["field"]: k for k in json.loads((out / "knobs.json").read_text())}
    assert knobs["learning_rate"]["exercised"] and knobs["nll_weight"]["exercised"]
    assert not knobs["gridsize"]["exercised"]
    # the same sweep again: nothing to run, no cluster started
    code, stdout, _ = _sweep(str(FOUR), "--out", str(out))
    assert code == 0 and "5 cells: 0 run, 5 skipped" in stdout


def test_killed_driver_resumes_where_it_stopped(tmp_path: Path) -> None:
    out = tmp_path / "resume"
    proc = _start(str(FOUR), "--out", str(out), "--workers", "1")
    deadline = time.monotonic() + LIMIT
    invalid = 1  # stored by the driver before any cell runs
    while len(_finished(out)) <= invalid and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    assert len(_finished(out)) > invalid, "no cell finished before the time limit"
    workers = _children(proc.pid)
    proc.send_signal(signal.SIGKILL)  # the driver alone
    proc.wait(timeout=30)
    # its worker processes notice that the driver is gone and exit by themselves
    deadline = time.monotonic() + 60
    while not all(_process_gone(p) for p in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert all(_process_gone(p) for p in workers), "worker processes outlived the driver"
    done_before = _finished(out)
    if len(done_before) == 5:
        pytest.skip("the sweep finished before the driver could be killed")
    code, stdout, stderr = _sweep(str(FOUR), "--out", str(out), "--workers", "1")
    assert code == 0, stderr[-3000:]
    assert f"{5 - len(done_before)} run, {len(done_before)} skipped" in stdout, stdout
    assert len(_finished(out)) == 5
    assert not [p for p in (out / "cells").iterdir() if ".partial-" in p.name]


def test_worker_killed_mid_cell_is_retried_once_then_an_error(tmp_path: Path) -> None:
    import pandas as pd

    out, markers = tmp_path / "killed", tmp_path / "markers"
    markers.mkdir()
    code, stdout, stderr = _sweep(
        str(HERE / "killed.toml"),
        "--out",
        str(out),
        "--workers",
        "2",
        PARITY_TEST_KILL_DIR=str(markers),
    )
    assert code == 1, stderr[-3000:]
    assert "its worker died; retrying" in stderr
    table = pd.read_parquet(out / "sweep.parquet").drop_duplicates("cell")
    verdicts = dict(zip(table["label"], table["cell_verdict"]))
    once = "dataset=python:tests.parity.sweep.killer:die_once, nll_weight=1"
    always = "dataset=python:tests.parity.sweep.killer:die_once, nll_weight=0.5"
    assert verdicts == {once: "pass", always: "error"}
    reason = table[table["label"] == always]["evidence"].item()
    assert "died 2 times" in reason
    assert f"cell {table[table['label'] == always]['cell'].item()}" in stdout
