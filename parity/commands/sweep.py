"""``parity sweep``: one base scenario over configurations × seeds, cell by cell, on Dask."""

from __future__ import annotations

import argparse
import shlex
import time
from pathlib import Path

from parity.commands._common import add_hidden_inject, reporter

HELP = "run a sweep (scenario × configurations × seeds) on a Dask cluster and aggregate it"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``parity sweep``."""
    parser.add_argument("sweep", metavar="SWEEP", help="built-in sweep name or sweep .toml file")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="sweep directory; re-running into it skips finished cells "
        "(default: reports/sweeps/<name>)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=2,
        help="worker processes of the local Dask cluster (default: 2; one cell at a time each)",
    )
    parser.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="attach to an existing Dask scheduler (tcp://host:8786) instead of a local cluster",
    )
    parser.add_argument(
        "--retry-errors", action="store_true", help="run cells stored as `error` again"
    )
    parser.add_argument(
        "--cells",
        default=None,
        metavar="LIST",
        help="run only these cells, by index as --list prints them: 0,3,5-7",
    )
    parser.add_argument("--list", action="store_true", help="print the cells and exit")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress display")
    add_hidden_inject(parser)


def run(args: argparse.Namespace) -> int:
    """Run the sweep, aggregate, print the summary; exit 1 when a cell fails or errs."""
    from parity import defects
    from parity.errors import InputError
    from parity.sweep import spec

    sweep = spec.load(args.sweep)
    for name in args.inject:
        defects.get(name)
    if args.workers < 1:
        raise InputError("--workers must be at least 1")
    only = _indices(args.cells, len(sweep.cells())) if args.cells else None
    if args.list:
        for cell in sweep.cells():
            state = "invalid: " + cell.problem if cell.scenario is None else ""
            print(f"{cell.index:4d}  {cell.label}  {state}".rstrip())
        return 0
    out = args.out or Path("reports") / "sweeps" / sweep.name
    command = shlex.join(
        ["parity", "sweep", args.sweep, "--out", str(out)]
        + (["--cells", args.cells] if args.cells else [])
        + [x for name in args.inject for x in ("--inject", name)]
    )
    from parity.sweep import execute

    progress = reporter(args.quiet, title=f"sweep {sweep.name}")
    t0 = time.perf_counter()
    try:
        outcome = execute.run(
            sweep,
            out,
            workers=args.workers,
            scheduler=args.scheduler,
            inject=args.inject,
            progress=progress,
            command=command,
            retry_errors=args.retry_errors,
            only=only,
        )
    finally:
        progress.close()
    seconds = time.perf_counter() - t0
    print(
        f"sweep {sweep.name}: {outcome.total} cells: {outcome.ran} run, "
        f"{outcome.skipped} skipped (finished before), {outcome.invalid} invalid; "
        f"{seconds:.1f} s"
    )
    from parity.commands.sweep_report import summarise

    return summarise(out)


def _indices(text: str, count: int) -> set[int]:
    """``0,3,5-7`` as a set of cell indices (clear error for anything else)."""
    from parity.errors import InputError

    out: set[int] = set()
    for part in text.split(","):
        lo, _, hi = part.strip().partition("-")
        try:
            first, last = int(lo), int(hi or lo)
        except ValueError:
            raise InputError(
                f"--cells: {part!r} is not a cell index or range (e.g. 0,3,5-7)"
            ) from None
        if not 0 <= first <= last < count:
            raise InputError(f"--cells: {part!r} is outside the cells 0-{count - 1}")
        out.update(range(first, last + 1))
    return out
