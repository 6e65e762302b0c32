"""PyTorch training throughput with ``torch`` imported before ``backends`` and after it.

Each order runs in a fresh interpreter (the OpenMP runtime reads its wait policy once, when torch
loads), without ``OMP_WAIT_POLICY`` in the environment, and reports the training rows of
:mod:`backends.pytorch.bench` with the wait policy in force. Rows are suffixed with the order;
the third run imports torch first with :mod:`backends.pytorch.openmp`'s spin limit turned off,
which is how every torch-first process ran before it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

ORDERS = {
    "backends first": ("import backends, torch", {}),
    "torch first": ("import torch, backends", {}),
    "torch first, no spin limit": ("import torch, backends", {"PTYCHOPINN_OPENMP_SPIN_LIMIT": "0"}),
}
_SCRIPT = (
    "{imports}\n"
    "import json\n"
    "from backends.pytorch import bench\n"
    "rows = bench.run(infer_batches=1, warmup=2)\n"
    "print(json.dumps({{'policy': backends.OPENMP_WAIT_POLICY, 'rows': rows}}))\n"
)


def run() -> list[tuple[str, float, str]]:
    """``[(name, value, unit), ...]``: training steps per second in each import order."""
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    results: list[tuple[str, float, str]] = []
    for order, (imports, extra_env) in ORDERS.items():
        out = subprocess.run(
            [sys.executable, "-c", _SCRIPT.format(imports=imports)],
            env={**env, **extra_env},
            capture_output=True,
            text=True,
            check=True,
        )
        report = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"[import-order] {order}: OpenMP wait policy {report['policy']}", flush=True)
        for name, value, unit in report["rows"]:
            if name.startswith("train"):
                results.append((f"{name} ({order})", float(value), unit))
    return results
