"""Physical plausibility of a scan, checked after the NPZ contract holds.

Diffraction amplitudes are ``sqrt(intensity)``: never negative, not all zero, and far below
the float32 range once squared; a probe that is zero everywhere illuminates nothing; scan
positions are pixel offsets on a canvas that must fit in memory, and positions that all
coincide cannot be stitched into an object. What cannot be right is an error; what is merely
suspicious (some dark patterns, one repeated position) is a warning. Training, inference and
``parity inspect`` all read data through :func:`backends.data.load_npz`, so they agree.
"""

from __future__ import annotations

import warnings

import numpy as np

#: Largest amplitude accepted: its square must stay far inside float32 after summing patterns.
MAX_AMPLITUDE = 1e15
#: Largest scan extent (pixels) along one axis: the stitched canvas is about this squared.
MAX_EXTENT = 65_536.0


def check_scan(
    diff: np.ndarray,
    probe: np.ndarray,
    xcoords: np.ndarray,
    ycoords: np.ndarray,
    obj: np.ndarray | None,
    *,
    key: str,
    prefix: str,
) -> None:
    """Raise ValueError for a scan that cannot be physical; warn about a suspicious one."""
    p = prefix
    low, high = float(diff.min()), float(diff.max())
    if low < 0:
        raise ValueError(
            f"{p}diffraction {key!r} has negative values (minimum {low:.3g}); amplitudes "
            "sqrt(intensity) are >= 0: check the preprocessing (background subtraction?) and "
            "clip at 0"
        )
    if high == 0:
        raise ValueError(
            f"{p}diffraction {key!r} is zero everywhere; there is nothing to reconstruct from"
        )
    if high > MAX_AMPLITUDE:
        raise ValueError(
            f"{p}diffraction {key!r} reaches {high:.3g}, beyond any measured amplitude (at most "
            f"{MAX_AMPLITUDE:g}); amplitudes are sqrt(counts): check the units"
        )
    dark = int(np.count_nonzero(~diff.reshape(diff.shape[0], -1).any(axis=1)))
    if dark:
        warnings.warn(
            f"{p}{dark} of {diff.shape[0]} patterns in {key!r} are zero everywhere (no signal)",
            UserWarning,
            stacklevel=5,
        )
    if not np.any(probe):
        raise ValueError(f"{p}'probeGuess' is zero everywhere; a probe must illuminate something")
    for name, c in (("xcoords", xcoords), ("ycoords", ycoords)):
        extent = float(c.max() - c.min()) if c.size else 0.0
        if extent > MAX_EXTENT or float(np.abs(c).max(initial=0.0)) > 1e3 * MAX_EXTENT:
            raise ValueError(
                f"{p}{name!r} spans {extent:.3g} pixels (values up to "
                f"{float(np.abs(c).max()):.3g}); a scan must fit a canvas of at most "
                f"{MAX_EXTENT:g} pixels: positions are in pixels, check the units or "
                "coord_scale"
            )
    if xcoords.size > 1 and np.ptp(xcoords) == 0 and np.ptp(ycoords) == 0:
        warnings.warn(
            f"{p}all {xcoords.size} scan positions are identical; the patterns cannot be "
            "stitched into an object larger than one patch",
            UserWarning,
            stacklevel=5,
        )
    if obj is not None and obj.size == 0:
        raise ValueError(f"{p}'objectGuess' holds no pixels (shape {obj.shape})")
