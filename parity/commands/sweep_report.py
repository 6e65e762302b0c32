"""``parity sweep-report``: aggregate a partial or finished sweep directory again."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "aggregate a sweep directory (partial or finished): table, Parquet, CSV, HTML"
SHOWN = 15


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``parity sweep-report``."""
    parser.add_argument("directory", type=Path, metavar="DIR", help="a `parity sweep` directory")


def summarise(root: Path) -> int:
    """Write the aggregates of ``root``, print the cell counts and the worst rows; returns 1 when
    a cell failed or errored, else 0."""
    from parity.sweep import aggregate

    paths = aggregate.write(root)
    table = aggregate.frame(root)
    cells = table.drop_duplicates("cell")
    counts = cells["cell_verdict"].value_counts().to_dict()
    print("cells: " + (", ".join(f"{n} {v}" for v, n in sorted(counts.items())) or "none"))
    bad = aggregate.worst(table, SHOWN)
    for _, r in bad.iterrows():
        margin = (
            "" if r["worst_margin"] != r["worst_margin"] else f" margin {r['worst_margin']:.3g}"
        )
        what = (
            f"{r['check']} {r['tensor']}{margin}"
            if r["check"] != "-"
            else str(r["evidence"]).strip().splitlines()[-1:][0][:200]
            if str(r["evidence"]).strip()
            else ""
        )
        print(f"  {r['verdict']:>7}  cell {r['cell']} ({r['label']}): {what}")
    print(f"table: {paths['parquet']} and {paths['csv']}; page: {paths['html']}")
    return 1 if {"fail", "error"} & set(counts) else 0


def run(args: argparse.Namespace) -> int:
    """Re-aggregate ``DIR``."""
    from parity.errors import InputError
    from parity.sweep.cells import CELLS
    from parity.sweep.execute import SWEEP_FILE

    root = args.directory
    if not (root / SWEEP_FILE).is_file() and not (root / CELLS).is_dir():
        raise InputError(
            f"{root} is not a sweep directory (no {SWEEP_FILE} or {CELLS}/); run `parity sweep "
            "SWEEP --out DIR` first"
        )
    return summarise(root)
