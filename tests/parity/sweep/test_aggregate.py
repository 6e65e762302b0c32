"""Aggregation of a sweep directory: summary rows per check, the table, the page, sweep-report
on a partial sweep (no Dask: the cells are written by hand)."""

from __future__ import annotations

from pathlib import Path

import pytest

from parity.cli import main
from parity.findings import Finding
from parity.sweep import aggregate, cells


def _finding(check: str, tensor: str, verdict: str, margin: float | None) -> Finding:
    return Finding(check, tensor, "m", 1.0, 1.0, margin, verdict, f"{tensor} evidence")


def test_summary_rows_take_the_worst_verdict_and_margin() -> None:
    rows = cells.summary_rows(
        [
            _finding("training.first_step", "a.kernel", "pass", -3.0),  # passed by allowance
            _finding("training.first_step", "b.kernel", "pass", 0.4),
            _finding("gradients.loss", "total", "fail", -2.5),
            _finding("gradients.loss", "nll", "pass", 0.9),
            _finding("gradients.loss", "mae", "fail", -0.5),
            _finding("params.legacy", "key", "fail", None),
            _finding("params.legacy", "other", "pass", 1.0),
        ],
        {"tf": {"gradients": 1.5, "training": 2.0}, "pt": {"gradients": 0.5}},
    )
    by = {r["check"]: r for r in rows}
    assert by["gradients.loss"]["verdict"] == "fail"
    assert by["gradients.loss"]["tensor"] == "total"
    assert by["gradients.loss"]["worst_margin"] == -2.5
    assert by["gradients.loss"]["failing"] == 2 and by["gradients.loss"]["seconds"] == 2.0
    assert by["training.first_step"]["worst_margin"] == 0.0
    assert by["training.first_step"]["verdict"] == "pass"
    assert by["params.legacy"]["worst_margin"] is None  # not the passing key's 1.0


def _store(root: Path, ident: str, index: int, verdict: str, rows: list[dict]) -> None:
    cell = {"id": ident, "index": index, "label": f"lr={index}", "status": "valid"}
    result = {
        "verdict": verdict,
        "seconds": 1.0,
        "first_divergent": "",
        "rows": rows,
        "report": "report/report.html" if rows else "",
        "error": "" if rows else "the worker died 2 times",
    }
    cells.publish(root, ident, cell, result)


def test_partial_sweep_reaggregates(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "sw"
    ok = cells.summary_rows([_finding("params.legacy", "*", "pass", 1.0)], {})
    bad = cells.summary_rows([_finding("gradients.loss", "total", "fail", -4.0)], {})
    _store(root, "a" * 16, 0, "pass", ok)
    _store(root, "b" * 16, 1, "fail", bad)
    _store(root, "c" * 16, 2, "error", [])
    (root / "cells" / ".dddd.partial-x").mkdir()  # an interrupted cell: ignored
    table = aggregate.frame(root)
    assert list(table["cell"]) == ["a" * 16, "b" * 16, "c" * 16]
    worst = aggregate.worst(table)
    assert list(worst["verdict"]) == ["fail", "error"]
    assert main(["sweep-report", str(root)]) == 1
    out = capsys.readouterr().out
    assert "1 error, 1 fail, 1 pass" in out
    assert f"cell {'b' * 16} (lr=1): gradients.loss total margin -4" in out
    assert "the worker died 2 times" in out
    page = (root / "index.html").read_text(encoding="utf-8")
    assert f"href='cells/{'a' * 16}/report/report.html'" in page
    assert page.count("<tr>") >= 3 and "Worst findings" in page
    assert (root / "sweep.parquet").is_file() and (root / "sweep.csv").is_file()


def test_sweep_report_on_a_plain_directory_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sweep-report", str(tmp_path)]) == 2
    assert "is not a sweep directory" in capsys.readouterr().err


def test_page_escapes_values(tmp_path: Path) -> None:
    root = tmp_path / "sw"
    rows = cells.summary_rows([_finding("params.legacy", "<script>", "fail", -1.0)], {})
    _store(root, "e" * 16, 0, "fail", rows)
    aggregate.write(root)
    page = (root / "index.html").read_text(encoding="utf-8")
    assert "<script>" not in page and "&lt;script&gt;" in page
