"""``parity report``: render the reports of a run again (e.g. another format, another place)."""

from __future__ import annotations

import argparse
from pathlib import Path

from backends.safeio import ReportFileError, expect, parse_json, read_file_bytes

MAX_REPORT_BYTES = 256 * 1024**2

HELP = "re-render report.md/html/junit/csv from a run directory or its report.json"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``parity report``."""
    parser.add_argument("source", type=Path, metavar="RUN", help="run directory or report.json")
    parser.add_argument(
        "--out", type=Path, default=None, help="output directory (default: the run's)"
    )
    parser.add_argument("--format", default=None, help="formats, comma-separated (default: all)")


def run(args: argparse.Namespace) -> int:
    """Render; exit with the verdict of the report (0 pass, 1 fail)."""
    from parity.errors import InputError
    from parity.report import write_from_data
    from parity.report.data import REPORT_FORMAT

    path = args.source / "report.json" if args.source.is_dir() else args.source
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist (give a run directory or its report.json)")
    data = parse_json(
        read_file_bytes(path, ReportFileError, max_bytes=MAX_REPORT_BYTES),
        path,
        ReportFileError,
        max_bytes=MAX_REPORT_BYTES,
    )
    expect(data, dict, path, ReportFileError, "report.json")
    expect(data.get("traces", {}), dict, path, ReportFileError, "traces")
    exit_code = expect(data.get("exit_code", 0), int, path, ReportFileError, "exit_code")
    if data.get("format") != REPORT_FORMAT:
        raise InputError(f"{path} is not a parity report (format {data.get('format')!r})")
    run_dir = path.parent
    out = args.out or run_dir
    if out.resolve() != run_dir.resolve():
        data["traces"] = {
            k: str((run_dir / v).resolve()) for k, v in data.get("traces", {}).items()
        }
    formats = [f.strip() for f in args.format.split(",")] if args.format else None
    try:
        written = write_from_data(data, out, formats)
    except (AttributeError, TypeError, KeyError, IndexError) as exc:
        raise ReportFileError(
            path,
            f"holds a field of an unexpected type ({type(exc).__name__}: {exc})",
            fix="render a report.json written by parity run or parity compare",
        ) from exc
    print("\n".join(str(p) for p in written.values()))
    return exit_code if exit_code in (0, 1, 2) else 2
