"""The raw NPZ contract (docs/data.md sections 1-2): reading, validating and writing scans.

Errors follow data.md section 2 in table order: ``KeyError`` for a missing key, ``ValueError``
otherwise, each naming the file, key and shape involved.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from backends.data._atomic import write_atomic
from backends.data._npzio import read_npz
from backends.data.plausibility import check_scan
from backends.data.probe_modes import first_probe_mode
from backends.safeio import NpzFileError, parse_json

DIFFRACTION_KEYS = ("diff3d", "diffraction")
COORDINATE_KEYS = ("xcoords", "ycoords", "xcoords_start", "ycoords_start")
ARRAY_KEYS = (
    "diff3d",
    "diffraction",
    "xcoords",
    "ycoords",
    "xcoords_start",
    "ycoords_start",
    "probeGuess",
    "scan_index",
    "objectGuess",
    "Y",
    "ground_truth_patches",
)
METADATA_KEY = "_metadata"


def _prefix(source: str | None) -> str:
    return f"{source}: " if source else ""


def _describe(a: np.ndarray) -> str:
    return f"shape {tuple(a.shape)} dtype {a.dtype}"


@dataclass(eq=False)
class RawData:
    """One scan: M diffraction amplitudes of N x N pixels and their positions.

    Construction validates the arrays (data.md section 2, file rows) and normalises dtypes:
    coordinates float64 ``(M,)``, ``diff3d`` float32 or float64 ``(M, N, N)``, ``probeGuess``
    complex64 ``(N, N)``, ``scan_index`` int64, ``objectGuess`` complex64 ``(H, W)``, ``Y``
    complex64 ``(M, N, N)``. ``metadata`` is the parsed ``_metadata`` JSON (or None);
    ``sample_indices`` the rows of the original file kept by subsampling (or None).
    """

    xcoords: np.ndarray
    ycoords: np.ndarray
    diff3d: np.ndarray
    probeGuess: np.ndarray
    xcoords_start: np.ndarray | None = None
    ycoords_start: np.ndarray | None = None
    scan_index: np.ndarray | None = None
    objectGuess: np.ndarray | None = None
    Y: np.ndarray | None = None
    ground_truth_patches: np.ndarray | None = None
    metadata: dict[str, Any] | None = None
    sample_indices: np.ndarray | None = None
    source: str | None = None
    diffraction_key: str = "diff3d"

    def __post_init__(self) -> None:
        _validate(self)

    # ------------------------------------------------------------------ properties
    @property
    def N(self) -> int:
        """Side of the (square) diffraction patterns."""
        return int(self.diff3d.shape[-1])

    @property
    def n_patterns(self) -> int:
        """Number of patterns M."""
        return int(self.diff3d.shape[0])

    def __len__(self) -> int:
        return self.n_patterns

    @property
    def nphotons(self) -> float | None:
        """The ``_metadata`` photon count that overrides the configured nphotons, or None."""
        return _metadata_nphotons(self.metadata, self.source)

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any], source: str | None = None) -> RawData:
        """Build from a dict of arrays keyed as in the NPZ contract (extra keys are ignored).

        ``diff3d`` wins over ``diffraction``; ``_metadata`` may be a JSON string, a 0-d
        string array or a dict.
        """
        p = _prefix(source)
        present = {k for k, v in mapping.items() if v is not None}
        missing = []
        if not any(k in present for k in DIFFRACTION_KEYS):
            missing.append("'diff3d' (or 'diffraction')")
        missing += [repr(k) for k in ("xcoords", "ycoords", "probeGuess") if k not in present]
        if missing:
            raise KeyError(
                f"{p}missing required key(s) {', '.join(missing)}; a dataset needs "
                "'diff3d' (or 'diffraction'), 'xcoords', 'ycoords' and 'probeGuess'"
            )
        diff_key = "diff3d" if "diff3d" in present else "diffraction"
        metadata = _parse_metadata(mapping.get(METADATA_KEY), source)
        kwargs: dict[str, Any] = {
            key: (None if mapping.get(key) is None else np.asarray(mapping[key]))
            for key in (
                "xcoords",
                "ycoords",
                "xcoords_start",
                "ycoords_start",
                "probeGuess",
                "scan_index",
                "objectGuess",
                "Y",
                "ground_truth_patches",
            )
        }
        probe = kwargs["probeGuess"]
        if probe is not None and probe.ndim == 3 and probe.shape[1] == probe.shape[2]:
            # a (modes, N, N) stack, as ptychodus's training-data export writes it
            kwargs["probeGuess"] = first_probe_mode(probe, f"{p}'probeGuess'")
        return cls(
            diff3d=np.asarray(mapping[diff_key]),
            metadata=metadata,
            source=source,
            diffraction_key=diff_key,
            **kwargs,
        )

    # ------------------------------------------------------------------ derived data
    def select(self, indices: np.ndarray) -> RawData:
        """The rows ``indices`` of every per-pattern array (``sample_indices`` records them)."""
        idx = np.asarray(indices, dtype=np.int64)
        previous = self.sample_indices
        return dataclasses.replace(
            self,
            xcoords=self.xcoords[idx],
            ycoords=self.ycoords[idx],
            xcoords_start=_take(self.xcoords_start, idx),
            ycoords_start=_take(self.ycoords_start, idx),
            diff3d=self.diff3d[idx],
            scan_index=_take(self.scan_index, idx),
            Y=_take(self.Y, idx),
            ground_truth_patches=_take(self.ground_truth_patches, idx),
            sample_indices=idx.copy() if previous is None else previous[idx],
        )

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The NPZ-contract arrays (schema read by upstream and the ptychodus client)."""
        assert self.xcoords_start is not None and self.ycoords_start is not None
        assert self.scan_index is not None
        arrays: dict[str, np.ndarray] = {
            "xcoords": self.xcoords,
            "ycoords": self.ycoords,
            "xcoords_start": self.xcoords_start,
            "ycoords_start": self.ycoords_start,
            "diff3d": self.diff3d,
            "probeGuess": self.probeGuess,
            "scan_index": self.scan_index,
        }
        for key in ("objectGuess", "Y", "ground_truth_patches"):
            value = getattr(self, key)
            if value is not None:
                arrays[key] = value
        if self.metadata is not None:
            arrays[METADATA_KEY] = np.array(json.dumps(self.metadata, default=_json_default))
        return arrays


