"""``parity compare A B``: compare two recorded traces (A is the reference)."""

from __future__ import annotations

import argparse
from pathlib import Path

from parity.commands._common import print_findings

HELP = "compare two traces of the same scenario (A = reference) and print or write the findings"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``parity compare``."""
    parser.add_argument("a", type=Path, metavar="A", help="reference trace")
    parser.add_argument("b", type=Path, metavar="B", help="candidate trace")
    parser.add_argument(
        "--scenario", default=None, help="require the traces to be of this scenario (name or file)"
    )
    parser.add_argument(
        "--checks", default=None, help="comma-separated check families (default: the scenario's)"
    )
    parser.add_argument("--out", type=Path, default=None, help="write a report into this directory")
    parser.add_argument("--format", default=None, help="report formats (default: all)")
    parser.add_argument("--tolerances", type=Path, default=None, help="another tolerance registry")
    parser.add_argument("--ledger", type=Path, default=None, help="another ledger")
    parser.add_argument("--all", action="store_true", help="print passing findings too")


def run(args: argparse.Namespace) -> int:
    """Compare; exit 1 on any failure."""
    import datetime as dt
    import time

    from parity import ledger, scenario
    from parity.checks import FAMILIES
    from parity.engine import RunResult, _trace_meta, compare_traces
    from parity.errors import InputError
    from parity.tolerances import Registry
    from parity.trace import open_pair

    a, b = open_pair(args.a, args.b)
    try:
        sc = a.scenario()
    finally:
        a.close()
        b.close()
    if args.scenario:
        wanted = scenario.load(args.scenario)
        if (wanted.name, wanted.hash) != (sc.name, sc.hash):
            raise InputError(
                f"the traces are of scenario {sc.name!r} ({sc.hash}), not {wanted.name!r} ({wanted.hash})"
            )
    families = (
        [c.strip() for c in args.checks.split(",")]
        if args.checks
        else [c for c in sc.checks if c in FAMILIES]
    )
    for fam in families:
        if fam not in FAMILIES:
            raise InputError(f"unknown check family {fam!r}; choose from {', '.join(FAMILIES)}")
    tolerances = (
        Registry.load(args.tolerances) if args.tolerances else Registry.load()
    ).with_overrides(sc.tolerances, sc.source)
    t0 = time.perf_counter()
    findings = compare_traces(args.a, args.b, sc, tolerances, families)
    findings = ledger.apply(
        findings, ledger.load(args.ledger), sc.name, families, model=ledger.model_fields(sc)
    )
    seconds = time.perf_counter() - t0
    names, env, timings = _trace_meta({"a": args.a, "b": args.b})
    result = RunResult(
        scenario=sc,
        backends=[names["a"], names["b"]],
        traces={names["a"]: args.a.resolve(), names["b"]: args.b.resolve()},
        findings=findings,
        names={names["a"]: names["a"], names["b"]: names["b"]},
        environment=env,
        timings=timings,
        started=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        seconds=seconds,
        command=f"parity compare {args.a} {args.b}",
    )
    print_findings(findings, show_all=args.all, title=f"{sc.name}: {result.verdict.upper()}")
    if args.out is not None:
        from parity.report import write_all

        formats = [f.strip() for f in args.format.split(",")] if args.format else None
        written = write_all(result, args.out, formats)
        print("report: " + ", ".join(str(p) for p in written.values()))
    return result.exit_code
