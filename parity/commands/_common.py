"""Helpers shared by the command modules (not a command: the name starts with ``_``)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from parity.findings import Finding, counts

SHOWN_ROWS = 40


def add_hidden_oracle(parser: argparse.ArgumentParser) -> None:
    """``--oracle MODULE`` (hidden): another oracle module than backends.physics."""
    parser.add_argument("--oracle", default=None, help=argparse.SUPPRESS)


def add_hidden_inject(parser: argparse.ArgumentParser) -> None:
    """``--inject NAME`` (hidden, repeatable): inject a known defect into the candidate."""
    parser.add_argument("--inject", action="append", default=[], help=argparse.SUPPRESS)


def device_choice(text: str) -> str:
    """``--device`` value: cpu, gpu or auto (argparse type; any case)."""
    from backends.core.devices import check_device

    try:
        return check_device(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_device_option(parser: argparse.ArgumentParser, default: str | None, meaning: str) -> None:
    """``--device cpu|gpu|auto`` (docs/devices.md); ``meaning`` says what the default is."""
    parser.add_argument(
        "--device",
        type=device_choice,
        default=default,
        metavar="cpu|gpu|auto",
        help=f"where the backends compute: auto takes a GPU when one is visible, gpu without "
        f"one is refused (default: {meaning})",
    )


def refuse_missing_gpu(device: str | None, specs: Sequence[str]) -> None:
    """``--device gpu`` where a backend sees no GPU: InputError with the reason, before anything
    is recorded (imports the backends' frameworks)."""
    if device != "gpu":
        return
    from parity.engine import gpu_visible
    from parity.errors import InputError

    for spec in specs:
        why = gpu_visible(spec)
        if why:
            raise InputError(why)


def reporter(quiet: bool, title: str = "parity") -> Any:
    """The progress display on stderr (:class:`parity.progress.Progress`), or nothing with
    --quiet."""
    from parity.progress import Progress, Silent

    return Silent() if quiet else Progress(title)


def print_findings(findings: Sequence[Finding], *, show_all: bool = False, title: str = "") -> None:
    """A table of the findings that need attention (all with ``show_all``), then the counts."""
    from rich.console import Console
    from rich.table import Table

    console = Console(file=sys.stdout, highlight=False, width=160)
    rows = [f for f in findings if show_all or f.verdict not in ("pass", "skipped")]
    if rows:
        table = Table(title=title or None, show_lines=False)
        for col in ("verdict", "check", "tensor", "backend", "measured", "tolerance", "evidence"):
            table.add_column(col, overflow="fold", max_width=70 if col == "evidence" else 32)
        style = {
            "fail": "red",
            "error": "magenta",
            "known": "yellow",
            "xpass": "cyan",
            "pass": "green",
        }
        for f in rows[:SHOWN_ROWS]:
            table.add_row(
                f"[{style.get(f.verdict, 'white')}]{f.verdict}[/]",
                f.check,
                f.tensor,
                f.backend,
                "" if f.measured is None else f"{f.measured:.3g}",
                "" if f.tolerance is None else f"{f.tolerance:.3g}",
                f.evidence[:300],
            )
        console.print(table)
        if len(rows) > SHOWN_ROWS:
            console.print(f"... and {len(rows) - SHOWN_ROWS} more (see the report)")
    c = counts(findings)
    console.print(", ".join(f"{v} {k}" for k, v in c.items() if v))