def _take(a: np.ndarray | None, idx: np.ndarray) -> np.ndarray | None:
    return None if a is None else a[idx]


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"metadata value {value!r} is not JSON serialisable")


# ---------------------------------------------------------------------- metadata
def _parse_metadata(value: Any, source: str | None) -> dict[str, Any] | None:
    if value is None:
        return None
    where = f"{source}: " if source else ""
    if isinstance(value, Mapping):
        return dict(value)
    text: str | None = None
    if isinstance(value, str):
        text = value
    elif isinstance(value, bytes):
        text = value.decode("utf-8", errors="replace")
    elif isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "US":
        item = value.item()
        text = item.decode("utf-8", errors="replace") if isinstance(item, bytes) else str(item)
    if text is None:
        shape = getattr(value, "shape", None)
        dtype = getattr(value, "dtype", type(value).__name__)
        warnings.warn(
            f"{where}'_metadata' ignored: expected a 0-d string array of JSON text, got "
            f"shape {shape} dtype {dtype}",
            UserWarning,
            stacklevel=4,
        )
        return None
    try:
        parsed = parse_json(text, source or "<memory>", NpzFileError, key=METADATA_KEY)
    except NpzFileError as exc:
        warnings.warn(f"{where}'_metadata' ignored: {exc.problem}", UserWarning, stacklevel=4)
        return None
    if not isinstance(parsed, dict):
        warnings.warn(
            f"{where}'_metadata' ignored: JSON top level is {type(parsed).__name__}, not an object",
            UserWarning,
            stacklevel=4,
        )
        return None
    return parsed


def _metadata_nphotons(metadata: Mapping[str, Any] | None, source: str | None) -> float | None:
    if not metadata:
        return None
    value: Any = None
    origin = ""
    if "nphotons" in metadata:
        value, origin = metadata["nphotons"], "nphotons"
    else:
        phys = metadata.get("physics_parameters")
        if isinstance(phys, Mapping) and "nphotons" in phys:
            value, origin = phys["nphotons"], "physics_parameters.nphotons"
    if origin == "":
        return None
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok or not math.isfinite(float(value)) or float(value) <= 0:
        raise ValueError(
            f"{_prefix(source)}'_metadata' {origin}={value!r} is not allowed; it must be a "
            "positive finite number (it overrides the configured nphotons)"
        )
    return float(value)


# ---------------------------------------------------------------------- validation
def _check_real_numeric(a: np.ndarray, name: str, p: str) -> None:
    if a.dtype.kind not in "iuf":
        raise ValueError(f"{p}{name!r} must be a real numeric array; got {_describe(a)}")


