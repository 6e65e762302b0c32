"""Routine tasks as nox sessions: tests, compat, parity, signoff, sweep, bench, lint, typecheck,
fuzz, docs.

CPU-only machines install PyTorch through ``constraints.txt`` (the CPU wheel); set
``PARITY_NO_CONSTRAINTS=1`` on a GPU machine to let pip choose the CUDA build.
"""

from __future__ import annotations

import os
from pathlib import Path

import nox

nox.options.reuse_venv = "yes"
nox.options.sessions = ["lint", "typecheck", "docs", "tests(both)", "compat"]

ROOT = Path(__file__).parent
TEST_ENV = {
    "TF_ENABLE_ONEDNN_OPTS": "0",
    "TF_CPP_MIN_LOG_LEVEL": "2",
    "HYPOTHESIS_PROFILE": "ci",
    "PYTHONHASHSEED": "0",
}


def _install(session: nox.Session, *specs: str) -> None:
    args = ["--upgrade-strategy", "only-if-needed"]
    if not os.environ.get("PARITY_NO_CONSTRAINTS"):
        args += ["-c", str(ROOT / "constraints.txt")]
    session.install(*args, *specs, silent=True)


def _pytest(session: nox.Session, *extra: str) -> None:
    workers = os.environ.get("PARITY_TEST_WORKERS", "2")
    session.run(
        "python", "-m", "pytest", "-n", workers, "-q", *extra, *session.posargs, env=TEST_ENV
    )


@nox.session(python="3.11")
@nox.parametrize("backend", [nox.param(None, id="both"), "tensorflow", "pytorch"])
def tests(session: nox.Session, backend: str | None) -> None:
    """The test suite: ``tests(both)`` with both frameworks installed, or
    ``tests(backend='tensorflow')`` / ``tests(backend='pytorch')`` with only that framework
    installed (tests that need the other one are skipped with a reason)."""
    if backend is None:
        _install(session, "-e", ".[all]")
    else:
        _install(session, "-e", f".[{backend},dev]")
        other = "torch" if backend == "tensorflow" else "tensorflow"
        session.run(
            "python",
            "-c",
            f"import importlib.util, sys; sys.exit(importlib.util.find_spec('{other}') is not None)",
        )
    _pytest(session, "--ignore=tests/compat")


@nox.session(python="3.11")
def compat(session: nox.Session) -> None:
    """ptychodus 1.7.0 (headless: no GUI extra, so no Qt) drives both backends through the
    ``ptycho`` / ``ptycho_torch`` facade distribution in ``compat/`` (docs/ptychodus.md)."""
    _install(session, "-e", ".[all]")
    _install(session, "./compat", "ptychodus==1.7.0")
    session.run(
        "python",
        "-c",
        "import importlib.util, sys; "
        "qt = [m for m in ('PyQt5', 'PyQt6', 'PySide6') if importlib.util.find_spec(m)]; "
        "sys.exit(f'a Qt binding was installed: {qt}' if qt else 0)",
    )
    _pytest(session, "tests/compat")


@nox.session(python="3.11")
def parity(session: nox.Session) -> None:
    """The default parity scenario; the report lands under reports/."""
    _install(session, "-e", ".[tensorflow,pytorch]")
    session.run("parity", "run", "default", "--out", "reports", *session.posargs, env=TEST_ENV)


@nox.session(python="3.11")
def signoff(session: nox.Session) -> None:
    """The full sign-off suite, convergence included, then the ``knobs`` sweep (every config
    field at a non-default value)."""
    _install(session, "-e", ".[tensorflow,pytorch]")
    session.run("parity", "run", "signoff", "--out", "reports", *session.posargs, env=TEST_ENV)
    session.run("parity", "sweep", "knobs", "--out", "reports/sweeps/knobs", env=TEST_ENV)


@nox.session(python="3.11")
def sweep(session: nox.Session) -> None:
    """A sweep on a local Dask cluster (default: ``knobs``; ``nox -s sweep -- NAME [options]``);
    the table and page land under reports/sweeps/."""
    _install(session, "-e", ".[tensorflow,pytorch]")
    args = session.posargs or ["knobs", "--out", "reports/sweeps/knobs"]
    session.run("parity", "sweep", *args, env=TEST_ENV)


@nox.session(python="3.11")
def bench(session: nox.Session) -> None:
    """Speed and memory figures, printed (never asserted)."""
    _install(session, "-e", ".[tensorflow,pytorch]")
    session.run("python", "-m", "benchmarks", *session.posargs, env=TEST_ENV)


@nox.session(python="3.11")
def fuzz(session: nox.Session) -> None:
    """The readers' fuzz tests with many random examples (the ``fuzz`` hypothesis profile)."""
    _install(session, "-e", ".[all]")
    session.run(
        "python", "-m", "pytest", "-q", "tests/backends/safeio/test_fuzz.py",
        "tests/backends/data/test_fuzz.py", "tests/parity/test_untrusted_inputs.py",
        *session.posargs,
        env={**TEST_ENV, "HYPOTHESIS_PROFILE": "fuzz"},
    )  # fmt: skip


@nox.session(python="3.11")
def lint(session: nox.Session) -> None:
    """ruff lint and format checks over the whole tree."""
    _install(session, "ruff>=0.5")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


TYPECHECK_CORE = (
    "backends/config",
    "backends/core",
    "backends/safeio",
    "backends/bundle",
    "backends/base.py",
    "backends/graph.py",
    "backends/workflows.py",
    "ptychopinn",
    "parity",
    "compat/ptycho",
    "compat/ptycho_torch",
)


@nox.session(python="3.11")
@nox.parametrize("backend", [nox.param(None, id="core"), "tensorflow", "pytorch"])
def typecheck(session: nox.Session, backend: str | None) -> None:
    """mypy: ``typecheck(core)`` on the framework-free packages, the application, the parity
    engine and the ptychodus facade (compat/); ``typecheck(backend='tensorflow')`` and
    ``typecheck(backend='pytorch')`` on one backend with its framework installed."""
    if backend is None:
        _install(session, "-e", ".", "mypy>=1.10", "types-PyYAML")
        session.run("mypy", *TYPECHECK_CORE)
    else:
        _install(session, "-e", f".[{backend}]", "mypy>=1.10", "types-PyYAML")
        session.run("mypy", f"backends/{backend}", "backends/core")


@nox.session(python="3.11")
def docs(session: nox.Session) -> None:
    """The documentation site from ``docs/`` (``mkdocs.yml``), built strictly: a broken link
    or a page missing from the navigation fails the build. The site lands in build/docs-site."""
    session.install("mkdocs==1.6.1", silent=True)
    session.run("mkdocs", "build", "--strict", "--clean", *session.posargs)
