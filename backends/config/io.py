"""Reading and writing canonical configs as TOML, YAML (safe loader) and JSON.

One layout for every format: the training (or inference) fields at the top level and the
model fields in a ``model`` table, e.g. in TOML::

    train_data_file = "builtin:lines-64"
    nepochs = 2

    [model]
    N = 64

Every error is prefixed with the file path. An unknown key raises ``ValueError`` naming the
key and suggesting the closest known key; a value of the wrong type names the field. Writing
is atomic (temporary file in the target directory, then rename). :func:`apply_overrides` applies
command-line values on top of a loaded config (the command line wins).
"""

from __future__ import annotations

import dataclasses
import json
import warnings
from collections.abc import Mapping
from pathlib import Path, PurePath
from typing import Any

import tomli_w
import yaml

from backends.config import fields as _fields
from backends.config.canonical import (
    InferenceConfig,
    ModelConfig,
    TrainingConfig,
    validate_model_config,
    validate_training_config,
)
from backends.core.files import write_text_atomic
from backends.safeio import ConfigFileError, parse_json, parse_toml, parse_yaml, read_file_text

FORMATS = {".toml": "toml", ".yaml": "yaml", ".yml": "yaml", ".json": "json"}
KINDS = ("training", "inference", "auto")
Config = TrainingConfig | InferenceConfig


