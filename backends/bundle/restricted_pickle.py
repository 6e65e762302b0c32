"""The one pickle reader of the project: plain data only, every global emulated, never imported.

Upstream PtychoPINN bundles keep their manifest and params snapshot as dill pickles
(``manifest.dill``, ``params.dill``). :func:`load_restricted` rebuilds such a stream into dicts,
lists, tuples, strings, bytes, numbers, booleans, None, and NumPy arrays and scalars of numeric
dtypes. The stream may name only the handful of globals that upstream's files use (see
:data:`ALLOWED_GLOBALS`); each is replaced by a small local emulation that checks its arguments,
so no module named in the file is imported and no function from it is called. Any other global
(``os.system``, ``builtins.eval``, ``ptycho.model.ProbeIllumination``, dill's code rebuilders)
and an object dtype are refused with :class:`UnsafePickleError`, which names it.

Before anything is rebuilt, the opcodes are listed statically with :mod:`pickletools` (which
only parses bytes) and checked: no opcode that instantiates classes by other routes
(``INST``, ``OBJ``, ``NEWOBJ``, ``NEWOBJ_EX``), no persistent ids or extension codes, and memo
indices bounded by the stream's length. Malformed input raises :class:`PickleFormatError`.
Both error types are ValueErrors; nothing else escapes.
"""

from __future__ import annotations

import io
import pickle
import pickletools
import re
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

__all__ = [
    "ALLOWED_GLOBALS",
    "MAX_PICKLE_BYTES",
    "PickleFormatError",
    "UnsafePickleError",
    "load_restricted",
]

MAX_PICKLE_BYTES = 256 * 1024**2
"""Largest stream accepted (upstream's params snapshot is about 34 KB)."""

_REFUSED_OPCODES = frozenset(
    {"INST", "OBJ", "NEWOBJ", "NEWOBJ_EX", "PERSID", "BINPERSID", "EXT1", "EXT2", "EXT4"}
)
_MEMO_OPCODES = frozenset({"GET", "BINGET", "LONG_BINGET", "PUT", "BINPUT", "LONG_BINPUT"})
_DTYPE_CODE = re.compile(r"^[<>=|]?(?:[biuf][1248]|f16|c(?:8|16|32)|\?)$")


class PickleFormatError(ValueError):
    """The stream is not a well-formed pickle of plain data."""


class UnsafePickleError(ValueError):
    """The stream names a global (or a dtype) outside the allowlist; nothing was run."""


# --------------------------------------------------------------------------- emulations


class _Marker:
    """Stands for a global that may appear only as an argument (never called)."""

    __slots__ = ("qualname",)

    def __init__(self, qualname: str) -> None:
        self.qualname = qualname

    def __call__(self, *args: Any) -> Any:
        raise PickleFormatError(
            f"{self.qualname} is accepted only as an argument of dill._dill._create_array"
        )


_NDARRAY = _Marker("numpy.ndarray")
_RECONSTRUCT = _Marker("numpy._core.multiarray._reconstruct")


class _DType:
    """An emulated ``numpy.dtype(code, align, copy)``: numeric codes only."""

    __slots__ = ("dtype",)

    def __init__(self, code: Any, align: Any = False, copy: Any = False, *rest: Any) -> None:
        if rest or not isinstance(code, str) or not _DTYPE_CODE.match(code):
            raise UnsafePickleError(
                f"dtype {code!r} is refused: only numeric dtypes (bool, int, uint, float, "
                "complex) may be rebuilt; object and structured dtypes could carry code"
            )
        self.dtype = np.dtype(code)

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, tuple) or not state or not isinstance(state[0], int):
            raise PickleFormatError(f"malformed dtype state {state!r}")
        if len(state) > 1 and state[1] in ("<", ">"):
            self.dtype = self.dtype.newbyteorder(state[1])


def _numeric(dtype: Any) -> np.dtype:
    if not isinstance(dtype, _DType):
        raise PickleFormatError(f"expected an emulated numpy.dtype, got {type(dtype).__name__}")
    return dtype.dtype


