"""Recording in subprocesses: one ``python -m parity record`` process per backend.

``parity run --isolate`` records each backend in its own process, so that a backend that
crashes or hangs cannot take the run with it. On the CPU, with two backends and at least two
cores, the two processes run side by side: the reference writes what the candidate's
single-step checks are fed (its batch and forward activations, :func:`parity.record.record`'s
``feeds_out``) as soon as its forward section ends, and the candidate, started at the same time,
waits for that file before its own forward section. The framework imports and the two
recordings then overlap, and the findings are those of a recording in process. Each process
reports its steps as JSON lines (:class:`parity.progress.EventStream`), shown by the parent's
display as they come.

:func:`faster_isolated` is the rule by which ``parity run`` isolates when not told.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

from backends import BACKEND_NAMES
from backends.core.parallel import die_with_parent
from backends.core.threads import cpu_cores
from parity.progress import Reporter, replay
from parity.record import absent_marker

ERROR_TAIL_CHARS = 8000
"""How much of a failed subprocess's stderr the record error quotes."""
FRAMEWORK_MODULES = ("torch", "tensorflow")


def side_by_side(backends: Sequence[str], device: str) -> bool:
    """Whether isolated recordings of ``backends`` run in parallel: two backends, on the CPU
    (two processes would compete for one GPU's memory), with at least two cores."""
    return len(backends) == 2 and device == "cpu" and cpu_cores() >= 2


def faster_isolated(backends: Sequence[str], device: str) -> bool:
    """Whether recording in subprocesses side by side is faster than recording in process:
    :func:`side_by_side` holds, the backends are the built-in ones (whose framework imports
    take seconds, which two processes overlap) and neither framework is imported in this
    process yet (a process that has imported them records in process without paying for the
    imports, which subprocesses pay again)."""
    built_in = all(spec in BACKEND_NAMES for spec in backends)
    return built_in and side_by_side(backends, device) and not frameworks_imported()


def frameworks_imported() -> bool:
    """Whether this process has imported torch or TensorFlow."""
    return any(name in sys.modules for name in FRAMEWORK_MODULES)


def scenario_file(scenario: Any, directory: Path) -> Path:
    """The scenario as a JSON file its recording subprocesses load."""
    path = directory / f"scenario-{scenario.name}.json"
    path.write_text(json.dumps(scenario.to_dict(), indent=2, sort_keys=True, default=str))
    return path


def record_command(
    backend: str,
    scenario_path: Path,
    out: Path,
    *,
    device: str,
    reference: Path | None = None,
    await_reference: bool = False,
    feeds_out: Path | None = None,
    inject: Sequence[str] = (),
    oracle: str | None = None,
    bundle_dir: Path | None = None,
    events: bool = False,
) -> list[str]:
    """The ``python -m parity record`` command line of one recording."""
    cmd = [sys.executable, "-m", "parity", "record", "--backend", backend, str(scenario_path)]
    cmd += ["-o", str(out), "--quiet", "--device", device]
    if reference is not None and (await_reference or reference.exists()):
        cmd += ["--reference", str(reference)]
    if await_reference:
        cmd.append("--await-reference")
    if feeds_out is not None:
        cmd += ["--feeds-out", str(feeds_out)]
    for name in inject:
        cmd += ["--inject", name]
    if oracle:
        cmd += ["--oracle", oracle]
    if bundle_dir is not None:
        cmd += ["--bundle-dir", str(bundle_dir)]
    if events:
        cmd.append("--events")
    return cmd


class _Serialized:
    """A :class:`Reporter` that passes each call on to ``inner`` under a lock (two reader
    threads share one display)."""

    def __init__(self, inner: Reporter) -> None:
        self._inner = inner
        self._lock = threading.Lock()

    def start(self, label: str) -> None:
        with self._lock:
            self._inner.start(label)

    def finish(self, label: str, status: str, seconds: float) -> None:
        with self._lock:
            self._inner.finish(label, status, seconds)

    def note(self, message: str) -> None:
        with self._lock:
            self._inner.note(message)


