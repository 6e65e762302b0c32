"""``parity record``: drive one backend through a scenario into a trace file."""

from __future__ import annotations

import argparse
from pathlib import Path

from parity.commands._common import (
    add_device_option,
    add_hidden_inject,
    add_hidden_oracle,
    refuse_missing_gpu,
    reporter,
)

HELP = "record one backend through a scenario into an HDF5 trace (compare two with parity compare)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``parity record``."""
    parser.add_argument("--backend", required=True, help="tensorflow or pytorch")
    parser.add_argument("scenario", metavar="SCENARIO", help="built-in scenario name or file")
    parser.add_argument("-o", "--output", type=Path, required=True, help="trace file to write")
    parser.add_argument(
        "--reference",
        type=Path,
        default=None,
        help="trace of the reference backend: its activations feed the single-step checks",
    )
    parser.add_argument(
        "--bundle-dir", type=Path, default=None, help="keep the saved bundle in this directory"
    )
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress display")
    add_device_option(
        parser,
        None,
        "the scenario's [run] device, cpu unless it says otherwise, so that "
        "recordings compare with the stored CPU baselines",
    )
    add_hidden_inject(parser)
    add_hidden_oracle(parser)
    # side-by-side recording (parity.isolation): not for direct use
    parser.add_argument("--feeds-out", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--await-reference", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--events", action="store_true", help=argparse.SUPPRESS)


def run(args: argparse.Namespace) -> int:
    """Record; exit 1 when a section of the recording failed (the trace is still written)."""
    from parity import defects, scenario
    from parity.progress import EventStream
    from parity.record import record
    from parity.registry import get_oracle
    from parity.trace import Trace

    sc = scenario.load(args.scenario)
    for name in args.inject:
        defects.get(name)
    if args.reference is not None and not args.await_reference and not args.reference.exists():
        raise FileNotFoundError(f"reference trace {args.reference} does not exist")
    oracle = get_oracle(args.oracle) if args.oracle else None
    refuse_missing_gpu(args.device, [args.backend])
    progress = EventStream() if args.events else reporter(args.quiet)
    try:
        path = record(
            args.backend,
            sc,
            args.output,
            reference=args.reference,
            oracle=oracle,
            defects=args.inject,
            progress=progress,
            bundle_dir=args.bundle_dir,
            device=args.device,
            feeds_out=args.feeds_out,
            await_reference=args.await_reference,
        )
    finally:
        close = getattr(progress, "close", None)
        if close:
            close()
    with Trace(path) as t:
        failed = {k: v.get("error", "") for k, v in t.sections.items() if v.get("status") != "ok"}
    if not (args.quiet or args.events):
        print(f"wrote {path}")
    for name, err in failed.items():
        print(f"section {name} failed: {err}")
    return 1 if failed else 0
