"""One ``.npy`` array read without pickle and without trusting its header.

``numpy.load`` allocates what a header announces before reading, so a forged shape of 10^15
elements reaches the allocator; object arrays need pickle. Here the header is parsed with a
size bound, an object dtype is refused, and the announced bytes must be present before
anything is allocated. Each problem raises the caller's error type naming the key.
"""

from __future__ import annotations

import math
import os
import zipfile
import zlib
from typing import IO

import numpy as np
from numpy.lib import format as npformat

from backends.safeio.errors import UnsafeInputError

MAX_HEADER = 10_000


def _header(handle: IO[bytes]) -> tuple[tuple[int, ...], bool, np.dtype]:
    version = npformat.read_magic(handle)
    if version == (1, 0):
        return npformat.read_array_header_1_0(handle, max_header_size=MAX_HEADER)
    if version in ((2, 0), (3, 0)):
        return npformat.read_array_header_2_0(handle, max_header_size=MAX_HEADER)
    raise ValueError(f"unsupported .npy format version {version}")


def read_npy(
    handle: IO[bytes],
    size: int,
    where: str | os.PathLike[str],
    error: type[UnsafeInputError],
    *,
    key: str,
    pickled: type[UnsafeInputError] | None = None,
) -> np.ndarray:
    """The array in ``handle`` (a ``.npy`` of ``size`` bytes in all).

    An object array raises ``pickled`` (default ``error``); anything else wrong, ``error``
    with NumPy's exception as the cause.
    """
    try:
        shape, fortran, dtype = _header(handle)
    except (zipfile.BadZipFile, zlib.error, OSError):
        raise  # damage of the container, not of the header: the caller names it
    except Exception as exc:  # numpy's header parser raises many types (tokenize errors too)
        raise error(
            where,
            f"key {key!r} has a damaged .npy header ({exc})",
            key=key,
            fix="write the file again",
        ) from exc
    if dtype.hasobject:
        raise (pickled or error)(
            where,
            f"key {key!r} is an object array that needs pickle to load; it is never loaded "
            "(allow_pickle=False)",
            key=key,
            fix="store it as a numeric or string array",
        )
    if any(int(s) < 0 for s in shape):
        raise error(
            where,
            f"key {key!r} has a negative dimension in shape {shape}",
            key=key,
            fix="write the file again",
        )
    nbytes = math.prod(int(s) for s in shape) * dtype.itemsize
    available = size - handle.tell()
    if nbytes > available:
        raise error(
            where,
            f"key {key!r}: the header announces {nbytes} bytes for shape {shape} {dtype} but only {available} are stored",
            key=key,
            fix="the file is truncated or forged; write it again",
        )
    data = handle.read(nbytes)
    if len(data) != nbytes:
        raise error(
            where,
            f"key {key!r}: expected {nbytes} bytes of array data, got {len(data)}",
            key=key,
            fix="the file is truncated; write it again",
        )
    array = np.frombuffer(bytearray(data), dtype=dtype)
    if dtype.byteorder not in ("=", "|"):
        array = array.astype(dtype.newbyteorder("="))
    return array.reshape(shape, order="F" if fortran else "C")
