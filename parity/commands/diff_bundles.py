"""``parity diff-bundles A B``: what differs between two model bundles."""

from __future__ import annotations

import argparse
from pathlib import Path

from parity.commands._common import print_findings

HELP = "compare two model bundles: manifest, params snapshot, entries (--load: weights and outputs)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``parity diff-bundles``."""
    parser.add_argument("a", type=Path, metavar="A", help="bundle directory or wts.h5.zip")
    parser.add_argument("b", type=Path, metavar="B", help="bundle directory or wts.h5.zip")
    parser.add_argument(
        "--load",
        action="store_true",
        help="also load both with their backends and compare weights and forward outputs",
    )
    parser.add_argument("--all", action="store_true", help="print identical items too")


def run(args: argparse.Namespace) -> int:
    """Diff; exit 1 when anything differs."""
    from parity import bundlediff
    from parity.findings import exit_code

    a, b = bundlediff.read(args.a), bundlediff.read(args.b)
    findings = list(bundlediff.diff(a, b))
    if args.load:
        findings += list(bundlediff.diff_loaded(a, b))
    print_findings(findings, show_all=args.all, title=f"{a.path} vs {b.path}")
    return exit_code(findings)
