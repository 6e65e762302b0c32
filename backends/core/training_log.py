"""Training logs shared by both backends: directory layout, metric names, the CSV format.

Layout (docs/training.md, "Training logs")::

    <output_dir>/logs/<backend>/version_<N>/metrics.csv              logger 'csv'
    <output_dir>/logs/<backend>/version_<N>/events.out.tfevents.*   logger 'tensorboard'

``<backend>`` is ``tensorflow`` or ``pytorch``; ``N`` counts up from 0 per backend as
Lightning numbers its versions (a resumed run logs into a new version). Pointing TensorBoard at
``<output_dir>/logs`` (or at any common parent of several runs) shows both backends' curves
side by side.

Every row carries ``epoch`` (0-based) and ``step`` (the 0-based index of the training batch
over the whole run, the index into ``history.json``'s ``steps.loss``). Per step: ``loss_step`` and ``<term>_step`` for
each loss term; per epoch (at the step of the epoch's last batch): ``loss``, ``val_loss`` (when
there is validation data), ``lr`` and the per-term epoch means under the term names, as in
``history.json``. The CSV is Lightning's ``CSVLogger`` format: a header of the sorted union of
the keys, one row per call, empty cells for keys a row does not have.

Nothing here imports a framework.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from backends.core.files import write_text_atomic
from backends.core.losses import LOSS_TERMS

__all__ = [
    "LOGGERS",
    "LOG_DIR",
    "METRICS_CSV",
    "CsvMetricsLog",
    "MetricsLog",
    "backend_log_dir",
    "epoch_metrics",
    "require_logger",
    "run_log_dir",
    "step_metrics",
]

LOGGERS = ("csv", "tensorboard")
"""The loggers both trainers write; None (``logger_backend='none'``) writes no log."""

LOG_DIR = "logs"
"""The folder under a run's output directory that holds every training log."""

METRICS_CSV = "metrics.csv"
"""File name of the CSV log inside a version folder (Lightning's name)."""

TENSORBOARD_PACKAGE = "tensorboard"


class MetricsLog(Protocol):
    """What the TensorFlow loop writes to: rows of scalars at a step, ``save`` at the end of
    each epoch, ``close`` once (Lightning's loggers have ``log_metrics`` and ``save`` too)."""

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None: ...

    def save(self) -> None: ...

    def close(self) -> None: ...


def backend_log_dir(output_dir: str | os.PathLike[str], backend: str) -> Path:
    """``<output_dir>/logs/<backend>``: the folder holding the backend's ``version_N`` runs."""
    return Path(output_dir) / LOG_DIR / backend


def next_version(folder: str | os.PathLike[str]) -> int:
    """One more than the largest ``version_<N>`` folder in ``folder`` (0 when there is none)."""
    path = Path(folder)
    if not path.is_dir():
        return 0
    numbers = [
        int(p.name.split("_", 1)[1])
        for p in path.iterdir()
        if p.is_dir() and p.name.startswith("version_") and p.name.split("_", 1)[1].isdigit()
    ]
    return max(numbers) + 1 if numbers else 0


def run_log_dir(output_dir: str | os.PathLike[str], backend: str) -> tuple[Path, int]:
    """The next run's log folder ``<output_dir>/logs/<backend>/version_<N>`` and its ``N``."""
    root = backend_log_dir(output_dir, backend)
    version = next_version(root)
    return root / f"version_{version}", version


def step_metrics(epoch: int, terms: Mapping[str, float]) -> dict[str, float]:
    """The row of one optimiser batch: ``epoch``, ``loss_step`` and ``<term>_step``."""
    row: dict[str, float] = {"epoch": epoch, "loss_step": float(terms["total"])}
    for term in LOSS_TERMS[1:]:
        row[f"{term}_step"] = float(terms[term])
    return row


def epoch_metrics(epoch: int, history: Mapping[str, list[float]]) -> dict[str, float]:
    """The row of an epoch just appended to ``history`` (the ``history.json`` epoch lists):
    ``epoch``, ``loss``, ``lr``, the per-term means and ``val_loss`` when it was computed."""
    row: dict[str, float] = {"epoch": epoch, "loss": float(history["loss"][-1])}
    row["lr"] = float(history["lr"][-1])
    for term in LOSS_TERMS[1:]:
        row[term] = float(history[term][-1])
    val = history.get("val_loss") or []
    if len(val) == len(history["loss"]):
        row["val_loss"] = float(val[-1])
    return row


def require_logger(logger: str | None, backend: str) -> None:
    """ValueError when ``backend`` cannot write ``logger``: PyTorch's TensorBoard logger needs
    the ``tensorboard`` package (TensorFlow writes event files itself)."""
    if logger is not None and logger not in LOGGERS:
        choices = ", ".join((*LOGGERS, "none"))
        raise ValueError(f"logger_backend={logger!r} is not a logger; choose one of: {choices}")
    if logger == "tensorboard" and backend != "tensorflow" and not _installed(TENSORBOARD_PACKAGE):
        raise ValueError(
            "logger_backend='tensorboard' needs the 'tensorboard' package for the PyTorch "
            "trainer; install it (pip install tensorboard, or the project's 'pytorch' extra) "
            "or choose logger_backend=csv or none"
        )


def _installed(package: str) -> bool:
    return importlib.util.find_spec(package) is not None


class CsvMetricsLog:
    """``metrics.csv`` in Lightning's ``CSVLogger`` format, rewritten atomically by :meth:`save`.

    Values are written as Python writes them (``repr`` of a float), as Lightning's writer does.
    """

    def __init__(self, log_dir: str | os.PathLike[str]) -> None:
        self.log_dir = Path(log_dir)
        self.path = self.log_dir / METRICS_CSV
        self.rows: list[dict[str, float]] = []

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        """Record one row (``step`` added as its own column)."""
        self.rows.append({**metrics, "step": int(step)})

    def save(self) -> None:
        """Write every row recorded so far (header: the sorted union of their keys)."""
        if not self.rows:
            return
        keys = sorted(set().union(*self.rows))
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=keys)
        writer.writeheader()
        writer.writerows(self.rows)
        write_text_atomic(self.path, text.getvalue(), make_parents=True)

    def close(self) -> None:
        """Write what is recorded (nothing stays open)."""
        self.save()
