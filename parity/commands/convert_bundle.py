"""``parity convert-bundle``: turn a bundle of one backend into a bundle of the other.

Loads the bundle with the backend that wrote it, transfers the weights by canonical name into
a model of the target backend built from the same params snapshot, saves it, loads it back and
compares the forward outputs of both on a probe batch. The converted bundle is written only
when they agree within ``--rtol``. Exit 0 on agreement, 1 when the outputs differ.

An upstream PtychoPINN bundle (``manifest.dill``) is imported instead: read as data only
(docs/upstream.md), built with the target backend, saved, reloaded and compared with the
reference backend's model of the same weights.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from parity.commands._common import reporter
from parity.commands.train import check_backend_available
from parity.options import check_output_root, tolerance

HELP = "Convert a bundle to the other backend and check that its forward output matches."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's options."""
    parser.add_argument(
        "bundle", type=Path, metavar="BUNDLE", help="bundle directory or wts.h5.zip"
    )
    parser.add_argument(
        "--to", required=True, metavar="NAME", help="target backend (tensorflow or pytorch)"
    )
    parser.add_argument("-o", "--output-dir", required=True, type=Path, metavar="DIR")
    parser.add_argument(
        "--rtol",
        type=tolerance,
        default=1e-4,
        help="largest allowed difference relative to the largest output magnitude (default 1e-4)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress display")


def run(args: argparse.Namespace) -> int:
    """Convert, compare and report."""
    from backends import workflows
    from backends.bundle import read_bundle
    from backends.bundle.upstream import is_upstream_bundle

    check_output_root(args.output_dir, "--output-dir")
    check_backend_available(args.to)
    if is_upstream_bundle(args.bundle):
        with reporter(args.no_progress, "convert-bundle") as progress:
            report = workflows.convert_upstream(
                args.bundle, args.to, args.output_dir, rtol=args.rtol, monitor=progress
            )
    else:
        source = read_bundle(args.bundle, expected_backend=None).backend
        check_backend_available(source)
        with reporter(args.no_progress, "convert-bundle") as progress:
            report = workflows.convert_bundle(
                args.bundle, args.to, args.output_dir, rtol=args.rtol, monitor=progress
            )
    print(f"converted {report.source_backend} -> {report.target_backend}")
    for name in sorted(report.max_abs_diff):
        print(
            f"  {name:<16} max |difference| {report.max_abs_diff[name]:.3e}  "
            f"(relative {report.max_rel_diff[name]:.3e})"
        )
    if "trimmed_obj" in report.max_abs_diff:
        print(
            f"max difference of the object (trimmed_obj): {report.max_abs_diff['trimmed_obj']:.3e}"
        )
    worst = max(report.max_rel_diff.values(), default=0.0)
    print(f"largest relative difference over all outputs: {worst:.3e} (rtol {args.rtol:g})")
    for diff in report.params_differences:
        print(f"  params.json differs: {diff}")
    if not report.passed:
        print(f"FAILED: forward outputs differ by more than rtol={args.rtol:g}; nothing written")
        return 1
    print(f"bundle {report.bundle}")
    return 0
