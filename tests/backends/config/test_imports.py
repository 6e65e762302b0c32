"""Importing the configuration system, the package roots and the harness never imports a
framework (checked in a fresh interpreter through sys.modules)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
MODULES = [
    "backends",
    "backends.config",
    "backends.config.canonical",
    "backends.config.legacy",
    "backends.config.io",
    "backends.config.torch_native",
    "backends.config.bridge",
    "backends.config.factory",
    "backends.config.snapshots",
    "backends.config.drift",
    "parity",
    "parity.commands.diff_params",
]


def test_no_framework_in_sys_modules_after_import():
    code = (
        "import importlib, sys\n"
        f"for name in {MODULES!r}:\n"
        "    importlib.import_module(name)\n"
        "from backends.config import drift\n"
        "drift.compute_drift()\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in {'tensorflow', 'torch', 'keras'})\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""