def _check_finite(a: np.ndarray | None, name: str, p: str) -> None:
    if a is None or a.size == 0:
        return
    finite = np.isfinite(a)
    if not finite.all():
        raise ValueError(
            f"{p}{name!r} ({_describe(a)}) contains {int(a.size - finite.sum())} non-finite "
            "value(s) (NaN or inf)"
        )


def _as_complex64(a: np.ndarray, name: str, p: str) -> np.ndarray:
    if a.dtype.kind not in "iufc":
        raise ValueError(f"{p}{name!r} must be numeric (complex or real); got {_describe(a)}")
    return np.ascontiguousarray(a, dtype=np.complex64)


def _validate(raw: RawData) -> None:
    p = _prefix(raw.source)
    dkey = raw.diffraction_key
    # Row 1: required arrays.
    missing = [
        name
        for name in ("diff3d", "xcoords", "ycoords", "probeGuess")
        if getattr(raw, name) is None
    ]
    if missing:
        raise KeyError(f"{p}missing required key(s) {', '.join(map(repr, missing))}")
    diff = np.asarray(raw.diff3d)
    # Row 2: diffraction dtype.
    kind = diff.dtype.kind
    if kind in "iu":
        raise ValueError(
            f"{p}diffraction {dkey!r} has integer dtype {diff.dtype} (raw counts?); it must "
            "hold amplitudes sqrt(intensity) as floats: convert with "
            "numpy.sqrt(counts.astype(numpy.float64)).astype(numpy.float32)"
        )
    if kind == "c":
        raise ValueError(
            f"{p}diffraction {dkey!r} has complex dtype {diff.dtype}; it must hold real "
            "amplitudes sqrt(intensity) (float32), e.g. numpy.abs(field)"
        )
    if kind != "f":
        raise ValueError(
            f"{p}diffraction {dkey!r} must be float32 (or float64) amplitudes; got "
            f"{_describe(diff)}"
        )
    # Rows 3-4: coordinates.
    coords = {"xcoords": np.asarray(raw.xcoords), "ycoords": np.asarray(raw.ycoords)}
    for name in ("xcoords_start", "ycoords_start"):
        value = getattr(raw, name)
        if value is not None:
            coords[name] = np.asarray(value)
    if len({c.shape for c in coords.values()}) > 1:
        shapes = ", ".join(f"{k} {tuple(v.shape)}" for k, v in coords.items())
        raise ValueError(f"{p}coordinate arrays must have matching shapes; got {shapes}")
    for name, value in coords.items():
        if value.ndim != 1:
            raise ValueError(
                f"{p}coordinate array {name!r} must be 1-D (M,); got shape {value.shape}"
            )
    for name, value in coords.items():
        _check_real_numeric(value, name, p)
    # Row 5: diffraction layout and shape.
    if diff.ndim == 3 and diff.shape[0] == diff.shape[1] != diff.shape[2]:
        warnings.warn(
            f"{p}diffraction {dkey!r} has legacy layout (N, N, M) = {diff.shape}; transposing "
            f"to (M, N, N) = {(diff.shape[2], diff.shape[0], diff.shape[1])}",
            UserWarning,
            stacklevel=4,
        )
        diff = np.transpose(diff, (2, 0, 1))
    if diff.ndim != 3:
        raise ValueError(f"{p}diffraction {dkey!r} must be 3-D (M, N, N); got shape {diff.shape}")
    if diff.shape[1] != diff.shape[2]:
        raise ValueError(
            f"{p}diffraction {dkey!r} patterns must be square (M, N, N); got shape {diff.shape}"
        )
    # Row 6: patterns versus positions.
    M = diff.shape[0]
    n_pos = coords["xcoords"].shape[0]
    if n_pos != M:
        raise ValueError(
            f"{p}number of patterns in {dkey!r} ({M}, shape {diff.shape}) does not match the "
            f"number of positions in 'xcoords' ({n_pos})"
        )
    N = diff.shape[1]
    # Row 7: probe.
    probe = np.asarray(raw.probeGuess)
    if probe.ndim != 2 or probe.shape != (N, N):
        raise ValueError(
            f"{p}'probeGuess' must be 2-D with the diffraction side (N, N) = {(N, N)}; got "
            f"shape {probe.shape}"
        )
    probe = _as_complex64(probe, "probeGuess", p)
    # Row 8: object.
    obj = None
    if raw.objectGuess is not None:
        obj = np.asarray(raw.objectGuess)
        if obj.ndim != 2:
            raise ValueError(f"{p}'objectGuess' must be 2-D (H, W); got shape {obj.shape}")
        obj = _as_complex64(obj, "objectGuess", p)
    # Checks beyond the table.
    if M == 0 or N == 0:
        raise ValueError(f"{p}diffraction {dkey!r} holds no patterns (shape {diff.shape})")
    scan_index = raw.scan_index
    if scan_index is None:
        scan_index = np.zeros(M, dtype=np.int64)
    else:
        scan_index = np.asarray(scan_index)
        if scan_index.shape != (M,):
            raise ValueError(
                f"{p}'scan_index' must have shape (M,) = ({M},); got {scan_index.shape}"
            )
        _check_real_numeric(scan_index, "scan_index", p)
        if scan_index.dtype.kind == "f" and not np.array_equal(scan_index, np.round(scan_index)):
            raise ValueError(f"{p}'scan_index' must hold integers; got {_describe(scan_index)}")
        scan_index = scan_index.astype(np.int64)
    Y = raw.Y
    if Y is not None:
        Y = np.asarray(Y)
        if Y.ndim == 4 and Y.shape[-1] == 1:
            Y = Y[..., 0]
        if Y.ndim != 3:
            raise ValueError(
                f"{p}'Y' must be 3-D (M, N, N) (a trailing channel of 1 is squeezed); got shape {Y.shape}"
            )
        if Y.shape[0] != M:
            warnings.warn(
                f"{p}'Y' ignored: its first axis ({Y.shape[0]}) differs from the number of "
                f"patterns ({M})",
                UserWarning,
                stacklevel=4,
            )
            Y = None
        elif Y.shape[1:] != (N, N):
            raise ValueError(f"{p}'Y' patches must be (N, N) = {(N, N)}; got shape {Y.shape}")
        else:
            Y = _as_complex64(Y, "Y", p)
    gtp = raw.ground_truth_patches
    if gtp is not None:
        gtp = np.asarray(gtp)
        if gtp.dtype.kind not in "iufc" or gtp.shape not in ((M, N, N, 1), (M, N, N)):
            warnings.warn(
                f"{p}'ground_truth_patches' ignored: expected (M, N, N, 1) complex, got "
                f"{_describe(gtp)}",
                UserWarning,
                stacklevel=4,
            )
            gtp = None
        else:
            gtp = np.ascontiguousarray(gtp.reshape(M, N, N, 1), dtype=np.complex64)
    for name, value in coords.items():
        _check_finite(value, name, p)
    _check_finite(diff, dkey, p)
    _check_finite(probe, "probeGuess", p)
    _check_finite(obj, "objectGuess", p)
    _check_finite(Y, "Y", p)
    if raw.metadata is not None and not isinstance(raw.metadata, dict):
        raise ValueError(f"{p}metadata must be a dict; got {type(raw.metadata).__name__}")
    _metadata_nphotons(raw.metadata, raw.source)

    # Normalised dtypes.
    raw.diff3d = np.ascontiguousarray(
        diff, dtype=np.float64 if diff.dtype.itemsize >= 8 else np.float32
    )
    raw.xcoords = np.ascontiguousarray(coords["xcoords"], dtype=np.float64)
    raw.ycoords = np.ascontiguousarray(coords["ycoords"], dtype=np.float64)
    raw.xcoords_start = np.ascontiguousarray(
        coords.get("xcoords_start", raw.xcoords), dtype=np.float64
    )
    raw.ycoords_start = np.ascontiguousarray(
        coords.get("ycoords_start", raw.ycoords), dtype=np.float64
    )
    raw.probeGuess = probe
    raw.objectGuess = obj
    raw.scan_index = scan_index
    raw.Y = Y
    raw.ground_truth_patches = gtp
    if raw.sample_indices is not None:
        raw.sample_indices = np.asarray(raw.sample_indices, dtype=np.int64)
    check_scan(raw.diff3d, probe, raw.xcoords, raw.ycoords, obj, key=dkey, prefix=p)
    _warn_if_counts(raw.diff3d, dkey, p)


