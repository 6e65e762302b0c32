"""The one hook through which kernels are replaced: public functions of named kernel modules."""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

KernelPatch = tuple[str, str, Callable[[Any], Any]]
"""``(kernel module, public function, factory)``: the factory receives the original function and
returns its replacement."""


@contextlib.contextmanager
def kernels_replaced(modules: Mapping[str, str], patches: Sequence[KernelPatch]) -> Iterator[None]:
    """Replace ``modules[kernel].function`` by ``factory(original)`` for each patch, restoring
    every original on exit. ``modules`` maps the backend's kernel module names to import paths;
    only public callables of those modules can be replaced."""
    resolved: list[tuple[Any, str, Any]] = []
    for kernel, function, _factory in patches:
        if kernel not in modules:
            raise ValueError(
                f"kernel module {kernel!r} is unknown; choose one of: {', '.join(modules)}"
            )
        module = importlib.import_module(modules[kernel])
        original = getattr(module, function, None)
        if function.startswith("_") or not callable(original):
            raise ValueError(f"{kernel}.{function} is not a public function of {modules[kernel]}")
        resolved.append((module, function, original))
    saved: list[tuple[Any, str, Any]] = []
    try:
        for (module, function, original), (_k, _f, factory) in zip(resolved, patches):
            setattr(module, function, factory(original))
            saved.append((module, function, original))
        yield
    finally:
        for module, function, original in reversed(saved):
            setattr(module, function, original)
