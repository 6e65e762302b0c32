"""``parity diff-params``: the legacy params each backend's configuration path produces for one
config file, side by side, or (``--defaults``) the default-drift table between the layers.

Exit codes: 0 when the two snapshots agree (``backend`` is expected to differ) or every drift is
documented; 1 on any difference or undocumented drift; 2 on bad input.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from backends.config import drift, io, snapshots
from backends.config.drift import format_float
from parity.errors import InputError
from parity.options import check_config

HELP = "Compare the legacy params of the TensorFlow and PyTorch config paths (or --defaults)."

_STATUS = {
    "missing": "MISSING in pytorch path",
    "extra": "EXTRA in pytorch path",
    "value": "VALUE differs",
    "type": "TYPE differs",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's options."""
    parser.add_argument("config", nargs="?", type=Path, help="config file (.toml, .yaml, .json)")
    parser.add_argument(
        "--defaults",
        action="store_true",
        help="print the default-drift table between the canonical, legacy and torch layers",
    )
    parser.add_argument(
        "--kind",
        choices=io.KINDS,
        default="auto",
        help="config kind (default: inference when the file has model_path, else training)",
    )
    parser.add_argument(
        "--set",
        dest="assignments",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config field (repeatable; model fields by name or model.NAME)",
    )
    parser.add_argument(
        "--only-differences", action="store_true", help="list only the keys that differ"
    )


def _show(value: Any) -> str:
    if isinstance(value, float):
        return format_float(value)
    if isinstance(value, str):
        return repr(value)
    return str(value)


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
    return "\n".join(lines)


def _assignments(items: Sequence[str]) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InputError(f"--set {item!r}: expected KEY=VALUE, e.g. --set nepochs=2")
        out[key.strip()] = value.strip()
    return out


def compare_config(config: Any, *, only_differences: bool = False) -> tuple[str, int]:
    """The side-by-side report for one canonical config and its exit code."""
    left = snapshots.tensorflow_snapshot(config)
    try:
        right = snapshots.pytorch_snapshot(config)
    except ValueError as exc:
        raise InputError(f"the PyTorch configuration path rejected the config: {exc}") from exc
    differences = {d.key: d for d in snapshots.compare_snapshots(left.params, right.params)}
    only = [k for k in right.params if k not in left.params]
    rows = []
    for key in [*left.params, *only]:
        diff = differences.get(key)
        if diff is None:
            status = ""
        elif diff.expected:
            status = f"expected ({snapshots.EXPECTED_DIFFERENCES[key]})"
        else:
            status = _STATUS[diff.kind]
            if diff.kind == "type":
                status += f" ({type(diff.left).__name__} vs {type(diff.right).__name__})"
        if status or not only_differences:
            a = _show(left.params[key]) if key in left.params else "(missing)"
            b = _show(right.params[key]) if key in right.params else "(missing)"
            rows.append([key, a, b, status])
    failing = snapshots.unexpected(list(differences.values()))
    lines = [_table(["key", "tensorflow path", "pytorch path", "status"], rows), ""]
    if right.overrides:
        travelled = ", ".join(f"{k}={_show(_plain(v))}" for k, v in right.overrides.items())
        lines.append(f"Travelled through bridge overrides (not natively): {travelled}")
    else:
        lines.append("Travelled through bridge overrides (not natively): none")
    for message in right.warnings:
        lines.append(f"Bridge warning: {message}")
    if failing:
        named = ", ".join(f"{d.key} ({d.kind})" for d in failing)
        lines.append(f"FAIL: {len(failing)} difference(s): {named}")
        return "\n".join(lines), 1
    lines.append("OK: the TensorFlow and PyTorch paths produce the same legacy params")
    return "\n".join(lines), 0


def _plain(value: Any) -> Any:
    return str(value) if isinstance(value, Path) else value


def drift_report() -> tuple[str, int]:
    """The default-drift table and its exit code (1 when a drift is not documented)."""
    rows = drift.compute_drift()
    headers = ["field", "legacy key", *drift.LAYERS, "status"]
    table_rows = []
    for row in rows:
        status = row.status
        if row.status == "drift":
            status = "drift (documented)" if row.documented else "DRIFT NOT DOCUMENTED"
        table_rows.append(
            [row.field, row.legacy_key, *(row.cells[layer].text for layer in drift.LAYERS), status]
        )
    lines = [
        "Default drift: tensorflow = canonical defaults, legacy = legacy params at import, "
        "torch = torch-native defaults after the bridge (minimal overrides), factory = the "
        "training factory",
        _table(headers, table_rows),
        "",
    ]
    for row in rows:
        lines += [f"note: {row.field}: {note}" for note in row.notes]
    same = [r.field for r in rows if r.status == "same"]
    lines.append(f"Same in every layer: {', '.join(same)}")
    gone = drift.resolved(rows)
    if gone:
        lines.append(f"Documented drift no longer present: {', '.join(gone)}")
    bad = drift.undocumented(rows)
    if bad:
        lines.append(f"FAIL: drift not documented in docs/config.md (g): {', '.join(bad)}")
        return "\n".join(lines), 1
    lines.append(f"OK: {len(drift.drifting(rows))} drifting fields, all documented")
    return "\n".join(lines), 0


def run(args: argparse.Namespace) -> int:
    """Run the command; returns the exit code."""
    if args.config is None and not args.defaults:
        raise InputError("give a CONFIG file to compare, or --defaults for the drift table")
    code = 0
    if args.config is not None:
        config = io.load_config(args.config, kind=args.kind)
        if args.assignments:
            config = io.apply_overrides(config, _assignments(args.assignments), from_text=True)
            check_config(config)
        kind = "inference" if hasattr(config, "model_path") else "training"
        text, code = compare_config(config, only_differences=args.only_differences)
        print(f"parity diff-params: {args.config} ({kind} config)")
        print(text)
    if args.defaults:
        text, drift_code = drift_report()
        if args.config is not None:
            print()
        print(text)
        code = max(code, drift_code)
    return code