def _warn_if_counts(diff: np.ndarray, key: str, p: str) -> None:
    """Integer-valued float patterns suggest intensities (persistence.md 4.4 MAY warn)."""
    if diff.size == 0 or float(diff.max()) < 2.0 or float(diff.min()) < 0.0:
        return
    if np.array_equal(diff, np.floor(diff)):
        warnings.warn(
            f"{p}every value of {key!r} is a non-negative integer: these look like intensities "
            "(counts), but the contract expects amplitudes sqrt(intensity); they are used as given",
            UserWarning,
            stacklevel=4,
        )


# ---------------------------------------------------------------------- I/O
def load_npz(
    path: str | os.PathLike[str],
    *,
    flip_x: bool = False,
    flip_y: bool = False,
    swap_xy: bool = False,
    coord_scale: float = 1.0,
    ground_truth_patches: bool = False,
) -> RawData:
    """Read and validate one scan (data.md section 1); never unpickles.

    Optional coordinate transforms are applied in upstream order: ``flip_x`` (negate x and
    x_start), ``flip_y``, ``swap_xy``, then scaling of all four coordinate arrays by
    ``coord_scale``. A 0-d object ``_metadata`` (pickle) is skipped with a warning. The
    informational ``ground_truth_patches`` are read only when asked for. Raises
    FileNotFoundError, KeyError (missing key) or ValueError (anything else, including a
    damaged or non-NPZ file), each naming the file.
    """
    source = str(path)
    _, _, present = read_npz(path, [])
    keys = [*ARRAY_KEYS, METADATA_KEY]
    if "diff3d" in present:
        keys.remove("diffraction")
    if not ground_truth_patches:
        keys.remove("ground_truth_patches")
    arrays, unreadable, _ = read_npz(path, keys)
    mapping: dict[str, Any] = dict(arrays)
    if METADATA_KEY in unreadable:
        warnings.warn(
            f"{source}: '_metadata' is a pickled object array and was skipped "
            "(allow_pickle=False); any nphotons it records is not applied, the configured "
            "nphotons is used",
            UserWarning,
            stacklevel=2,
        )
    for key, reason in unreadable.items():
        if key != METADATA_KEY:
            raise ValueError(reason)
    ignored = sorted(set(present) - set(ARRAY_KEYS) - {METADATA_KEY})
    if ignored:
        warnings.warn(
            f"{source}: key(s) {', '.join(map(repr, ignored))} are not part of the data "
            "contract and were not read",
            UserWarning,
            stacklevel=2,
        )
    raw = RawData.from_mapping(mapping, source=source)
    return transform_coordinates(
        raw, flip_x=flip_x, flip_y=flip_y, swap_xy=swap_xy, coord_scale=coord_scale
    )


