"""``parity inspect``: describe an NPZ dataset (or a built-in) and validate it."""

from __future__ import annotations

import argparse
import warnings
from typing import Any

import numpy as np

HELP = "show the keys, shapes, dtypes, value ranges and scan extent of a dataset and validate it"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the arguments of ``parity inspect``."""
    parser.add_argument(
        "data", metavar="FILE_OR_BUILTIN", help="an NPZ file or builtin:<name>[:test]"
    )


def _range(a: np.ndarray) -> str:
    if a.size == 0:
        return "empty"
    if a.dtype.kind in "US":
        text = str(a.item()) if a.ndim == 0 else f"{a.size} strings"
        return text if len(text) <= 60 else text[:57] + "..."
    if a.dtype.kind == "b":
        return f"{int(a.sum())} true of {a.size}"
    if a.dtype.kind not in "iufc":
        return "-"
    finite = np.isfinite(a)
    bad = int(a.size - finite.sum())
    suffix = f", {bad} non-finite" if bad else ""
    values = a[finite]
    if values.size == 0:
        return f"all non-finite ({bad})"
    if a.dtype.kind == "c":
        mag, ph = np.abs(values), np.angle(values)
        text = f"|z| {mag.min():.4g}..{mag.max():.4g}, phase {ph.min():.4g}..{ph.max():.4g}"
        strong = ph[mag >= 0.1 * mag.max()] if mag.max() > 0 else ph[:0]
        if 0 < strong.size < ph.size:
            text += f" (where |z| >= 10% of max: {strong.min():.4g}..{strong.max():.4g})"
        return text + suffix
    return (
        f"{values.min():.6g}..{values.max():.6g} (mean {values.mean(dtype=np.float64):.4g}){suffix}"
    )


def _scan_extent(raw: Any) -> list[str]:
    lines = []
    for label, x, y in (
        ("scan extent", raw.xcoords, raw.ycoords),
        ("start extent", raw.xcoords_start, raw.ycoords_start),
    ):
        lines.append(
            f"{label}: x {x.min():.6g}..{x.max():.6g} (span {np.ptp(x):.6g}), "
            f"y {y.min():.6g}..{y.max():.6g} (span {np.ptp(y):.6g})"
        )
    if np.array_equal(raw.xcoords, raw.xcoords_start) and np.array_equal(
        raw.ycoords, raw.ycoords_start
    ):
        lines[-1] = "start positions: identical to the scan positions"
    if raw.objectGuess is not None:
        H, W = raw.objectGuess.shape
        lines.append(f"objectGuess: {H}x{W}")
    return lines


def run(args: argparse.Namespace) -> int:
    """Print the description; exit 0 when the dataset is valid, 2 (with the reason) when not."""
    from backends.data import load_npz, resolve_data
    from backends.data._npzio import read_npz

    path = resolve_data(args.data)
    print(f"file: {path}" + (f"  ({args.data})" if str(args.data) != str(path) else ""))
    try:
        arrays, unreadable, keys = read_npz(path)
    except ValueError as exc:
        print(f"verdict: INVALID: {exc}")
        return 2
    width = max([len(k) for k in keys] + [3])
    print("arrays:")
    for key in keys:
        if key in arrays:
            a = arrays[key]
            print(f"  {key:<{width}}  {tuple(a.shape)!s:<18} {a.dtype!s:<10} {_range(a)}")
        else:
            print(f"  {key:<{width}}  {'?':<18} {'object':<10} {unreadable.get(key, 'not loaded')}")
    del arrays
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            raw = load_npz(path)
        except (KeyError, ValueError) as exc:
            for w in caught:
                print(f"warning: {w.message}")
            reason = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
            print(f"verdict: INVALID: {reason}")
            return 2
    for w in caught:
        print(f"warning: {w.message}")
    print(f"patterns: {raw.n_patterns} of {raw.N}x{raw.N} ({raw.diffraction_key})")
    for line in _scan_extent(raw):
        print(line)
    if raw.nphotons is not None:
        print(f"nphotons: {raw.nphotons:g} (from _metadata; overrides the configured value)")
    else:
        print("nphotons: not recorded (the configured nphotons applies)")
    truth = "Y" if raw.Y is not None else "objectGuess" if raw.objectGuess is not None else "none"
    print(f"ground truth for labels: {truth}")
    print("verdict: valid")
    return 0
