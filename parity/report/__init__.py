"""Reports of a run: ``report.json`` (the machine interface), ``report.md``, a self-contained
``report.html``, ``junit.xml`` and ``findings.csv``.

Every file is written to a temporary name and renamed, and :func:`parity.engine.run_scenario`
renames the whole directory into place only when all of them exist.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from backends.core.files import write_bytes_atomic

FORMATS = ("json", "md", "html", "junit", "csv")
FILE_NAMES = {
    "json": "report.json",
    "md": "report.md",
    "html": "report.html",
    "junit": "junit.xml",
    "csv": "findings.csv",
}


def atomic_write(path: Path, data: str | bytes) -> Path:
    """Write ``data`` (text as UTF-8) to ``path`` through a temporary file and a rename."""
    return write_bytes_atomic(path, data.encode("utf-8") if isinstance(data, str) else data)


def warm_up(formats: Sequence[str] | None = None) -> None:
    """Load what writing ``formats`` (default all) needs: pandas for the CSV, matplotlib and
    its fonts for the HTML figures. A run calls it while its recordings finish, so that the
    report stage does not pay for it."""
    chosen = list(formats or FORMATS)
    if "csv" in chosen:
        import pandas  # noqa: F401
    if "html" in chosen:
        from parity.report.figures import blank_png

        blank_png()


def write_all(
    result: Any, directory: Path, formats: Sequence[str] | None = None
) -> dict[str, Path]:
    """Write the requested formats (default all) of a :class:`parity.engine.RunResult`."""
    from parity.report.data import report_data

    directory = Path(directory)
    return write_from_data(report_data(result, directory), directory, formats)


def write_from_data(
    data: dict[str, Any], directory: Path, formats: Sequence[str] | None = None
) -> dict[str, Path]:
    """Write reports from a report document (as stored in ``report.json``)."""
    import json

    from parity.report import html, junit, markdown

    if "root_cause" not in data:  # a report.json written before root causes existed
        from parity.report.rootcause import root_causes

        data = {**data, "root_cause": root_causes(data)}
    formats = list(formats or FORMATS)
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        from parity.errors import InputError

        raise InputError(f"unknown report format {unknown[0]!r}; choose from {', '.join(FORMATS)}")
    out: dict[str, Path] = {}
    directory.mkdir(parents=True, exist_ok=True)
    if "json" in formats:
        out["json"] = atomic_write(
            directory / FILE_NAMES["json"], json.dumps(data, indent=2, sort_keys=True)
        )
    if "md" in formats:
        out["md"] = atomic_write(directory / FILE_NAMES["md"], markdown.render(data))
    if "junit" in formats:
        out["junit"] = atomic_write(directory / FILE_NAMES["junit"], junit.render(data))
    if "csv" in formats:
        out["csv"] = atomic_write(directory / FILE_NAMES["csv"], findings_csv(data))
    if "html" in formats:
        out["html"] = atomic_write(directory / FILE_NAMES["html"], html.render(data, directory))
    return out


def findings_csv(data: dict[str, Any]) -> str:
    """The findings table as CSV (pandas)."""
    from parity.findings import Finding, to_frame

    frame = to_frame(Finding.from_json(f) for f in data["findings"])
    return str(frame.to_csv(index=False))
