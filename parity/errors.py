"""Errors the command line reports as usage or input errors (exit code 2)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


class InputError(Exception):
    """Bad user input: a missing file, a malformed scenario, an unknown name.

    The message names the file, key or field and says how to fix it.
    """


def read_structured(path: Path, what: str) -> Any:
    """A TOML or JSON file (by suffix) through the bounded readers of :mod:`backends.safeio`;
    a missing file or a malformed one is an :class:`InputError` naming ``what`` it should be."""
    from backends.safeio import ConfigFileError, read_json_file, read_toml_file

    try:
        if path.suffix == ".json":
            return read_json_file(path, ConfigFileError)
        return read_toml_file(path, ConfigFileError)
    except FileNotFoundError:
        raise InputError(f"{what} {path} does not exist") from None
    except ConfigFileError as exc:
        raise InputError(f"{what}: {exc}") from exc
