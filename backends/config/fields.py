"""Field metadata of the canonical dataclasses: kinds, literal choices, type coercion and
"did you mean" suggestions. Shared by file I/O, command-line overrides and the bridge."""

from __future__ import annotations

import dataclasses
import difflib
import functools
import numbers
import types
import typing
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any

import numpy as np

from backends.config import canonical

_CHOICES: dict[str, tuple[str, ...]] = {
    "model_type": canonical.MODEL_TYPES,
    "amp_activation": canonical.AMP_ACTIVATIONS,
    "combine_mode": canonical.COMBINE_MODES,
    "backend": canonical.BACKENDS,
    "torch_loss_mode": canonical.TORCH_LOSS_MODES,
}
_KIND_NAMES = {
    "int": "an integer",
    "float": "a number",
    "bool": "a boolean (true or false)",
    "str": "a string",
    "path": "a path (string)",
}
_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


@dataclass(frozen=True)
class FieldSpec:
    """One configuration field: its name, kind (int, float, bool, str, path or model),
    whether None is allowed, whether it has a default, and its literal choices."""

    name: str
    kind: str
    optional: bool
    required: bool
    choices: tuple[str, ...] | None = None


def _kind_of(annotation: Any) -> tuple[str, bool]:
    optional = False
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        optional = len(args) < len(typing.get_args(annotation))
        annotation = args[0]
    if annotation is bool:
        return "bool", optional
    if annotation is int:
        return "int", optional
    if annotation is float:
        return "float", optional
    if annotation is str:
        return "str", optional
    if annotation is Path:
        return "path", optional
    if annotation is canonical.ModelConfig:
        return "model", optional
    raise TypeError(f"unsupported field annotation {annotation!r}")


@functools.cache
def field_specs(cls: type) -> dict[str, FieldSpec]:
    """The :class:`FieldSpec` of every field of a canonical dataclass, in declaration order."""
    hints = typing.get_type_hints(cls)
    specs: dict[str, FieldSpec] = {}
    for f in dataclasses.fields(cls):
        kind, optional = _kind_of(hints[f.name])
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        specs[f.name] = FieldSpec(f.name, kind, optional, required, _CHOICES.get(f.name))
    return specs


def default_value(cls: type, name: str) -> Any:
    """The declared default of field ``name`` of dataclass ``cls`` (before ``__post_init__``)."""
    f = {f.name: f for f in dataclasses.fields(cls)}[name]
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    raise KeyError(f"{cls.__name__}.{name} has no default (it is required)")


def _parse_text(spec: FieldSpec, text: str) -> Any:
    lowered = text.strip().lower()
    if spec.optional and lowered in {"none", "null"}:
        return None
    if spec.kind == "bool":
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ValueError
    if spec.kind == "int":
        return int(text.strip())
    if spec.kind == "float":
        return float(text.strip())
    return text


def coerce_value(spec: FieldSpec, value: Any, *, where: str = "", from_text: bool = False) -> Any:
    """Check ``value`` against the field's kind and return it in canonical form.

    Integers are accepted for float fields (and become floats), NumPy scalars become Python
    scalars, strings become Paths for path fields. With ``from_text`` a string is parsed first
    (command-line values). A mismatch raises ValueError naming ``where`` and the field.
    """
    label = f"{where}field {spec.name!r}"
    original = value
    if from_text and isinstance(value, str) and spec.kind not in {"str", "path"}:
        try:
            value = _parse_text(spec, value)
        except ValueError:
            raise ValueError(
                f"{label} must be {_KIND_NAMES[spec.kind]}, got the text {original!r}"
            ) from None
    if value is None:
        if spec.optional:
            return None
        raise ValueError(f"{label} must be {_KIND_NAMES.get(spec.kind, spec.kind)}, got None")
    ok = False
    if spec.kind == "bool":
        ok = isinstance(value, (bool, np.bool_))
        value = bool(value) if ok else value
    elif spec.kind == "int":
        ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
        value = int(value) if ok else value
    elif spec.kind == "float":
        ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
        try:
            value = float(value) if ok else value
        except OverflowError:
            raise ValueError(f"{label} is too large for a floating-point number") from None
    elif spec.kind == "str":
        ok = isinstance(value, str)
    elif spec.kind == "path":
        ok = isinstance(value, (str, PurePath))
        value = Path(value) if ok else value
    if not ok:
        raise ValueError(
            f"{label} must be {_KIND_NAMES.get(spec.kind, spec.kind)}, "
            f"got {type(original).__name__} {original!r}"
        )
    if spec.choices is not None and value not in spec.choices:
        raise ValueError(
            f"{label}: {value!r} is not allowed; choose one of: {', '.join(spec.choices)}"
        )
    return value


def closest(key: str, known: Iterable[str]) -> str | None:
    """The known name closest to ``key`` (difflib), or None when nothing is close."""
    matches = difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
    if not matches:
        lowered = {k.lower(): k for k in known}
        matches = difflib.get_close_matches(key.lower(), list(lowered), n=1, cutoff=0.6)
        return lowered[matches[0]] if matches else None
    return matches[0]


def unknown_key_message(key: str, known: Iterable[str], *, where: str = "") -> str:
    """The error text for an unknown key: names it and suggests the closest known key."""
    known = list(known)
    suggestion = closest(key, known)
    hint = (
        f"did you mean {suggestion!r}?"
        if suggestion
        else f"known keys: {', '.join(sorted(known, key=str.lower))}"
    )
    return f"{where}unknown key {key!r}; {hint}"
