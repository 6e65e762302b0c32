"""Data-pipeline benchmarks, run by ``python -m benchmarks data`` or ``python -m backends.data.bench``.

Targets (issue: data pipeline): each figure under 5 s on the development machine.
"""

from __future__ import annotations

from functools import partial

import numpy as np

from backends.benchmarking import timed
from backends.data.grouping import group_indices
from backends.data.simulate import simulate_dataset

TARGET_SECONDS = 5.0


def run() -> list[tuple[str, float, str]]:
    """Time the benchmarks; returns ``(name, value, unit)`` rows (unit "s")."""
    rows: list[tuple[str, float, str]] = []
    r = np.random.RandomState(0)
    P = 100_000
    x, y = r.uniform(0, 2000, P), r.uniform(0, 2000, P)
    for n_groups in (10_000, 100_000):
        job = partial(
            group_indices,
            x,
            y,
            gridsize=2,
            n_groups=n_groups,
            neighbor_count=7,
            rng=np.random.RandomState(1),
        )
        rows.append(
            (
                f"group {P:,} positions, K=7, gridsize 2, n_groups {n_groups:,} (target < 5 s)",
                timed(job),
                "s",
            )
        )
    rows.append(
        (
            "simulate 1,000 patterns at N=64, lines object 224x224 (target < 5 s)",
            timed(lambda: simulate_dataset(N=64, n_images=1000)),
            "s",
        )
    )
    return rows


def main() -> int:
    """Print the benchmark table; exit 1 if a target is missed."""
    rows = run()
    width = max(len(name) for name, _, _ in rows)
    for name, value, unit in rows:
        print(f"{name:<{width}}  {value:7.3f} {unit}")
    return 0 if all(value < TARGET_SECONDS for _, value, _ in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
