"""Checks shared by the configuration validators, and the inference ``model_path`` resolution.

Every failure is a ``ValueError`` whose message names the field, the value and what is
allowed (docs/config.md (a)). This module imports nothing from the rest of the package so that
:mod:`backends.config.canonical` can use it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from backends.core.vocabulary import BUNDLE_NAME

MODEL_ARCHIVE_NAME = BUNDLE_NAME


def check_choice(field_name: str, value: Any, allowed: Sequence[Any]) -> None:
    """``value`` must be one of ``allowed``."""
    if value not in allowed:
        choices = ", ".join(repr(a) if not isinstance(a, str) else a for a in allowed)
        raise ValueError(f"{field_name}={value!r} is not allowed; choose one of: {choices}")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_positive(field_name: str, value: Any) -> None:
    """``value`` must be a finite number > 0."""
    if not _is_number(value) or not value > 0 or not math.isfinite(value):
        raise ValueError(f"{field_name}={value!r} is not allowed; it must be a finite number > 0")


def check_non_negative(field_name: str, value: Any) -> None:
    """``value`` must be a finite number >= 0."""
    if not _is_number(value) or not value >= 0 or not math.isfinite(value):
        raise ValueError(f"{field_name}={value!r} is not allowed; it must be a finite number >= 0")


def check_unit_interval(field_name: str, value: Any) -> None:
    """``value`` must be a number in [0, 1]."""
    if not _is_number(value) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{field_name}={value!r} is not allowed; it must be in [0, 1]")


def check_power_of_two(field_name: str, value: Any) -> None:
    """``value`` must be a positive power of 2 (an int)."""
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0 or value & (value - 1):
        raise ValueError(f"{field_name}={value!r} is not allowed; it must be a positive power of 2")


#: Upper bounds no model this project builds can use: beyond them a value is a typo (an extra
#: digit, a unit slip), and accepting it would only fail later or exhaust memory. The spec's
#: validators do not apply them (upstream accepts any positive value); the commands do, before
#: any work starts.
UPPER_BOUNDS: dict[str, float] = {
    "N": 1024,
    "gridsize": 16,
    "n_filters_scale": 64,
    "batch_size": 65536,
    "nepochs": 1_000_000,
    "n_groups": 100_000_000,
    "n_images": 100_000_000,
    "n_subsample": 100_000_000,
    "neighbor_count": 4096,
    "neighbor_pool_size": 4096,
    "nphotons": 1e30,
    "probe_scale": 1e6,
    "gaussian_smoothing_sigma": 1e3,
}


def check_upper_bounds(config: Any) -> None:
    """Every field of ``config`` named in :data:`UPPER_BOUNDS` is at most its bound."""
    for name, bound in UPPER_BOUNDS.items():
        value: Any = getattr(config, name, None)
        if _is_number(value) and float(value) > bound:
            raise ValueError(
                f"{name}={value!r} is not allowed; it is beyond what the model supports "
                f"(at most {bound:g})"
            )


def check_positive_int(field_name: str, value: Any, *, optional: bool = False) -> None:
    """``value`` must be an int > 0 (or None when ``optional``)."""
    if optional and value is None:
        return
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        suffix = " or None" if optional else ""
        raise ValueError(
            f"{field_name}={value!r} is not allowed; it must be an integer > 0{suffix}"
        )


def resolve_model_path(model_path: Path | str) -> Path:
    """Where the model archive of ``model_path`` is, by the rules of docs/config.md (a).

    A directory must contain ``wts.h5.zip`` (else "Model archive not found"). A path that does
    not exist is retried with its suffix replaced by ``.zip``, and a path named ``wts.h5`` also
    as ``wts.h5.zip``. Returns the path that exists (the directory itself for a directory).
    """
    path = Path(model_path)
    if path.is_dir():
        archive = path / MODEL_ARCHIVE_NAME
        if not archive.exists():
            raise ValueError(
                f"Model archive not found: {archive}; model_path={str(path)!r} is a directory, "
                f"so it must contain {MODEL_ARCHIVE_NAME}"
            )
        return path
    if path.exists():
        return path
    tried = [path.with_suffix(".zip")]
    if path.name == "wts.h5":
        tried.append(path.with_name(MODEL_ARCHIVE_NAME))
    for candidate in tried:
        if candidate.exists():
            return candidate
    alternatives = ", ".join(str(c) for c in tried)
    raise ValueError(
        f"model_path does not exist: {path} (also tried {alternatives}); point model_path at "
        f"a bundle directory holding {MODEL_ARCHIVE_NAME} or at the archive itself"
    )
