"""One progress display for every long command, always on stderr (stdout carries the results).

:class:`Progress` is the display and the API::

    with Progress("train") as progress:
        progress.stage("load data")
        progress.stage("train", total=epochs * steps_per_epoch)
        on_step = progress.training(epochs, steps_per_epoch)   # a backend step callback
        ...
        progress.advance(loss=0.12)          # or drive the stage by hand
        progress.epoch(3, 10, loss=0.11)

On a terminal it is a live line (rich): the stage, a bar over the stage's steps, epoch, loss,
elapsed time and ETA; finished steps and notes are printed above it. When stderr is not a
terminal (a log file, a pipe, CI) it writes plain timestamped lines instead: one at every stage
change and every finished step, and in between at most one every ``interval`` seconds
(``PARITY_PROGRESS_INTERVAL``, default 10). It also is a :class:`Reporter`, the interface the
recording engine reports its sections through. :class:`Silent` reports nothing (``--quiet``).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Protocol

INTERVAL_ENV = "PARITY_PROGRESS_INTERVAL"
DEFAULT_INTERVAL = 10.0

StepCallback = Callable[[int, Mapping[str, float]], None]


class Reporter(Protocol):
    """Receives the steps of a run."""

    def start(self, label: str) -> None:
        """A step begins."""
        ...

    def finish(self, label: str, status: str, seconds: float) -> None:
        """A step ended with ``status`` (ok, error, skipped)."""
        ...

    def note(self, message: str) -> None:
        """A free-form message."""
        ...


class Silent:
    """Reports nothing (the same methods as :class:`Progress`)."""

    def __enter__(self) -> Silent:
        return self

    def __exit__(self, *exc: Any) -> None:
        """Nothing to close."""

    def start(self, label: str) -> None:
        """Ignore."""

    def finish(self, label: str, status: str, seconds: float) -> None:
        """Ignore."""

    def note(self, message: str) -> None:
        """Ignore."""

    def stage(self, name: str, total: int | None = None) -> None:
        """Ignore."""

    def advance(self, n: int = 1, **fields: Any) -> None:
        """Ignore."""

    def epoch(self, index: int, total: int | None = None, loss: float | None = None) -> None:
        """Ignore."""

    def training(self, epochs: int, steps_per_epoch: int) -> StepCallback:
        """A callback that does nothing."""
        return lambda step, terms: None

    def close(self) -> None:
        """Nothing to close."""


def training_callback(
    reporter: Any, label: str, epochs: int, steps_per_epoch: int
) -> StepCallback | None:
    """Begin a training stage on ``reporter`` and return its step callback; None for a
    reporter that has no training display (a plain :class:`Reporter`)."""
    stage = getattr(reporter, "stage", None)
    training = getattr(reporter, "training", None)
    if stage is None or training is None:
        return None
    stage(label, total=int(epochs) * int(steps_per_epoch))
    callback: StepCallback = training(epochs, steps_per_epoch)
    return callback


def _interval() -> float:
    raw = os.environ.get(INTERVAL_ENV)
    if raw is None:
        return DEFAULT_INTERVAL
    try:
        value = float(raw)
    except ValueError:
        return DEFAULT_INTERVAL
    return value if value >= 0 and math.isfinite(value) else DEFAULT_INTERVAL


def _clock(seconds: float) -> str:
    whole = max(0, round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class Progress:
    """The progress display of one command (see the module docstring); a context manager.

    ``live`` forces the terminal display on or off (default: on when ``stream`` is a
    terminal); ``interval`` is the least time between two periodic plain lines.
    """

    _STYLE: ClassVar[dict[str, str]] = {"ok": "green", "error": "bold red", "skipped": "yellow"}

    def __init__(
        self,
        title: str = "parity",
        *,
        stream: Any = None,
        live: bool | None = None,
        interval: float | None = None,
    ) -> None:
        from rich.console import Console

        self.title = title
        self._stream = stream or sys.stderr
        self._console = Console(file=self._stream, highlight=False)
        self.live = self._console.is_terminal if live is None else bool(live)
        self.interval = _interval() if interval is None else float(interval)
        self._bar: Any = None
        self._task: Any = None
        self._name = ""
        self._total: int | None = None
        self._done = 0
        self._fields: dict[str, str] = {}
        self._stage_started = time.monotonic()
        self._last_line = -math.inf

    # -- context manager ----------------------------------------------------------------------

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- the API ------------------------------------------------------------------------------

    def stage(self, name: str, total: int | None = None) -> None:
        """A new stage begins (``total``: its number of steps, when known)."""
        self._name, self._total, self._done = name, total, 0
        self._fields = {}
        self._stage_started = time.monotonic()
        if self.live:
            self._show_live(reset=True)
        else:
            self._line(f"stage {name}" + (f" ({total} steps)" if total else ""))

    def advance(self, n: int = 1, **fields: Any) -> None:
        """``n`` more steps of the current stage are done; ``fields`` (``loss=``, ...) are shown."""
        self._done += n
        self._set_fields(fields)
        self._update()

    def epoch(self, index: int, total: int | None = None, loss: float | None = None) -> None:
        """Epoch ``index`` (counted from 1) of ``total`` ended (or is running) with ``loss``."""
        self._fields["epoch"] = f"{index}/{total}" if total else str(index)
        if loss is not None:
            self._fields["loss"] = f"{loss:.5g}"
        self._update()

    def training(self, epochs: int, steps_per_epoch: int) -> StepCallback:
        """A step callback for ``backend.train(on_step=...)``: every optimiser step advances the
        stage; the epoch and the mean loss of the epoch so far are derived from the step index."""
        per_epoch = max(1, int(steps_per_epoch))
        sums = {"epoch": -1, "loss": 0.0, "count": 0}

        def on_step(step: int, terms: Mapping[str, float]) -> None:
            current = step // per_epoch
            if current != sums["epoch"]:
                sums.update(epoch=current, loss=0.0, count=0)
            loss = float(terms.get("total", terms.get("loss", math.nan)))
            sums["loss"] += loss
            sums["count"] += 1
            self._fields["epoch"] = f"{current + 1}/{epochs}"
            self._fields["loss"] = f"{sums['loss'] / sums['count']:.5g}"
            self.advance()

        return on_step

    def note(self, message: str) -> None:
        """A message (above the live line on a terminal)."""
        if self.live:
            self._console.print(message, markup=False)
        else:
            self._line(message)

    # -- Reporter (the engine's sections) -----------------------------------------------------

    def start(self, label: str) -> None:
        """A section begins: a new stage."""
        self.stage(label)

    def finish(self, label: str, status: str, seconds: float) -> None:
        """A section ended: one line with its outcome."""
        if self.live:
            style = self._STYLE.get(status, "white")
            self._console.print(f"  [{style}]{status:>7}[/{style}]  {label}  ({seconds:.1f} s)")
        else:
            self._line(f"{status} {label} ({seconds:.1f} s)")

    def close(self) -> None:
        """Stop the live display (before printing results on stdout; a later stage starts a
        new one)."""
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    # -- rendering ----------------------------------------------------------------------------

    def _set_fields(self, fields: Mapping[str, Any]) -> None:
        for key, value in fields.items():
            if value is None:
                continue
            self._fields[key] = f"{value:.5g}" if isinstance(value, float) else str(value)

    def _info(self) -> str:
        return "  ".join(f"{k} {v}" for k, v in self._fields.items())

    def _eta(self) -> float | None:
        if not self._total or not self._done:
            return None
        elapsed = time.monotonic() - self._stage_started
        return elapsed / self._done * max(0, self._total - self._done)

    def _update(self) -> None:
        if self.live:
            self._show_live()
            return
        now = time.monotonic()
        if now - self._last_line < self.interval:
            return
        parts = [self._name]
        if self._total:
            parts.append(f"step {self._done}/{self._total}")
        elif self._done:
            parts.append(f"step {self._done}")
        if self._fields:
            parts.append(self._info())
        parts.append(f"elapsed {_clock(now - self._stage_started)}")
        eta = self._eta()
        if eta is not None:
            parts.append(f"eta {_clock(eta)}")
        self._line("  ".join(parts))

    def _line(self, text: str) -> None:
        stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        self._stream.write(f"{stamp} {self.title}: {text}\n")
        self._stream.flush()
        self._last_line = time.monotonic()

    def _show_live(self, reset: bool = False) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.progress import Progress as LiveBar

        if self._bar is None:
            self._bar = LiveBar(
                SpinnerColumn(),
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[info]}"),
                TimeElapsedColumn(),
                TextColumn("eta"),
                TimeRemainingColumn(),
                console=self._console,
                transient=True,
                redirect_stdout=False,
                redirect_stderr=False,
            )
            self._bar.start()
            self._task = self._bar.add_task(self._name, total=self._total, info="")
        elif reset:
            self._bar.reset(self._task, total=self._total, description=self._name, info="")
        self._bar.update(self._task, completed=self._done, info=self._info())


Console = Progress
"""The former name of :class:`Progress`."""


class EventStream:
    """A :class:`Reporter` that writes each step as one JSON line on ``stream`` (a recording
    subprocess tells its parent what it does; :func:`replay` shows it there)."""

    def __init__(self, stream: Any = None) -> None:
        self._stream = stream or sys.stdout

    def _emit(self, **event: Any) -> None:
        self._stream.write(json.dumps(event) + "\n")
        self._stream.flush()

    def start(self, label: str) -> None:
        """A step begins."""
        self._emit(event="start", label=label)

    def finish(self, label: str, status: str, seconds: float) -> None:
        """A step ended."""
        self._emit(event="finish", label=label, status=status, seconds=seconds)

    def note(self, message: str) -> None:
        """A free-form message."""
        self._emit(event="note", message=message)


def replay(line: str, reporter: Reporter) -> bool:
    """Pass one line of an :class:`EventStream` on to ``reporter``; False (and nothing done)
    for a line that is not an event."""
    try:
        event = json.loads(line)
    except ValueError:
        return False
    if not isinstance(event, dict):
        return False
    kind = event.get("event")
    try:
        if kind == "start":
            reporter.start(str(event["label"]))
        elif kind == "finish":
            reporter.finish(str(event["label"]), str(event["status"]), float(event["seconds"]))
        elif kind == "note":
            reporter.note(str(event["message"]))
        else:
            return False
    except (KeyError, TypeError, ValueError):
        return False
    return True
