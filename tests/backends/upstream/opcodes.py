"""Hand-assembled pickle streams for the restricted reader's tests (no pickler involved)."""

from __future__ import annotations

import os
import struct
from pathlib import Path

PROTO4 = b"\x80\x04"
STOP = b"."
MARK = b"("
TUPLE1 = b"\x85"
TUPLE3 = b"\x87"
TUPLE = b"t"
REDUCE = b"R"
BUILD = b"b"
EMPTY_DICT = b"}"
EMPTY_LIST = b"]"
SETITEM = b"s"
NEWTRUE = b"\x88"
NEWFALSE = b"\x89"
NONE = b"N"

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "upstream"
SHARED = Path(
    os.environ.get(
        "UPSTREAM_FIXTURES",
        Path(__file__).resolve().parents[3].parent / "shared" / "fixtures" / "upstream",
    )
)
"""The full upstream bundles: ``../shared/fixtures/upstream`` beside the repository, or
``$UPSTREAM_FIXTURES``."""


def text(s: str) -> bytes:
    """SHORT_BINUNICODE, or BINUNICODE for long strings."""
    data = s.encode()
    if len(data) < 256:
        return b"\x8c" + bytes([len(data)]) + data
    return b"X" + struct.pack("<I", len(data)) + data


def blob(data: bytes) -> bytes:
    """SHORT_BINBYTES or BINBYTES."""
    if len(data) < 256:
        return b"C" + bytes([len(data)]) + data
    return b"B" + struct.pack("<I", len(data)) + data


def global_(module: str, name: str) -> bytes:
    """STACK_GLOBAL of ``module.name``."""
    return text(module) + text(name) + b"\x93"


def call(module: str, name: str, *args: bytes) -> bytes:
    """``module.name(*args)`` as STACK_GLOBAL, MARK, args, TUPLE, REDUCE."""
    return global_(module, name) + MARK + b"".join(args) + TUPLE + REDUCE


def stream(body: bytes) -> bytes:
    return PROTO4 + body + STOP


def dtype(code: str) -> bytes:
    """``numpy.dtype(code, False, True)`` followed by BUILD with numpy's dtype state."""
    order = code[0] if code[:1] in ("<", ">", "|") else "<"
    state = MARK + b"K\x03" + text(order) + NONE * 3 + b"J\xff\xff\xff\xff" * 2 + b"K\x00" + TUPLE
    return call("numpy", "dtype", text(code), NEWFALSE, NEWTRUE) + state + BUILD


def dill_array(code: str, shape: tuple[int, ...], data: bytes) -> bytes:
    """dill's ``_create_array(_reconstruct, (ndarray, (0,), b'b'), state, None)``."""
    reconstruct = global_("numpy._core.multiarray", "_reconstruct")
    args = MARK + global_("numpy", "ndarray") + b"K\x00" + TUPLE1 + blob(b"b") + TUPLE
    shape_t = MARK + b"".join(b"K" + bytes([n]) for n in shape) + TUPLE
    state = MARK + b"K\x01" + shape_t + dtype(code) + NEWFALSE + blob(data) + TUPLE
    return (
        global_("dill._dill", "_create_array")
        + MARK
        + reconstruct
        + args
        + state
        + NONE
        + TUPLE
        + REDUCE
    )


def plain(value: object) -> bytes:
    """Opcodes that rebuild a plain value (None, bool, int, float, str, list, dict)."""
    if value is None:
        return NONE
    if value is True:
        return NEWTRUE
    if value is False:
        return NEWFALSE
    if isinstance(value, int):
        return b"J" + struct.pack("<i", value)
    if isinstance(value, float):
        return b"G" + struct.pack(">d", value)
    if isinstance(value, str):
        return text(value)
    if isinstance(value, list):
        return EMPTY_LIST + b"".join(plain(v) + b"a" for v in value)
    if isinstance(value, dict):
        return EMPTY_DICT + b"".join(plain(k) + plain(v) + SETITEM for k, v in value.items())
    raise TypeError(f"no opcodes for {type(value).__name__}")
