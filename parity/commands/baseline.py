"""``parity baseline update|check``: per-backend baseline traces of the built-in scenarios
(stored slim under ``parity/baselines/``) and the regression check against them."""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from parity.commands._common import add_hidden_oracle, print_findings, reporter
from parity.errors import InputError

HELP = "update or check the stored baseline traces (regression guard for each backend)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``parity baseline``."""
    parser.add_argument(
        "action", choices=("update", "check"), help="record new baselines, or check against them"
    )
    parser.add_argument(
        "scenarios", nargs="*", metavar="SCENARIO", help="scenarios (default: smoke)"
    )
    parser.add_argument(
        "--all", action="store_true", help="every built-in scenario (see `parity list`)"
    )
    parser.add_argument("--backends", default=None, help="backends (default: tensorflow,pytorch)")
    parser.add_argument(
        "--dir", type=Path, default=None, help="baseline directory (default: parity/baselines)"
    )
    parser.add_argument(
        "--max-elements",
        type=int,
        default=1024,
        help="tensors above this many elements are stored as summaries (update)",
    )
    parser.add_argument("--out", type=Path, default=None, help="write a report of the check here")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress display")
    add_hidden_oracle(parser)


def run(args: argparse.Namespace) -> int:
    """Update (exit 0) or check (exit 1 on a regression)."""
    from parity import scenario
    from parity.engine import baseline_path, run_scenario
    from parity.record import record
    from parity.registry import get_oracle, parse_backends
    from parity.trace import Trace, slim

    if args.all and args.scenarios:
        raise InputError("parity baseline: give scenario names or --all, not both")
    names = scenario.builtin_names() if args.all else (args.scenarios or ["smoke"])
    backends = parse_backends(args.backends)
    progress = reporter(args.quiet)
    code = 0
    for name in names:
        sc = scenario.load(name)
        if args.action == "update":
            oracle = get_oracle(args.oracle) if args.oracle else None
            with tempfile.TemporaryDirectory(prefix="parity-baseline-") as tmp:
                reference = None
                for i, spec in enumerate(backends):
                    started = time.perf_counter()
                    path = record(
                        spec,
                        sc,
                        Path(tmp) / f"{i}.h5",
                        reference=reference,
                        oracle=oracle,
                        progress=progress,
                    )
                    reference = reference or path
                    with Trace(path) as t:
                        failed = [k for k, v in t.sections.items() if v.get("status") != "ok"]
                        backend = t.backend
                    progress.close()
                    if failed:
                        print(
                            f"{sc.name}/{backend}: not stored, sections failed: {', '.join(failed)}"
                        )
                        code = 1
                        continue
                    target = slim(
                        path, baseline_path(sc.name, backend, args.dir), args.max_elements
                    )
                    print(
                        f"{sc.name}/{backend}: baseline {target} "
                        f"({target.stat().st_size / 1024:.0f} KiB, recorded in "
                        f"{time.perf_counter() - started:.0f} s)",
                        flush=True,
                    )
        else:
            result = run_scenario(
                sc,
                backends,
                out_root=args.out,
                oracle=args.oracle,
                progress=progress,
                baseline_dir=args.dir,
                only=["regression"],
            )
            progress.close()
            print_findings(result.findings, title=f"{sc.name} regression: {result.verdict.upper()}")
            code = max(code, result.exit_code)
    close = getattr(progress, "close", None)
    if close:
        close()
    return code
