"""Encoding of the legacy params snapshot as ``params.json`` plus ``arrays/*.npy``.

Rules of docs/persistence.md section 3.3: bool, int, str and None as they are; floats finite
(NaN or inf raise ValueError naming the key); NumPy scalars become Python scalars; a Path
becomes ``str``; a tuple becomes a list; arrays and framework tensors go to pickle-free
``arrays/<key>.npy`` and are replaced by ``{"$array": path, "dtype": ..., "shape": [...]}``;
anything else raises TypeError naming the key. ``bigN`` and ``_version`` are never written.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import re
from collections.abc import Mapping
from pathlib import PurePath
from typing import Any

import numpy as np

from backends.safeio import BundleFileError
from backends.safeio.npy import read_npy

__all__ = [
    "ARRAY_KINDS",
    "ARRAY_REF",
    "OMITTED_KEYS",
    "decode_npy",
    "decode_params",
    "dumps_json",
    "encode_npy",
    "encode_params",
    "sha256_hex",
]

ARRAY_REF = "$array"
OMITTED_KEYS = ("bigN", "_version")
ARRAY_KINDS = "biufc"  # bool, int, uint, float, complex
_SAFE_KEY = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")


def sha256_hex(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def dumps_json(obj: Any) -> bytes:
    """Deterministic UTF-8 JSON (sorted keys, two-space indent, trailing newline)."""
    return (json.dumps(obj, sort_keys=True, indent=2, allow_nan=False) + "\n").encode("utf-8")


def _as_ndarray(value: Any) -> np.ndarray | None:
    """``value`` as a NumPy array when it is an array or a framework tensor, else None."""
    if isinstance(value, np.ndarray):
        return value
    module = type(value).__module__
    if module.startswith("torch") and hasattr(value, "detach"):
        return np.asarray(value.detach().cpu().numpy())
    if (module.startswith("tensorflow") or module.startswith("keras")) and hasattr(value, "numpy"):
        return np.asarray(value.numpy())
    return None


def encode_npy(array: np.ndarray, *, name: str = "array") -> bytes:
    """A pickle-free, little-endian, C-ordered ``.npy`` of ``array``."""
    array = np.asarray(array)
    if array.dtype.kind not in ARRAY_KINDS or array.dtype.fields is not None:
        raise TypeError(
            f"{name}: arrays of dtype {array.dtype} cannot be stored; only bool, integer, "
            "float and complex arrays are allowed"
        )
    array = np.ascontiguousarray(array.astype(array.dtype.newbyteorder("<"), copy=False))
    buf = io.BytesIO()
    np.lib.format.write_array(buf, array, version=(1, 0), allow_pickle=False)
    return buf.getvalue()


def decode_npy(data: bytes, *, name: str = "array") -> np.ndarray:
    """Read a ``.npy`` from bytes without ever unpickling."""
    array = read_npy(io.BytesIO(data), len(data), name, BundleFileError, key=name)
    if not isinstance(array, np.ndarray) or array.dtype.kind not in ARRAY_KINDS:
        raise ValueError(f"{name}: unsupported array content")
    return array


def _encode_value(key: str, value: Any, where: str) -> Any:
    """Encode one non-array value; ``where`` names it in errors (key or key[index])."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        f = float(value)
        if not math.isfinite(f):
            raise ValueError(f"params key {where!r} is {f!r}; only finite floats can be saved")
        return f
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, (tuple, list)):
        return [_encode_value(key, v, f"{where}[{i}]") for i, v in enumerate(value)]
    raise TypeError(
        f"params key {where!r} has a value of type {type(value).__name__} that cannot be saved "
        "in a bundle; allowed are bool, int, finite float, str, None, Path, lists/tuples of "
        "these, and numeric arrays"
    )


def encode_params(params: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Split a legacy snapshot into JSON-ready values and arrays (key -> array).

    Array values are replaced by references to ``arrays/<key>.npy``. ``bigN`` and ``_version``
    are dropped.
    """
    out: dict[str, Any] = {}
    arrays: dict[str, np.ndarray] = {}
    for key in sorted(params):
        if not isinstance(key, str):
            raise TypeError(f"params key {key!r} is not a string")
        if key in OMITTED_KEYS:
            continue
        value = params[key]
        array = _as_ndarray(value)
        if array is not None:
            if not _SAFE_KEY.match(key):
                raise ValueError(
                    f"params key {key!r} holds an array but is not usable as a file name "
                    "(letters, digits, '_', '.', '-' only)"
                )
            encode_npy(array, name=f"params key {key!r}")  # validates the dtype
            arrays[key] = array
            out[key] = {
                ARRAY_REF: f"arrays/{key}.npy",
                "dtype": array.dtype.name,
                "shape": list(array.shape),
            }
        elif isinstance(value, np.generic) and np.iscomplexobj(value):
            raise TypeError(
                f"params key {key!r} is a complex scalar; store it as a 0-d array instead"
            )
        else:
            out[key] = _encode_value(key, value, key)
    return out, arrays


def decode_params(encoded: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """Replace array references in a decoded ``params.json`` by the arrays of ``arrays``
    (keyed by archive path). A reference whose array is missing, or whose dtype or shape
    differs from the one declared, raises ValueError naming the key."""
    out: dict[str, Any] = {}
    for key, value in encoded.items():
        if isinstance(value, dict) and ARRAY_REF in value:
            path = value[ARRAY_REF]
            if path not in arrays:
                raise ValueError(
                    f"params.json key {key!r} references {path!r}, which the bundle lacks"
                )
            array = arrays[path]
            if array.dtype.name != value.get("dtype") or list(array.shape) != list(
                value.get("shape", [])
            ):
                raise ValueError(
                    f"params.json key {key!r}: {path} holds {array.dtype.name} {list(array.shape)}, "
                    f"but the reference declares {value.get('dtype')} {value.get('shape')}"
                )
            out[key] = array
        else:
            out[key] = value
    return out
