"""Weight payloads (safetensors, PyTorch state dicts) checked and their readers' errors wrapped.

safetensors stores an 8-byte little-endian header length, a JSON header and raw tensor bytes;
:func:`check_safetensors` bounds the header, parses it with the bounded JSON reader and checks
every tensor's dtype, shape and byte range against the data before the library sees it.
:func:`reading_weights` turns whatever a framework's reader raises (``SafetensorError``, torch's
``UnpicklingError`` with its own advice, ``RuntimeError``) into one
:class:`~backends.safeio.WeightsFileError`, keeping the original as the cause.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

from backends.safeio.errors import UnsafeInputError, WeightsFileError
from backends.safeio.structured import expect, parse_json

MAX_SAFETENSORS_HEADER = 100 * 1024**2
_ITEMSIZE = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "I16": 2, "U16": 2, "F16": 2,
    "BF16": 2, "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8, "C64": 8,
}  # fmt: skip


def check_safetensors(data: bytes, name: str) -> bytes:
    """``data`` when it is a well-formed safetensors file; :class:`WeightsFileError` if not."""

    def bad(problem: str, key: str = "") -> WeightsFileError:
        return WeightsFileError(
            name, problem, key=key, fix="the payload is damaged; save the model again"
        )

    if len(data) < 8:
        raise bad("is shorter than the 8-byte safetensors header length")
    size = int.from_bytes(data[:8], "little")
    if size > MAX_SAFETENSORS_HEADER or 8 + size > len(data):
        raise bad(f"announces a {size}-byte header in a {len(data)}-byte file")
    header = expect(
        parse_json(
            data[8 : 8 + size],
            name,
            WeightsFileError,
            key="header",
            max_bytes=MAX_SAFETENSORS_HEADER,
        ),
        dict,
        name,
        WeightsFileError,
        "header",
    )
    body = len(data) - 8 - size
    for key, entry in header.items():
        if key == "__metadata__":
            continue
        expect(entry, dict, name, WeightsFileError, key)
        dtype = expect(entry.get("dtype"), str, name, WeightsFileError, f"{key}.dtype")
        shape = expect(entry.get("shape"), list, name, WeightsFileError, f"{key}.shape")
        offsets = expect(
            entry.get("data_offsets"), list, name, WeightsFileError, f"{key}.data_offsets"
        )
        if dtype not in _ITEMSIZE:
            raise bad(f"has unknown dtype {dtype!r}", key)
        if not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
            raise bad(f"has a malformed shape {shape!r}", key)
        if len(offsets) != 2 or not all(
            isinstance(o, int) and not isinstance(o, bool) for o in offsets
        ):
            raise bad(f"has malformed data_offsets {offsets!r}", key)
        begin, end = offsets
        if not 0 <= begin <= end <= body or end - begin != math.prod(shape) * _ITEMSIZE[dtype]:
            raise bad(
                f"data_offsets {offsets!r} do not fit shape {shape} {dtype} in {body} bytes", key
            )
    return data


@contextlib.contextmanager
def reading_weights(name: str, what: str) -> Iterator[None]:
    """Run a framework's weight reader; any error it raises becomes a :class:`WeightsFileError`."""
    try:
        yield
    except UnsafeInputError:
        raise
    except Exception as exc:  # the readers' error types vary by framework and version
        raise WeightsFileError(
            name,
            f"cannot be read as {what} ({type(exc).__name__})",
            fix="the payload is damaged or not a plain tensor file; save the model again",
        ) from exc
