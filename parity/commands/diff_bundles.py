"""``parity diff-bundles A B``: what differs between two model bundles.

Either side may be an upstream PtychoPINN bundle: it is imported first (read as data only,
docs/upstream.md) with the other side's backend, into a temporary directory, and the imported
bundle is compared.
"""

from __future__ import annotations

import argparse
import tempfile
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
    from backends.bundle.upstream import is_upstream_bundle, reference_backend
    from parity import bundlediff
    from parity.findings import exit_code

    with tempfile.TemporaryDirectory(prefix="parity-diff-bundles-") as tmp:
        paths = [args.a, args.b]
        for i, path in enumerate(paths):
            if is_upstream_bundle(path):
                other = paths[1 - i]
                backend = reference_backend("pytorch")
                if not is_upstream_bundle(other):
                    backend = str(bundlediff.read(other).manifest.get("backend", backend))
                paths[i] = _imported(path, backend, Path(tmp) / f"side{i}")
        a, b = bundlediff.read(paths[0]), bundlediff.read(paths[1])
        findings = list(bundlediff.diff(a, b))
        if args.load:
            findings += list(bundlediff.diff_loaded(a, b))
        print_findings(findings, show_all=args.all, title=f"{args.a} vs {args.b}")
    return exit_code(findings)


def _imported(path: Path, backend: str, where: Path) -> Path:
    """An upstream bundle imported for ``backend`` under ``where``."""
    from backends.bundle.upstream import import_legacy_bundle
    from parity.commands.train import check_backend_available

    check_backend_available(backend)
    print(f"{path}: upstream bundle, imported for the {backend} backend to compare it")
    return import_legacy_bundle(path, where, backend)