def _from_bytes(data: Any, dtype: np.dtype, shape: tuple[int, ...], fortran: bool) -> np.ndarray:
    if not isinstance(data, (bytes, bytearray)):
        raise PickleFormatError(f"array data must be bytes, got {type(data).__name__}")
    if not all(isinstance(n, int) and n >= 0 for n in shape):
        raise PickleFormatError(f"array shape {shape!r} is not a tuple of sizes")
    count = 1
    for n in shape:
        count *= n
    if count * dtype.itemsize != len(data):
        raise PickleFormatError(
            f"array of shape {shape} and dtype {dtype} needs {count * dtype.itemsize} bytes, "
            f"the stream holds {len(data)}"
        )
    flat = np.frombuffer(bytes(data), dtype=dtype)
    return flat.reshape(shape, order="F" if fortran else "C").astype(dtype.newbyteorder("="))


def _create_array(f: Any, args: Any, state: Any, npdict: Any = None, *rest: Any) -> np.ndarray:
    """dill's ndarray rebuilder, for plain numeric arrays only."""
    if rest or f is not _RECONSTRUCT:
        raise PickleFormatError("dill._dill._create_array must rebuild with _reconstruct")
    if not (isinstance(args, tuple) and len(args) == 3 and args[0] is _NDARRAY):
        raise PickleFormatError("dill._dill._create_array must rebuild a numpy.ndarray")
    if npdict not in (None, {}):
        raise PickleFormatError("arrays with instance attributes are not accepted")
    if not (isinstance(state, tuple) and len(state) == 5 and isinstance(state[1], tuple)):
        raise PickleFormatError(f"malformed array state of {len(state)} items")
    _version, shape, dtype, fortran, data = state
    return _from_bytes(data, _numeric(dtype), shape, bool(fortran))


def _scalar(dtype: Any, data: Any = None, *rest: Any) -> Any:
    """``numpy._core.multiarray.scalar(dtype, raw bytes)`` for numeric dtypes."""
    if rest:
        raise PickleFormatError("numpy scalar takes a dtype and its bytes")
    return _from_bytes(data, _numeric(dtype), (1,), False)[0]


def _convert_to_tensor(value: Any, *rest: Any) -> Any:
    """A pickled TensorFlow eager tensor is its NumPy array."""
    if rest or not isinstance(value, np.ndarray):
        raise PickleFormatError("convert_to_tensor must wrap exactly one numeric array")
    return value


ALLOWED_GLOBALS: dict[tuple[str, str], Callable[..., Any] | _Marker | type] = {
    ("tensorflow.python.framework.ops", "convert_to_tensor"): _convert_to_tensor,
    ("dill._dill", "_create_array"): _create_array,
    ("numpy", "ndarray"): _NDARRAY,
    ("numpy", "dtype"): _DType,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "scalar"): _scalar,
    ("numpy.core.multiarray", "scalar"): _scalar,
}
"""(module, name) -> the local emulation used instead of importing it."""


# --------------------------------------------------------------------------- reading


class _Unpickler(pickle._Unpickler):  # the Python implementation, so BUILD can be narrowed
    dispatch: ClassVar[dict[int, Callable[..., Any]]] = dict(pickle._Unpickler.dispatch)

    stack: list[Any]  # the unpickler's value stack

    def __init__(self, data: bytes, source: str) -> None:
        super().__init__(io.BytesIO(data))
        self.source = source

    def load_build(self) -> None:
        """BUILD sets state on an emulated dtype only (never on arrays or other objects)."""
        state = self.stack.pop()
        target = self.stack[-1]
        if not isinstance(target, _DType):
            raise PickleFormatError(
                f"BUILD may only set the state of a numpy.dtype, not of a {type(target).__name__}"
            )
        target.__setstate__(state)

    dispatch[pickle.BUILD[0]] = load_build

    def find_class(self, module: str, name: str) -> Any:
        found = ALLOWED_GLOBALS.get((module, name))
        if found is None:
            raise UnsafePickleError(
                f"{self.source}: refused the global {module}.{name}; only plain data (dicts, "
                "lists, numbers, strings, numeric NumPy arrays) is read from a pickle, and "
                "nothing named in the file is imported or run"
            )
        return found

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError(f"{self.source}: persistent ids are refused")


