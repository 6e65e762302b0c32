"""Speed and memory figures of the harness (``nox -s bench``).

:func:`run` measures, each in a fresh subprocess:

* the import floor: ``import torch, tensorflow`` and nothing else;
* ``parity run smoke`` and ``parity run default`` (and ``signoff`` with
  ``PARITY_BENCH_SIGNOFF=1``), each as the command runs by default and with ``--in-process``:
  wall time, peak resident memory, the ratio to the import floor, and each stage's time and
  share of the wall time, read from the run's own progress lines (the training stage of a
  backend includes its first call: graph tracing for TensorFlow);
* the throughput of ``parity compare`` on two synthetic traces of a few hundred MB (tensor bytes
  of both traces divided by the wall time of the comparison, reading the HDF5 files included).
"""

from __future__ import annotations

import json
import os
import re
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
                  "tail": (proc.stdout + proc.stderr)[-3000:], "stderr": proc.stderr}))
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


_STAGE_LINE = re.compile(r"parity: (?:ok|error|skipped) (?P<label>.+) \((?P<seconds>[0-9.]+) s\)$")
IMPORT_FLOOR = "import torch, tensorflow"


def stage_times(stderr: str) -> list[tuple[str, float]]:
    """(stage, seconds) from the plain progress lines a run writes when not on a terminal."""
    found = []
    for line in stderr.splitlines():
        match = _STAGE_LINE.search(line.strip())
        if match:
            found.append((match["label"], float(match["seconds"])))
    return found


def import_floor() -> float:
    """Seconds of a fresh interpreter importing both frameworks (best of two)."""
    return min(float(measure_command([sys.executable, "-c", IMPORT_FLOOR])["wall"]) for _ in "ab")


def scenario_figures(
    name: str, directory: str, floor: float, options: tuple[str, ...] = ()
) -> list[Figure]:
    """Wall time, peak RSS, exit code, ratio to the import floor and each stage's time and share
    of one ``parity run NAME [OPTIONS]`` in a fresh process. Recorded side by side (the
    default on two cores), the two backends' stages overlap and their shares add up to more
    than the whole."""
    command = " ".join(("parity run", name, *options))
    m = measure_command([sys.executable, "-m", "parity", "run", name, *options, "--out", directory])
    wall = float(m["wall"])
    figures: list[Figure] = [
        (f"{command}: wall time (imports included)", wall, "s"),
        (f"{command}: / import floor", wall / floor, "x"),
        (f"{command}: peak RSS", float(m["peak_kib"]) / 1024.0, "MiB"),
        (f"{command}: exit code", float(m["code"]), ""),
    ]
    for label, seconds in stage_times(str(m.get("stderr", ""))):
        share = f"s, {seconds / wall:.0%} of the run"
        figures.append((f"{command}: {label}", seconds, share))
    return figures


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
    floor = import_floor()
    figures: list[Figure] = [(f"import floor ({IMPORT_FLOOR})", floor, "s")]
    scenarios = ["smoke", "default"]
    if os.environ.get("PARITY_BENCH_SIGNOFF"):
        scenarios.append("signoff")
    for name in scenarios:
        for options in ((), ("--in-process",)):
            with tempfile.TemporaryDirectory(prefix="parity-bench-") as tmp:
                figures += scenario_figures(name, tmp, floor, options)
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
        print(f"{name:<60} {value:10.2f} {unit}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
