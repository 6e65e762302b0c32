"""The driver side of a sweep imports no framework, and ``import parity`` imports no Dask."""

from __future__ import annotations

import subprocess
import sys

DRIVER = [
    "parity.cli",
    "parity.commands.sweep",
    "parity.commands.sweep_report",
    "parity.sweep.spec",
    "parity.sweep.cells",
    "parity.sweep.execute",
    "parity.sweep.aggregate",
    "parity.sweep.page",
    "parity.knobs",
]


def test_sweep_driver_modules_import_no_framework_and_no_dask() -> None:
    code = (
        "import importlib, sys\n"
        f"for m in {DRIVER!r}: importlib.import_module(m)\n"
        "from parity.sweep import spec\n"
        "spec.load('knobs').cells()\n"
        "bad = [m for m in ('tensorflow', 'torch', 'keras', 'dask', 'distributed', 'pyarrow')"
        " if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