class Subprocess:
    """One running recording: its progress events go to ``progress`` as they come, its
    stderr to a temporary file quoted when it fails."""

    def __init__(self, cmd: list[str], progress: Reporter | None = None) -> None:
        env = dict(os.environ)
        env.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        # open for the life of the process, closed by stderr_tail
        self._stderr: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE if progress is not None else subprocess.DEVNULL,
            stderr=self._stderr,
            text=True,
            env=env,
            preexec_fn=die_with_parent,
        )
        self._reader: threading.Thread | None = None
        if progress is not None:
            self._reader = threading.Thread(target=self._forward, args=(progress,), daemon=True)
            self._reader.start()

    def _forward(self, progress: Reporter) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            replay(line, progress)

    def wait(self, timeout: float | None) -> int:
        """The exit code; kills the process and raises ``subprocess.TimeoutExpired`` when it
        runs longer than ``timeout`` seconds from its start."""
        left = None if timeout is None else max(0.0, self.started + timeout - time.monotonic())
        try:
            code = self.proc.wait(left)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            self._join()
            raise subprocess.TimeoutExpired(self.proc.args, timeout or 0.0) from None
        self._join()
        return code

    def _join(self) -> None:
        if self._reader is not None:
            self._reader.join()

    def stderr_tail(self) -> str:
        """The end of what the process wrote on stderr."""
        self._stderr.seek(0)
        text = self._stderr.read().decode("utf-8", errors="replace")
        self._stderr.close()
        return text[-ERROR_TAIL_CHARS:]


def record_isolated(
    backend: str,
    scenario: Any,
    out: Path,
    *,
    reference: Path | None,
    inject: Sequence[str],
    oracle: str | None,
    workdir: Path,
    bundle_dir: Path | None,
    timeout: float | None = None,
    device: str = "cpu",
    progress: Reporter | None = None,
) -> tuple[int, str]:
    """Record one backend in a subprocess; returns (exit code, stderr tail). Raises
    ``subprocess.TimeoutExpired`` (the process killed) after ``timeout`` seconds."""
    cmd = record_command(
        backend,
        scenario_file(scenario, workdir),
        out,
        device=device,
        reference=reference,
        inject=inject,
        oracle=oracle,
        bundle_dir=bundle_dir,
        events=progress is not None,
    )
    child = Subprocess(cmd, progress)
    code = child.wait(timeout)
    return code, child.stderr_tail()


POLL_SECONDS = 0.02
"""How often the parent looks whether a recording subprocess has ended."""


def record_side_by_side(
    backends: Sequence[str],
    scenario: Any,
    outs: Sequence[Path],
    bundle_dirs: Sequence[Path | None],
    *,
    inject: Sequence[str],
    oracle: str | None,
    workdir: Path,
    timeout: float | None = None,
    device: str = "cpu",
    progress: Reporter | None = None,
    on_finished: Callable[[int], None] | None = None,
) -> list[tuple[int, str]]:
    """Record a reference and a candidate (``backends``, in that order) in two subprocesses
    at once into ``outs``; ``inject`` goes to the candidate. Returns each one's (exit code,
    stderr tail); a process past ``timeout`` seconds is killed, with code -1.
    ``on_finished(i)`` runs in this process as soon as recording ``i`` has ended, while the
    other may still run (work that needs one trace only)."""
    ref, cand = backends
    path = scenario_file(scenario, workdir)
    feeds = workdir / f"feeds-{ref.replace(':', '_')}.h5"
    absent = absent_marker(feeds)
    shared = _Serialized(progress) if progress is not None else None
    events = shared is not None
    commands = [
        record_command(ref, path, outs[0], device=device, feeds_out=feeds, oracle=oracle,
                       bundle_dir=bundle_dirs[0], events=events),
        record_command(cand, path, outs[1], device=device, reference=feeds,
                       await_reference=True, inject=inject, oracle=oracle,
                       bundle_dir=bundle_dirs[1], events=events),
    ]  # fmt: skip
    children = [Subprocess(cmd, shared) for cmd in commands]
    outcomes: dict[int, tuple[int, str]] = {}
    try:
        while len(outcomes) < len(children):
            for i, child in enumerate(children):
                if i in outcomes:
                    continue
                overdue = timeout is not None and time.monotonic() - child.started > timeout
                if child.proc.poll() is None and not overdue:
                    continue
                try:
                    outcomes[i] = (child.wait(timeout), child.stderr_tail())
                except subprocess.TimeoutExpired:
                    outcomes[i] = (-1, f"timed out after {timeout} s\n{child.stderr_tail()}")
                if i == 0 and not feeds.exists():
                    absent.touch()  # the candidate must not wait for feeds that never come
                if on_finished is not None:
                    on_finished(i)
            time.sleep(POLL_SECONDS)
    finally:
        for child in children:
            if child.proc.poll() is None:
                child.proc.kill()
                child.proc.wait()
        feeds.unlink(missing_ok=True)
        absent.unlink(missing_ok=True)
    return [outcomes[i] for i in range(len(children))]
