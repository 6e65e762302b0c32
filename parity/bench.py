"""Speed and memory figures of the harness (``nox -s bench``).

:func:`run` measures ``parity run default`` (wall time and peak resident memory, in a fresh
subprocess, framework imports included) and the throughput of ``parity compare`` on two synthetic
traces of a few hundred MB (tensor bytes of both traces divided by the wall time of the
comparison, reading the HDF5 files included).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

Figure = tuple[str, float, str]

_RSS_WRAPPER = """
import json, resource, subprocess, sys, time
t0 = time.perf_counter()
proc = subprocess.run(sys.argv[1:], capture_output=True, text=True)
wall = time.perf_counter() - t0
peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"wall": wall, "peak_kib": peak_kib, "code": proc.returncode,
                  "tail": (proc.stdout + proc.stderr)[-3000:]}))
"""


def measure_command(argv: list[str]) -> dict[str, float | int | str]:
    """Wall time, peak RSS (KiB, the largest process of the tree the wrapper waited for) and
    exit code of a command run in a fresh wrapper process."""
    env = dict(os.environ)
    env.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    out = subprocess.run(
        [sys.executable, "-c", _RSS_WRAPPER, *argv],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def synthetic_traces(
    directory: Path, n_filters_scale: int = 3, noise: float = 1e-7
) -> tuple[Path, Path, int]:
    """Two traces of gradients and trained weights of an N=256 model (B = A perturbed at float32
    rounding level, so every comparison runs to completion and passes). Returns both paths and
    their total tensor bytes."""
    from backends.graph import weight_shapes
    from parity import scenario as sc
    from parity.trace import TraceWriter

    scen = sc.from_dict(
        {
            "name": "bench-compare",
            "dataset": "builtin:lines-256",
            "checks": ["gradients", "training"],
            "config": {"model": {"N": 256, "n_filters_scale": n_filters_scale}},
        },
        source="<bench>",
    )
    shapes = weight_shapes(scen.model_config())
    rng = np.random.default_rng(0)
    paths = []
    total = 0
    arrays = {
        name: rng.standard_normal(shape, dtype=np.float32) * np.float32(0.05)
        for name, shape in shapes.items()
    }
    for label in ("a", "b"):
        path = Path(directory) / f"{label}.h5"
        with TraceWriter(path, f"bench-{label}", scen) as w:
            for name, value in arrays.items():
                v = value if label == "a" else value * np.float32(1 + noise)
                w.put("gradients/grads", name, v)
                w.put("training/weights", name, v)
            for term in ("total", "nll", "mae", "realspace"):
                w.put("gradients/losses", term, np.float64(1.0))
                w.put("training/step_losses", term, np.ones(3))
            w.put("training", "learning_rates", np.full(3, 1e-3))
            for section in ("environment", "gradients", "training"):
                w.record_section(section, status="ok", seconds=0.0)
            total += w.bytes_written
        paths.append(path)
    return paths[0], paths[1], total


def compare_throughput(directory: Path) -> tuple[float, float, int, int]:
    """(MB/s, seconds, bytes, failing findings) of comparing two synthetic traces."""
    from parity.engine import compare_traces
    from parity.tolerances import Registry
    from parity.trace import Trace

    a, b, nbytes = synthetic_traces(directory)
    with Trace(a) as t:
        scen = t.scenario()
    reg = Registry.load()
    t0 = time.perf_counter()
    findings = compare_traces(a, b, scen, reg)
    seconds = time.perf_counter() - t0
    failing = sum(f.verdict in ("fail", "error") for f in findings)
    return nbytes / 1e6 / seconds, seconds, nbytes, failing


def run() -> list[Figure]:
    """Every figure: (name, value, unit)."""
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix="parity-bench-") as tmp:
        m = measure_command(
            [sys.executable, "-m", "parity", "run", "default", "--out", tmp, "--quiet"]
        )
        figures.append(("parity run default: wall time (imports included)", float(m["wall"]), "s"))
        figures.append(("parity run default: peak RSS", float(m["peak_kib"]) / 1024.0, "MiB"))
        figures.append(("parity run default: exit code", float(m["code"]), ""))
    with tempfile.TemporaryDirectory(prefix="parity-bench-") as tmp:
        mbps, seconds, nbytes, failing = compare_throughput(Path(tmp))
        figures.append(("parity compare: tensor data compared", nbytes / 1e6, "MB"))
        figures.append(("parity compare: wall time", seconds, "s"))
        figures.append(("parity compare: throughput", mbps, "MB/s"))
        figures.append(("parity compare: failing findings (expected 0)", float(failing), ""))
    return figures


def main() -> int:
    """Print the figures."""
    for name, value, unit in run():
        print(f"{name:<55} {value:10.2f} {unit}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