def _prescan(data: bytes, source: str) -> None:
    """Static checks of the opcode stream; nothing is constructed."""
    ops = 0
    try:
        for opcode, arg, _pos in pickletools.genops(data):
            ops += 1
            if opcode.name in _REFUSED_OPCODES:
                raise UnsafePickleError(
                    f"{source}: refused the pickle opcode {opcode.name}; it can build objects "
                    "other than plain data"
                )
            if opcode.name in _MEMO_OPCODES and isinstance(arg, int) and arg > len(data):
                raise PickleFormatError(f"{source}: memo index {arg} is out of range")
            if opcode.name == "FRAME" and isinstance(arg, int) and arg > len(data):
                raise PickleFormatError(f"{source}: frame of {arg} bytes exceeds the stream")
    except (UnsafePickleError, PickleFormatError):
        raise
    except Exception as exc:  # pickletools reports malformed streams with several types
        raise PickleFormatError(f"{source}: not a valid pickle stream ({exc})") from None
    if ops == 0:
        raise PickleFormatError(f"{source}: empty pickle stream")


def _check_plain(
    value: Any, source: str, depth: int = 0, done: dict[int, Any] | None = None
) -> Any:
    """The rebuilt value, with emulated dtypes turned into numpy dtypes; refuses anything else.

    Containers shared through the memo are converted once (``done``), so a stream of
    references to references stays linear; cycles end at the depth limit.
    """
    if depth > 200:
        raise PickleFormatError(f"{source}: nesting deeper than 200 levels")
    if value is None or isinstance(value, (bool, int, float, complex, str, bytes)):
        return value
    if isinstance(value, (np.ndarray, np.generic)):
        return value
    if isinstance(value, _DType):
        return value.dtype
    if not isinstance(value, (list, tuple, dict)):
        raise PickleFormatError(f"{source}: the stream rebuilt a {type(value).__name__}")
    done = {} if done is None else done
    if id(value) in done:
        return done[id(value)]
    items: Any
    if isinstance(value, dict):
        items = {
            _check_plain(k, source, depth + 1, done): _check_plain(v, source, depth + 1, done)
            for k, v in value.items()
        }
    else:
        items = [_check_plain(v, source, depth + 1, done) for v in value]
        items = tuple(items) if isinstance(value, tuple) else items
    done[id(value)] = items
    return items


def load_restricted(data: bytes, source: str = "pickle") -> Any:
    """Rebuild the plain data in a pickle stream (see the module docstring).

    ``source`` names the file in error messages. Raises :class:`UnsafePickleError` for a
    refused global, dtype or opcode and :class:`PickleFormatError` for anything malformed.
    """
    if not isinstance(data, (bytes, bytearray)):
        raise PickleFormatError(f"{source}: expected bytes, got {type(data).__name__}")
    if len(data) > MAX_PICKLE_BYTES:
        raise PickleFormatError(
            f"{source}: {len(data)} bytes exceeds the limit of {MAX_PICKLE_BYTES} bytes"
        )
    data = bytes(data)
    _prescan(data, source)
    try:
        value = _Unpickler(data, source).load()
    except (UnsafePickleError, PickleFormatError) as exc:
        if str(exc).startswith(source):
            raise
        raise type(exc)(f"{source}: {exc}") from None
    except RecursionError:
        raise PickleFormatError(f"{source}: nesting too deep") from None
    except Exception as exc:  # the C unpickler reports malformed input with many types
        raise PickleFormatError(
            f"{source}: not a valid pickle of plain data ({type(exc).__name__}: {exc})"
        ) from None
    return _check_plain(value, source)