def _format_of(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(
            f"{path}: unsupported config file extension {path.suffix!r}; use one of: "
            f"{', '.join(FORMATS)}"
        )
    return fmt


#: Largest config file read; real configs are a few kilobytes.
MAX_CONFIG_BYTES = 1024**2


def read_config_dict(path: Path | str) -> dict[str, Any]:
    """The raw mapping stored in a config file (no validation beyond syntax).

    The file must be a regular UTF-8 file of at most :data:`MAX_CONFIG_BYTES`; parsing is
    bounded in depth (and, for YAML, in aliases). Errors are :class:`ConfigFileError`.
    """
    path = Path(path)
    fmt = _format_of(path)
    try:
        text = read_file_text(path, ConfigFileError, max_bytes=MAX_CONFIG_BYTES)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: config file not found") from None
    parse = {"toml": parse_toml, "json": parse_json, "yaml": parse_yaml}[fmt]
    data = parse(text, path, ConfigFileError, max_bytes=MAX_CONFIG_BYTES)
    if data is None and fmt == "yaml":
        data = {}
    if not isinstance(data, dict):
        raise ConfigFileError(
            path,
            f"must hold a mapping of keys, got {type(data).__name__}",
            fix="write key = value pairs at the top level",
        )
    return data


def _where(source: str) -> str:
    return f"{source}: " if source else ""


def _check_section(
    data: Mapping[str, Any], cls: type, *, source: str, section: str, other: set[str]
) -> dict[str, Any]:
    specs = {k: v for k, v in _fields.field_specs(cls).items() if k != "model"}
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key not in specs:
            message = _fields.unknown_key_message(
                str(key), specs, where=f"{_where(source)}{section}: "
            )
            if key in other:
                place = "in the [model] table" if section == "top level" else "at the top level"
                message = f"{_where(source)}{section}: key {key!r} belongs {place}"
            raise ValueError(message)
        out[key] = _fields.coerce_value(specs[key], value, where=f"{_where(source)}{section}: ")
    return out


def detect_kind(data: Mapping[str, Any]) -> str:
    """'inference' when the mapping has a ``model_path`` key, else 'training'."""
    return "inference" if "model_path" in data else "training"


def config_from_dict(
    data: Mapping[str, Any], *, kind: str = "auto", source: str = "", validate: bool = True
) -> Config:
    """A canonical config from a mapping in the file layout (top level + ``model`` table).

    ``kind`` is 'training', 'inference' or 'auto' (:func:`detect_kind`). With ``validate``, a
    training config is checked with :func:`validate_training_config` and an inference config
    with :func:`validate_model_config` (``model_path`` is resolved when inference runs).
    Errors are ValueErrors prefixed with ``source``.
    """
    if kind not in KINDS:
        raise ValueError(f"kind={kind!r} is not allowed; choose one of: {', '.join(KINDS)}")
    if kind == "auto":
        kind = detect_kind(data)
    cls: type = TrainingConfig if kind == "training" else InferenceConfig
    top_names = {k for k in _fields.field_specs(cls) if k != "model"}
    model_names = set(_fields.field_specs(ModelConfig))
    top = {k: v for k, v in data.items() if k != "model"}
    model_data = data.get("model", {})
    if not isinstance(model_data, Mapping):
        raise ValueError(
            f"{_where(source)}'model' must be a table of model fields, got "
            f"{type(model_data).__name__}"
        )
    top_values = _check_section(top, cls, source=source, section="top level", other=model_names)
    model_values = _check_section(
        model_data, ModelConfig, source=source, section="[model]", other=top_names
    )
    missing = [n for n, s in _fields.field_specs(cls).items() if s.required and n != "model"]
    missing = [n for n in missing if top_values.get(n) is None]
    if missing:
        raise ValueError(
            f"{_where(source)}an {kind} config needs {', '.join(missing)} at the top level"
        )
    try:
        model = ModelConfig(**model_values)
        config: Config = cls(model=model, **top_values)
        if validate:
            if isinstance(config, TrainingConfig):
                validate_training_config(config)
            else:
                validate_model_config(config.model)
    except ValueError as exc:
        raise ValueError(f"{_where(source)}{exc}") from exc
    return config


def load_config(path: Path | str, *, kind: str = "auto", validate: bool = True) -> Config:
    """Read a TrainingConfig or InferenceConfig from a ``.toml``, ``.yaml``/``.yml`` or
    ``.json`` file (see :func:`config_from_dict`)."""
    path = Path(path)
    return config_from_dict(read_config_dict(path), kind=kind, source=str(path), validate=validate)


def load_training_config(path: Path | str, *, validate: bool = True) -> TrainingConfig:
    """:func:`load_config` for a training config."""
    config = load_config(path, kind="training", validate=validate)
    assert isinstance(config, TrainingConfig)
    return config


def load_inference_config(path: Path | str, *, validate: bool = True) -> InferenceConfig:
    """:func:`load_config` for an inference config."""
    config = load_config(path, kind="inference", validate=validate)
    assert isinstance(config, InferenceConfig)
    return config


def _plain(value: Any) -> Any:
    return str(value) if isinstance(value, PurePath) else value


def config_to_dict(config: Config | ModelConfig) -> dict[str, Any]:
    """The file layout of a config: Paths as strings, None values left out (TOML has no
    null), model fields under ``model``."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if f.name == "model":
            continue
        if value is not None:
            out[f.name] = _plain(value)
    if isinstance(config, (TrainingConfig, InferenceConfig)):
        out["model"] = config_to_dict(config.model)
    return out


def dumps_config(config: Config, fmt: str) -> str:
    """The text of ``config`` in ``fmt`` ('toml', 'yaml' or 'json')."""
    data = config_to_dict(config)
    if fmt == "toml":
        return tomli_w.dumps(data)
    if fmt == "json":
        return json.dumps(data, indent=2) + "\n"
    if fmt == "yaml":
        return yaml.safe_dump(data, sort_keys=False)
    raise ValueError(f"format {fmt!r} is not allowed; choose one of: toml, yaml, json")


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same directory and a rename,
    so that ``path`` is never half-written (:func:`backends.core.files.write_text_atomic`)."""
    write_text_atomic(path, text)


def write_config(config: Config, path: Path | str) -> Path:
    """Write ``config`` to ``path`` in the format of its extension, atomically."""
    path = Path(path)
    atomic_write_text(path, dumps_config(config, _format_of(path)))
    return path


def apply_overrides(
    config: Config, overrides: Mapping[str, Any], *, from_text: bool = False
) -> Config:
    """A new config with ``overrides`` applied on top (the command line wins over a file).

    Keys are top-level field names, model field names, or ``model.<field>``; a value of None
    means "not given" and is skipped. With ``from_text`` string values are parsed by field
    type ('2' -> 2, 'false' -> False). Overriding ``n_images`` without ``n_groups`` also sets
    ``n_groups`` (the alias rule, with its DeprecationWarning). Unknown keys raise ValueError
    with the closest known key.
    """
    cls: type = type(config)
    top_specs = {k: v for k, v in _fields.field_specs(cls).items() if k != "model"}
    model_specs = _fields.field_specs(ModelConfig)
    top: dict[str, Any] = {}
    model: dict[str, Any] = {}
    for raw_key, value in overrides.items():
        if value is None:
            continue
        key = raw_key[len("model.") :] if raw_key.startswith("model.") else raw_key
        if key in model_specs and (raw_key != key or key not in top_specs):
            model[key] = _fields.coerce_value(
                model_specs[key], value, where="override: ", from_text=from_text
            )
        elif key in top_specs and raw_key == key:
            top[key] = _fields.coerce_value(
                top_specs[key], value, where="override: ", from_text=from_text
            )
        else:
            known = [*top_specs, *model_specs]
            raise ValueError(_fields.unknown_key_message(raw_key, known, where="override: "))
    if top.get("n_images") is not None and "n_groups" not in top:
        warnings.warn(
            "n_images is deprecated; use n_groups (copying n_images into n_groups)",
            DeprecationWarning,
            stacklevel=2,
        )
        top["n_groups"] = top["n_images"]
    new_model = dataclasses.replace(config.model, **model) if model else config.model
    return dataclasses.replace(config, model=new_model, **top)


def training_config_from_params(params: Mapping[str, Any], backend: str) -> TrainingConfig:
    """The canonical TrainingConfig a legacy params snapshot records (inverse of the
    canonical -> legacy translation; keys the snapshot lacks or holds as None keep their
    defaults), with ``backend`` set."""
    from backends.config.legacy import legacy_name

    def section(cls: type) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name in _fields.field_specs(cls):
            if name == "model":
                continue
            key = legacy_name(name)
            if params.get(key) is not None:
                values[name] = params[key]
        return values

    top = section(TrainingConfig)
    top["backend"] = backend
    if top.get("n_groups") is not None:
        top.pop("n_images", None)  # n_groups already carries it (no deprecation warning)
    model = section(ModelConfig)
    config = config_from_dict(
        {**top, "model": model}, kind="training", source="bundle params", validate=False
    )
    assert isinstance(config, TrainingConfig)
    return config
