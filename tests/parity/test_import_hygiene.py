"""parity imports without TensorFlow or PyTorch."""

from __future__ import annotations

import subprocess
import sys

MODULES = [
    "parity.cli",
    "parity.engine",
    "parity.record",
    "parity.trace",
    "parity.scenario",
    "parity.checks.forward",
    "parity.checks.ops",
    "parity.checks.convergence",
    "parity.checks.regression",
    "parity.checks.bundles",
    "parity.report.html",
    "parity.report.figures",
    "parity.defects",
    "parity.bench",
    "parity.bundlediff",
    "parity.commands.run",
    "parity.commands.compare",
    "parity.commands.baseline",
]


def test_parity_never_imports_a_framework() -> None:
    code = (
        "import importlib, sys\n"
        f"for m in {MODULES!r}: importlib.import_module(m)\n"
        "bad = [m for m in ('tensorflow', 'torch', 'keras') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_scikit_image_is_imported_only_when_a_metric_is_computed() -> None:
    code = (
        "import importlib, sys\n"
        "for m in ['parity', 'backends.metrics', 'parity.report', 'parity.report.html',"
        " 'parity.report.figures', 'parity.cli']: importlib.import_module(m)\n"
        "assert 'skimage' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
