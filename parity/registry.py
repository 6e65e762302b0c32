"""Resolving backend names, oracles and dataset factories without importing a framework early.

A backend is named ``tensorflow`` or ``pytorch`` (:func:`backends.get`) or, for tests and
experiments, ``package.module:factory`` where ``factory()`` returns an object implementing
:class:`backends.base.Backend`.
"""

from __future__ import annotations

import importlib
from typing import Any

from backends.core.vocabulary import BACKEND_NAMES
from parity.errors import InputError

DEFAULT_BACKENDS = BACKEND_NAMES
DEFAULT_ORACLE = "backends.physics"


def _import_attr(spec: str, what: str) -> Any:
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise InputError(f"{what} {spec!r} must be 'package.module:name'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise InputError(f"{what} {spec!r}: cannot import {module_name} ({exc})") from None
    try:
        return getattr(module, attr)
    except AttributeError:
        raise InputError(f"{what} {spec!r}: {module_name} has no attribute {attr!r}") from None


def get_backend(spec: str) -> Any:
    """The backend named ``spec`` (imports its framework)."""
    if ":" in spec:
        return _import_attr(spec, "backend")()
    import backends

    return backends.get(spec)


def parse_backends(text: str | None) -> list[str]:
    """``"tensorflow,pytorch"`` -> ``["tensorflow", "pytorch"]`` (the first is the reference)."""
    if not text:
        return list(DEFAULT_BACKENDS)
    names = [t.strip() for t in text.split(",") if t.strip()]
    if not 1 <= len(names) <= 2:
        raise InputError(f"--backends takes one or two names (reference first), got {text!r}")
    if len(set(names)) != len(names):
        raise InputError(f"--backends names a backend twice: {text!r}")
    from backends import BACKEND_NAMES

    for n in names:
        if ":" not in n and n not in BACKEND_NAMES:
            raise InputError(
                f"unknown backend {n!r}; choose from {', '.join(BACKEND_NAMES)} "
                "(or package.module:factory)"
            )
    return names


def get_oracle(spec: str | None = None) -> Any:
    """The oracle module (default :mod:`backends.physics`): one function per op name."""
    spec = spec or DEFAULT_ORACLE
    if ":" in spec:
        return _import_attr(spec, "oracle")
    try:
        return importlib.import_module(spec)
    except ImportError as exc:
        raise InputError(f"oracle module {spec!r} cannot be imported ({exc})") from None
