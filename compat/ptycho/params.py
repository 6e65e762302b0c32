"""Upstream's process-wide legacy parameters: ``cfg``, ``get``, ``set``, ``params``.

``cfg`` is the project's legacy params object (:data:`backends.config.legacy.params`), so what
a client writes here is what the project's backends read. Framework-free.
"""

from __future__ import annotations

from typing import Any

from backends.config.legacy import params as cfg

__all__ = ["cfg", "get", "params", "set"]


def get(key: str) -> Any:
    """The value of ``key``; a missing key raises KeyError (``'bigN'`` is computed)."""
    return cfg.get(key)


def set(key: str, value: Any) -> None:
    """Assign ``key`` and check the legacy invariants."""
    cfg.set(key, value)


def params() -> dict[str, Any]:
    """A copy of every key and value."""
    return dict(cfg)
