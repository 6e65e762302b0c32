"""Run every benchmark module and print one table; ratios are computed within this run.

Usage: ``python -m benchmarks [data] [tensorflow] [pytorch] [parity] [import-order]``
(default: all).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import time

SUITES = {
    "data": ("backends.data.bench", None),
    "tensorflow": ("backends.tensorflow.bench", "tensorflow"),
    "pytorch": ("backends.pytorch.bench", "torch"),
    "parity": ("parity.bench", None),
    "import-order": ("benchmarks.import_order", "torch"),
}


def speed_ratios(rows: list[tuple[str, str, float, str]]) -> list[tuple[str, float]]:
    """``(name, ratio)`` for every figure both backend suites report, as PyTorch's speed over
    TensorFlow's: rates divide PyTorch's by TensorFlow's, durations (unit ``s``) the other way."""
    by_name = {(suite, name): value for suite, name, value, _ in rows}
    units = {name: unit for _, name, _, unit in rows}
    ratios = []
    for (suite, name), value in by_name.items():
        other = by_name.get(("tensorflow", name))
        if suite == "pytorch" and other and value:
            ratios.append((name, other / value if units[name] == "s" else value / other))
    return ratios


def main(argv: list[str]) -> int:
    chosen = argv or list(SUITES)
    unknown = [name for name in chosen if name not in SUITES]
    if unknown:
        print(f"unknown benchmark suite(s): {unknown}; choose from {list(SUITES)}", file=sys.stderr)
        return 2
    if "pytorch" in chosen and importlib.util.find_spec("torch") is not None:
        importlib.import_module("backends")  # sets torch's OpenMP wait policy before it loads
        importlib.import_module("torch")
    rows: list[tuple[str, str, float, str]] = []
    for suite in chosen:
        module_name, framework = SUITES[suite]
        if framework and importlib.util.find_spec(framework) is None:
            print(f"[{suite}] skipped: {framework} is not installed")
            continue
        started = time.perf_counter()
        module = importlib.import_module(module_name)
        for name, value, unit in module.run():
            rows.append((suite, name, value, unit))
            print(f"[{suite}] {name}: {value:.4g} {unit}", flush=True)
        print(f"[{suite}] finished in {time.perf_counter() - started:.1f} s", flush=True)
    ratios = speed_ratios(rows)
    if ratios:
        print("\nPyTorch / TensorFlow (same machine, same run; > 1 means PyTorch is faster):")
        for name, ratio in ratios:
            print(f"  {name}: {ratio:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
