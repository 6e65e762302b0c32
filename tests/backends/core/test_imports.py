"""The core imports no framework."""

from __future__ import annotations

import subprocess
import sys

MODULES = (
    "constants",
    "files",
    "hooks",
    "inference",
    "inputs",
    "losses",
    "snapshot",
    "threads",
    "training_log",
    "training_run",
    "vocabulary",
)


def test_core_imports_no_framework() -> None:
    imports = "; ".join(f"import backends.core.{m}" for m in MODULES)
    code = (
        f"import sys; {imports}; "
        "bad = [m for m in ('tensorflow', 'torch', 'keras', 'lightning') if m in sys.modules]; "
        "sys.exit(f'imported {bad}' if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
