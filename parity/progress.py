"""Progress display for long work (rich on a terminal, plain lines otherwise, or silent)."""

from __future__ import annotations

import sys
from typing import Any, ClassVar, Protocol


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
    """Reports nothing."""

    def start(self, label: str) -> None:
        """Ignore."""

    def finish(self, label: str, status: str, seconds: float) -> None:
        """Ignore."""

    def note(self, message: str) -> None:
        """Ignore."""


class Console:
    """A spinner for the running step and one line per finished step (stderr)."""

    _STYLE: ClassVar[dict[str, str]] = {"ok": "green", "error": "bold red", "skipped": "yellow"}

    def __init__(self, stream: Any = None) -> None:
        from rich.console import Console as RichConsole

        self._console = RichConsole(file=stream or sys.stderr, highlight=False)
        self._status: Any = None

    def start(self, label: str) -> None:
        """Show a spinner (terminal only)."""
        if self._console.is_terminal:
            if self._status is None:
                self._status = self._console.status(label)
                self._status.start()
            else:
                self._status.update(label)

    def finish(self, label: str, status: str, seconds: float) -> None:
        """Print the step's outcome."""
        style = self._STYLE.get(status, "white")
        self._console.print(f"  [{style}]{status:>7}[/{style}]  {label}  ({seconds:.1f} s)")

    def note(self, message: str) -> None:
        """Print a message."""
        self._console.print(message)

    def close(self) -> None:
        """Stop the spinner."""
        if self._status is not None:
            self._status.stop()
            self._status = None
