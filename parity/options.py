"""Checks of command-line options that run before any work starts.

Each raises :class:`~parity.errors.InputError` (exit code 2) naming the option and the fix, so a
bad format, tolerance, backend or output place costs no recording or training time.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from parity.errors import InputError
from parity.publish import process_alive


def _number(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{what} must be a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{what} must be finite, got {text!r}")
    return value


def positive_seconds(text: str) -> float:
    """argparse type: a finite number of seconds > 0."""
    value = _number(text, "seconds")
    if value <= 0:
        raise argparse.ArgumentTypeError(f"seconds must be > 0, got {text!r}")
    return value


def positive_int(text: str) -> int:
    """argparse type: an integer > 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text!r}")
    return value


def tolerance(text: str) -> float:
    """argparse type: a finite tolerance >= 0 (NaN would make every comparison pass or fail)."""
    value = _number(text, "a tolerance")
    if value < 0:
        raise argparse.ArgumentTypeError(f"a tolerance must be >= 0, got {text!r}")
    return value


def check_formats(text: str | None) -> list[str] | None:
    """The report formats of ``--format`` (None: all); unknown names are refused."""
    if not text:
        return None
    from parity.report import FORMATS

    formats = [f.strip() for f in text.split(",") if f.strip()]
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise InputError(
            f"--format {text!r}: unknown report format {unknown[0] if unknown else ''!r}; "
            f"choose from {', '.join(FORMATS)}"
        )
    return formats


def check_output_root(path: Path, option: str = "--out") -> None:
    """``path`` is, or can become, a directory this process can write into."""
    existing = path
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        raise InputError(
            f"{option} {path}: {existing} is a file, not a directory; choose another place"
        )
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as exc:
        raise InputError(
            f"{option} {path}: cannot write into {existing} ({exc.strerror}); choose a writable "
            "place"
        ) from None


def check_config(config: Any) -> None:
    """The validators of the commands that would use ``config`` and the upper bounds of what
    the model supports (:data:`backends.config.validation.UPPER_BOUNDS`)."""
    from backends.config.canonical import validate_model_config, validate_training_config
    from backends.config.validation import check_upper_bounds

    try:
        if hasattr(config, "model_path"):
            validate_model_config(config.model)
        else:
            validate_training_config(config)
        check_upper_bounds(config.model)
        check_upper_bounds(config)
    except ValueError as exc:
        raise InputError(f"the config is not valid: {exc}") from exc


def resolve_backends(specs: list[str]) -> None:
    """Every backend named can be created: built-ins installed, ``module:factory`` importable
    and callable (the factory itself is not called yet)."""
    import backends
    from parity.registry import _import_attr

    for spec in specs:
        if ":" in spec:
            factory = _import_attr(spec, "backend")
            if not callable(factory):
                raise InputError(f"backend {spec!r}: {spec.partition(':')[2]} is not callable")
        elif spec not in backends.available():
            raise InputError(
                f"the {spec!r} backend is not available: its framework is not installed "
                f"(install the '{spec}' extra of ptychopinn-parity)"
            )


class OutputClaim(contextlib.AbstractContextManager["OutputClaim"]):
    """Exclusive use of an output directory for one run.

    Refuses a directory that holds files unless ``overwrite``; creates it otherwise and holds a
    lock file in it for the run, so a second run into the same place is refused while the first
    is alive (a lock left by a killed run is taken over). A directory it created is removed
    again, with whatever was written, when the run fails or is interrupted, unless it then holds
    the file ``keep_if`` names (relative to it; a training checkpoint that can be resumed).
    """

    LOCK = ".parity.lock"

    def __init__(
        self,
        directory: Path,
        *,
        overwrite: bool,
        option: str = "--output-dir",
        keep_if: str | None = None,
    ) -> None:
        self.directory = Path(directory)
        self.overwrite = overwrite
        self.option = option
        self.keep_if = keep_if
        self._lock: Path | None = None
        self._created = False

    def __enter__(self) -> OutputClaim:
        d = self.directory
        if d.exists() and not d.is_dir():
            raise InputError(f"{self.option} {d} is a file; choose a directory")
        check_output_root(d, self.option)
        if d.is_dir() and not self.overwrite and any(p.name != self.LOCK for p in d.iterdir()):
            raise InputError(
                f"{self.option} {d} already holds results; choose another directory or pass "
                "--overwrite to replace them"
            )
        self._created = not d.exists()
        d.mkdir(parents=True, exist_ok=True)
        lock = d / self.LOCK
        for _ in range(2):
            try:
                fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                if _holder_alive(lock):
                    raise InputError(
                        f"{self.option} {d} is in use by another run (lock {lock}); wait for it "
                        "or choose another directory"
                    ) from None
                with contextlib.suppress(FileNotFoundError):
                    lock.unlink()
                continue
            with os.fdopen(fd, "w") as handle:
                handle.write(str(os.getpid()))
            self._lock = lock
            return self
        raise InputError(f"{self.option} {d}: cannot take the lock {lock}; try again")

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if self._lock is not None:
            with contextlib.suppress(FileNotFoundError):
                self._lock.unlink()
        if self._created and exc_type is not None:  # partial results of a failed run
            if self.keep_if is not None and (self.directory / self.keep_if).is_file():
                return
            shutil.rmtree(self.directory, ignore_errors=True)


def _holder_alive(lock: Path) -> bool:
    try:
        pid = int(lock.read_text().strip() or "0")
    except (OSError, ValueError):
        return False
    return pid > 0 and process_alive(pid)
