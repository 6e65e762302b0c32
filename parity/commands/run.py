"""``parity run``: record both backends through one or more scenarios, compare, report."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path
from typing import Any

from parity.commands._common import (
    add_device_option,
    add_hidden_inject,
    add_hidden_oracle,
    print_findings,
    refuse_missing_gpu,
    reporter,
)
from parity.errors import InputError
from parity.options import check_formats, check_output_root, positive_seconds, resolve_backends

HELP = "run scenarios through both backends, compare them and write a report (default: default)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``parity run``."""
    parser.add_argument(
        "scenarios",
        nargs="*",
        metavar="SCENARIO",
        help="built-in scenario names or scenario files (default: default)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("reports"),
        help="directory that receives <UTC time>-<scenario>/ (default: reports)",
    )
    parser.add_argument(
        "--backends", default=None, help="reference,candidate (default: tensorflow,pytorch)"
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--isolate",
        action="store_true",
        help="record each backend in its own subprocess (side by side on a CPU with two cores "
        "or more)",
    )
    where.add_argument(
        "--in-process",
        action="store_true",
        help="record the backends in this process, one after the other (default: subprocesses "
        "side by side where that is faster: two CPU cores or more, device cpu)",
    )
    parser.add_argument(
        "--timeout",
        type=positive_seconds,
        default=None,
        metavar="SECONDS",
        help="stop a backend's recording subprocess after this long; implies --isolate "
        "(default: no limit)",
    )
    parser.add_argument(
        "--format",
        default=None,
        help="report formats, comma-separated: json,md,html,junit,csv (default: all)",
    )
    parser.add_argument("--tolerances", type=Path, default=None, help="another tolerance registry")
    parser.add_argument(
        "--ledger", type=Path, default=None, help="another ledger of known divergences"
    )
    parser.add_argument("--baselines", type=Path, default=None, help="directory of baseline traces")
    parser.add_argument("--all", action="store_true", help="print passing findings too")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress display")
    add_device_option(
        parser,
        None,
        "each scenario's [run] device, cpu unless it says otherwise, so that "
        "runs compare with the stored CPU baselines; the cross-device scenario takes the GPU "
        "when one is visible",
    )
    add_hidden_inject(parser)
    add_hidden_oracle(parser)


def run(args: argparse.Namespace) -> int:
    """Run every scenario; exit 1 if any fails."""
    from parity import defects, scenario
    from parity.engine import run_scenario
    from parity.isolation import faster_isolated
    from parity.registry import get_oracle, parse_backends

    names = args.scenarios or ["default"]
    formats = check_formats(args.format)
    if args.timeout is not None and args.in_process:
        raise InputError(
            "--timeout limits the recording subprocesses, and --in-process has none: drop one"
        )
    check_output_root(args.out)
    scenarios = [scenario.load(n) for n in names]
    backends = parse_backends(args.backends)
    resolve_backends(backends)
    if args.oracle:
        get_oracle(args.oracle)
    for name in args.inject:
        defects.get(name)
    refuse_missing_gpu(args.device, backends)
    progress: Any = reporter(args.quiet)
    told = args.isolate or args.timeout is not None
    code = 0
    command = shlex.join(
        ["parity", "run", *names, "--backends", ",".join(backends), "--out", str(args.out)]
        + (["--isolate"] if args.isolate else [])
        + (["--in-process"] if args.in_process else [])
        + (["--device", args.device] if args.device else [])
        + [x for name in args.inject for x in ("--inject", name)]
    )
    try:
        for sc in scenarios:
            isolate = told or (
                not args.in_process
                and not sc.run.cross_device
                and faster_isolated(backends, args.device or sc.run.device)
            )
            result = run_scenario(
                sc,
                backends,
                out_root=args.out,
                isolate=isolate,
                inject=args.inject,
                oracle=args.oracle,
                progress=progress,
                baseline_dir=args.baselines,
                ledger_path=args.ledger,
                tolerances_path=args.tolerances,
                command=command,
                formats=formats,
                isolate_timeout=args.timeout,
                device=args.device,
            )
            progress.close()
            print_findings(
                result.findings, show_all=args.all, title=f"{sc.name}: {result.verdict.upper()}"
            )
            loc = result.localisation()
            if loc and (loc["cumulative"] or loc["single_step"]):
                print(
                    f"first divergent stage: {loc['cumulative'] or '-'} (cumulative), "
                    f"{loc['single_step'] or '-'} (single-step)"
                )
            print(
                f"{sc.name}: {result.verdict.upper()} in {result.seconds:.1f} s; report: {result.report_dir}"
            )
            code = max(code, result.exit_code)
    finally:
        close = getattr(progress, "close", None)
        if close:
            close()
    return code