def transform_coordinates(
    raw: RawData,
    *,
    flip_x: bool = False,
    flip_y: bool = False,
    swap_xy: bool = False,
    coord_scale: float = 1.0,
) -> RawData:
    """Apply the load-time coordinate transforms of data.md section 1 (returns a new RawData)."""
    if not (flip_x or flip_y or swap_xy or coord_scale != 1.0):
        return raw
    scale = float(coord_scale)
    if not math.isfinite(scale) or scale == 0.0:
        raise ValueError(
            f"coord_scale={coord_scale!r} is not allowed; it must be finite and non-zero"
        )
    assert raw.xcoords_start is not None and raw.ycoords_start is not None
    x, y, xs, ys = raw.xcoords, raw.ycoords, raw.xcoords_start, raw.ycoords_start
    if flip_x:
        x, xs = -x, -xs
    if flip_y:
        y, ys = -y, -ys
    if swap_xy:
        x, y, xs, ys = y, x, ys, xs
    return dataclasses.replace(
        raw,
        xcoords=x * scale,
        ycoords=y * scale,
        xcoords_start=xs * scale,
        ycoords_start=ys * scale,
    )


def save_npz(
    data: RawData | Mapping[str, Any], path: str | os.PathLike[str], *, compress: bool = False
) -> Path:
    """Write a scan in the NPZ contract, atomically (temporary file + rename).

    ``data`` is a RawData or a mapping accepted by :meth:`RawData.from_mapping` (validated
    before anything is written). Keys written: ``xcoords``, ``ycoords``, ``xcoords_start``,
    ``ycoords_start``, ``diff3d``, ``probeGuess``, ``scan_index``, and when present
    ``objectGuess``, ``Y``, ``ground_truth_patches``, ``_metadata`` (0-d unicode JSON).
    """
    raw = data if isinstance(data, RawData) else RawData.from_mapping(data, source=None)
    arrays: dict[str, Any] = dict(raw.to_arrays())  # Any: the stubs type **kwargs as bool

    def _write(handle: BinaryIO) -> None:
        if compress:
            np.savez_compressed(handle, **arrays)
        else:
            np.savez(handle, **arrays)

    return write_atomic(path, _write)
