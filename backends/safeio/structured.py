"""JSON, TOML and YAML parsed with bounds on size, nesting and YAML aliases.

Parsers recurse per nesting level, so a deeply nested document would end in
``RecursionError``; YAML aliases let a small document stand for an exponentially large one
("billion laughs"). Here the text is bounded before parsing, nesting is bounded during and
after it, YAML aliases are counted and the expanded node count is bounded before any Python
object is built, and JSON's non-standard ``NaN``/``Infinity`` literals are refused. Every
failure raises the caller's error type with the parser's exception kept as the cause.
"""

from __future__ import annotations

import json
import math
import os
import tomllib
from collections.abc import Callable
from typing import Any

from backends.safeio.errors import UnsafeInputError

MAX_TEXT_BYTES = 16 * 1024**2
MAX_DEPTH = 64
MAX_YAML_ALIASES = 64
MAX_YAML_NODES = 200_000


def _too_deep(
    where: str | os.PathLike[str],
    error: type[UnsafeInputError],
    key: str,
    exc: BaseException | None = None,
) -> UnsafeInputError:
    err = error(
        where, f"is nested more than {MAX_DEPTH} levels deep", key=key, fix="flatten the document"
    )
    if exc is not None:
        err.__cause__ = exc
    return err


def check_depth(
    value: Any,
    where: str | os.PathLike[str],
    error: type[UnsafeInputError],
    *,
    key: str = "",
    max_depth: int = MAX_DEPTH,
) -> None:
    """Raise ``error`` when containers in ``value`` nest deeper than ``max_depth`` (iterative)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list | tuple) and depth > max_depth:
            raise _too_deep(where, error, key)
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list | tuple):
            stack.extend((v, depth + 1) for v in item)


def _check_size(
    text: str | bytes,
    where: str | os.PathLike[str],
    error: type[UnsafeInputError],
    key: str,
    max_bytes: int,
) -> None:
    if len(text) > max_bytes:
        raise error(
            where,
            f"is {len(text)} bytes, more than the limit of {max_bytes}",
            key=key,
            fix="pass a smaller document",
        )


def _refuse_constant(name: str) -> float:
    raise ValueError(f"non-standard JSON constant {name}")


def parse_json(
    text: str | bytes,
    where: str | os.PathLike[str],
    error: type[UnsafeInputError],
    *,
    key: str = "",
    max_bytes: int = MAX_TEXT_BYTES,
    object_hook: Callable[[dict[str, Any]], Any] | None = None,
) -> Any:
    """Parse JSON text (bytes must be UTF-8) with bounded size and depth."""
    _check_size(text, where, error, key, max_bytes)
    try:
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        value = json.loads(text, parse_constant=_refuse_constant, object_hook=object_hook)
    except RecursionError as exc:
        raise _too_deep(where, error, key, exc) from exc
    except UnicodeDecodeError as exc:
        raise error(where, "is not UTF-8 text", key=key, fix="save it as UTF-8 JSON") from exc
    except ValueError as exc:  # JSONDecodeError, integer digit limit, NaN/Infinity
        raise error(where, f"is not valid JSON ({exc})", key=key, fix="correct the syntax") from exc
    check_depth(value, where, error, key=key)
    return value


def parse_toml(
    text: str,
    where: str | os.PathLike[str],
    error: type[UnsafeInputError],
    *,
    key: str = "",
    max_bytes: int = MAX_TEXT_BYTES,
) -> dict[str, Any]:
    """Parse TOML text with bounded size and depth."""
    _check_size(text, where, error, key, max_bytes)
    try:
        value = tomllib.loads(text)
    except RecursionError as exc:
        raise _too_deep(where, error, key, exc) from exc
    except (tomllib.TOMLDecodeError, ValueError, OverflowError) as exc:
        raise error(where, f"is not valid TOML ({exc})", key=key, fix="correct the syntax") from exc
    check_depth(value, where, error, key=key)
    return value


def _bounded_loader() -> type:
    import yaml

    class BoundedLoader(yaml.SafeLoader):
        """The safe loader, counting aliases while it composes the node graph."""

        aliases = 0

        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                self.aliases += 1
                if self.aliases > MAX_YAML_ALIASES:
                    raise _AliasLimit(f"more than {MAX_YAML_ALIASES} aliases")
            return super().compose_node(parent, index)

    return BoundedLoader


class _AliasLimit(Exception):
    pass


def _expanded_nodes(root: Any, limit: int) -> int:
    """Nodes in the document with every alias expanded, counted up to ``limit`` (memoised)."""
    import yaml

    memo: dict[int, int] = {}

    def count(node: Any, depth: int) -> int:
        if depth > MAX_DEPTH:
            raise _AliasLimit(f"nested more than {MAX_DEPTH} levels deep")
        if id(node) in memo:
            return memo[id(node)]
        memo[id(node)] = limit + 1  # a node reached again while counting it is a cycle
        total = 1
        if isinstance(node, yaml.SequenceNode):
            for child in node.value:
                total += count(child, depth + 1)
        elif isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                total += count(k, depth + 1) + count(v, depth + 1)
        total = min(total, limit + 1)
        memo[id(node)] = total
        return total

    return count(root, 0)


def parse_yaml(
    text: str,
    where: str | os.PathLike[str],
    error: type[UnsafeInputError],
    *,
    key: str = "",
    max_bytes: int = MAX_TEXT_BYTES,
) -> Any:
    """Parse one YAML document with the safe loader, bounded size, depth and aliases."""
    import yaml

    _check_size(text, where, error, key, max_bytes)
    try:
        loader = _bounded_loader()(text)  # the reader checks every character here
    except yaml.YAMLError as exc:
        raise error(where, f"is not valid YAML ({exc})", key=key, fix="correct the syntax") from exc
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if _expanded_nodes(node, MAX_YAML_NODES) > MAX_YAML_NODES:
            raise _AliasLimit(f"more than {MAX_YAML_NODES} nodes once aliases are expanded")
        value = loader.construct_document(node)
    except _AliasLimit as exc:
        raise error(
            where,
            f"YAML document has {exc}",
            key=key,
            fix="write the values out instead of using anchors and aliases",
        ) from exc
    except RecursionError as exc:
        raise _too_deep(where, error, key, exc) from exc
    except (yaml.YAMLError, ValueError, OverflowError) as exc:
        raise error(where, f"is not valid YAML ({exc})", key=key, fix="correct the syntax") from exc
    finally:
        loader.dispose()
    check_depth(value, where, error, key=key)
    return value


_NAMES = {
    dict: "a mapping",
    list: "a list",
    str: "a string",
    bool: "true or false",
    int: "an integer",
    float: "a number",
}


def expect(
    value: Any,
    kind: type | tuple[type, ...],
    where: str | os.PathLike[str],
    error: type[UnsafeInputError],
    key: str,
) -> Any:
    """``value`` when it is of ``kind`` (bool is never an int or float here); else ``error``."""
    kinds = kind if isinstance(kind, tuple) else (kind,)
    ok = isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds)
    if not ok:
        wanted = " or ".join(_NAMES.get(k, k.__name__) for k in kinds)
        got = "null" if value is None else type(value).__name__
        raise error(where, f"must be {wanted}, got {got}", key=key, fix=f"give {wanted}")
    return value


def expect_finite(
    value: Any, where: str | os.PathLike[str], error: type[UnsafeInputError], key: str
) -> float:
    """``value`` as a finite float (integers too large for a float are refused, not raised)."""
    expect(value, (int, float), where, error, key)
    try:
        number = float(value)
    except OverflowError as exc:
        raise error(
            where, "is too large for a floating-point number", key=key, fix="give a finite number"
        ) from exc
    if not math.isfinite(number):
        raise error(where, f"must be finite, got {number}", key=key, fix="give a finite number")
    return number


def read_toml_file(
    path: str | os.PathLike[str], error: type[UnsafeInputError], *, max_bytes: int = 1024**2
) -> dict[str, Any]:
    """A TOML file (a regular UTF-8 file of at most ``max_bytes``) parsed with the bounds above."""
    from backends.safeio.files import read_file_text

    return parse_toml(
        read_file_text(path, error, max_bytes=max_bytes), path, error, max_bytes=max_bytes
    )


def read_json_file(
    path: str | os.PathLike[str], error: type[UnsafeInputError], *, max_bytes: int = MAX_TEXT_BYTES
) -> Any:
    """A JSON file (a regular UTF-8 file of at most ``max_bytes``) parsed with the bounds above."""
    from backends.safeio.files import read_file_bytes

    return parse_json(
        read_file_bytes(path, error, max_bytes=max_bytes), path, error, max_bytes=max_bytes
    )
