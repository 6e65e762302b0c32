"""Scenarios: what one parity run feeds both backends and which checks it runs.

A scenario is a TOML file: a name and description, a dataset (``builtin:<name>``, a path, or
``python:module:function`` for a factory returning containers), seeds, the run settings (batch
sizes, number of training steps K), the checks to run, tolerance overrides and the canonical
configuration as a ``[config]`` table with a ``[config.model]`` sub-table. ``extends = "default"``
starts from another scenario. Built-in scenarios live in ``parity/scenarios/``.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import hashlib
import json
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from parity.checks import FAMILIES
from parity.errors import InputError, read_structured

SCENARIO_DIR = Path(__file__).with_name("scenarios")
CHECK_FAMILIES = (*FAMILIES, "regression")
OPT_IN_FAMILIES = ("data_parallel", "convergence")
"""Families a scenario runs only when it names them (they start worker processes or train for
minutes)."""
TOP_KEYS = (
    "name",
    "description",
    "extends",
    "dataset",
    "test_dataset",
    "checks",
    "seeds",
    "run",
    "convergence",
    "tolerances",
    "config",
)
_FORBIDDEN_CONFIG = {
    "train_data_file": "set the scenario's `dataset` instead",
    "test_data_file": "set the scenario's `test_dataset` instead",
    "output_dir": "the harness chooses its own output directories",
}


_COMPARE_ONLY = ("convert_bundles", "device", "cross_device")
"""Run settings that change what is compared or where it is computed, not what a trace is
meant to hold (not part of the hash: traces of one scenario on two devices compare)."""
DEVICES = ("cpu", "gpu", "auto")


@dataclass(frozen=True)
class Seeds:
    """Every random stream of a run: grouping/subsampling, initial weights, op inputs."""

    data: int = 1
    weights: int = 7
    ops: int = 11


@dataclass(frozen=True)
class RunSettings:
    """Sizes of the checks: batch for forward/gradients, K training steps and their batch,
    number of test groups for inference, the stitch crop, the op-input batch, and whether the
    bundles check converts the reference's bundle into the candidate backend (explicit
    conversion; both frameworks in one process, a few seconds).

    ``device`` (cpu, gpu or auto) is where the backends compute; ``parity run --device`` and
    ``parity record --device`` replace it. ``cross_device`` also records every backend on the
    CPU and compares each one's GPU trace with its CPU trace under the ``[device]``
    tolerances; the backends are then compared with each other on the GPU. Without a visible
    GPU the device comparison is skipped with the reason and the backends are compared on the
    CPU (docs/devices.md)."""

    batch_size: int = 4
    train_steps: int = 3
    train_batch_size: int = 4
    learning_rate: float = 1e-3
    infer_groups: int = 32
    infer_batch_size: int = 16
    stitch_crop: int = 20
    op_batch: int = 2
    convert_bundles: bool = False
    workers: int = 2
    """Data-parallel workers of the ``data_parallel`` family (each takes a shard of every
    training batch of ``train_batch_size`` groups)."""
    device: str = "cpu"
    cross_device: bool = False

    def __post_init__(self) -> None:
        if self.device not in DEVICES:
            raise InputError(
                f"[run].device must be one of {', '.join(DEVICES)}, got {self.device!r}"
            )


CONVERGENCE_INIT = ("shared", "own")


@dataclass(frozen=True)
class ConvergenceSettings:
    """Sign-off: several seeds per backend, short trainings, metric distributions.

    ``init = "shared"``: seed ``s`` starts both backends from the same NumPy Glorot-uniform draw
    (zero biases), so the per-seed metric differences isolate the training procedure (paired
    test). ``init = "own"``: each backend initialises itself from ``s`` (independent samples,
    Welch test; needs more seeds for the same power)."""

    seeds: tuple[int, ...] = (0, 1, 2, 3)
    epochs: int = 2
    n_groups: int | None = None
    test_groups: int = 64
    init: str = "shared"
    model: dict[str, Any] = field(default_factory=dict)
    """ModelConfig fields that the convergence trainings override (``[convergence.model]``):
    the sign-off trains a narrower network than the one the other checks compare, so that
    several seeds of both backends reach a trained reconstruction within its time budget."""

    def __post_init__(self) -> None:
        if self.init not in CONVERGENCE_INIT:
            raise InputError(
                f"[convergence].init must be one of {', '.join(CONVERGENCE_INIT)}, got {self.init!r}"
            )


@dataclass(frozen=True)
class Scenario:
    """A validated scenario. ``config`` holds TrainingConfig fields and ``config["model"]``
    the ModelConfig fields, both as given in the file (defaults apply to the rest)."""

    name: str
    description: str
    dataset: str
    test_dataset: str
    checks: tuple[str, ...]
    seeds: Seeds = field(default_factory=Seeds)
    run: RunSettings = field(default_factory=RunSettings)
    convergence: ConvergenceSettings = field(default_factory=ConvergenceSettings)
    tolerances: dict[str, dict[str, Any]] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    source: str = "<memory>"

    def identity(self) -> dict[str, Any]:
        """Everything that determines a trace's contents (not the description or source; the
        convergence settings and the data-parallel workers only where the scenario runs those
        families)."""
        skip = _COMPARE_ONLY if "data_parallel" in self.checks else (*_COMPARE_ONLY, "workers")
        out: dict[str, Any] = {
            "name": self.name,
            "dataset": self.dataset,
            "test_dataset": self.test_dataset,
            "checks": list(self.checks),
            "seeds": dataclasses.asdict(self.seeds),
            "run": {k: v for k, v in dataclasses.asdict(self.run).items() if k not in skip},
            "config": self.config,
        }
        if "convergence" in self.checks:
            out["convergence"] = {
                **dataclasses.asdict(self.convergence),
                "seeds": list(self.convergence.seeds),
            }
        return out

    @property
    def hash(self) -> str:
        """Short content hash of :meth:`identity`; traces of different hashes do not compare."""
        text = json.dumps(self.identity(), sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (identity plus description, tolerance overrides, source)."""
        out = self.identity()
        out["run"] = dataclasses.asdict(self.run)
        out.update(description=self.description, tolerances=self.tolerances, source=self.source)
        return out

    def model_config(self) -> Any:
        """The canonical :class:`backends.config.ModelConfig`."""
        from backends.config import ModelConfig

        return ModelConfig(**self.config.get("model", {}))

    def convergence_model_config(self) -> Any:
        """The model the convergence trainings use: :meth:`model_config` with the
        ``[convergence.model]`` overrides."""
        from backends.config import ModelConfig

        return ModelConfig(**{**self.config.get("model", {}), **self.convergence.model})

    def training_config(self, train_data_file: Any = None, test_data_file: Any = None) -> Any:
        """The canonical :class:`backends.config.TrainingConfig` with the given data files."""
        from backends.config import TrainingConfig

        kwargs = {k: v for k, v in self.config.items() if k != "model"}
        kwargs.setdefault("subsample_seed", self.seeds.data)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return TrainingConfig(
                model=self.model_config(),
                train_data_file=train_data_file,
                test_data_file=test_data_file,
                **kwargs,
            )

    def with_checks(self, checks: tuple[str, ...]) -> Scenario:
        """A copy running only ``checks``."""
        return dataclasses.replace(self, checks=tuple(checks))


def builtin_names() -> list[str]:
    """Names of the built-in scenarios."""
    return sorted(p.stem for p in SCENARIO_DIR.glob("*.toml"))


def _suggest(bad: str, options: Any) -> str:
    close = difflib.get_close_matches(bad, list(options), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def _check_keys(table: Mapping[str, Any], allowed: Any, where: str, source: str) -> None:
    for key in table:
        if key not in allowed:
            raise InputError(
                f"{source}: unknown key {key!r} in {where}{_suggest(key, allowed)} "
                f"(allowed: {', '.join(allowed)})"
            )


def _read_toml(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = read_structured(path, "scenario file")
    return data


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _resolve_path(name_or_path: str | Path) -> Path:
    text = str(name_or_path)
    path = Path(text)
    if text.endswith((".toml", ".json")) or path.exists() or "/" in text:
        if not path.exists():
            raise InputError(f"scenario file {path} does not exist")
        return path
    candidate = SCENARIO_DIR / f"{text}.toml"
    if candidate.exists():
        return candidate
    names = builtin_names()
    raise InputError(
        f"unknown scenario {text!r}{_suggest(text, names)}; built-in scenarios: {', '.join(names)}"
        " (or give the path of a .toml file)"
    )


def _load_raw(path: Path, chain: tuple[str, ...] = ()) -> dict[str, Any]:
    key = str(path.resolve())
    if key in chain:
        raise InputError(f"{path}: `extends` forms a cycle: {' -> '.join((*chain, key))}")
    raw = _read_toml(path)
    _check_keys(raw, TOP_KEYS, "the top level", str(path))
    parent = raw.pop("extends", None)
    if parent is None:
        return raw
    parent_path = _resolve_path(parent)
    base = _load_raw(parent_path, (*chain, key))
    base.pop("description", None)
    return _merge(base, raw)


def load(name_or_path: str | Path) -> Scenario:
    """A built-in scenario by name, or a scenario file by path."""
    path = _resolve_path(name_or_path)
    if path.suffix == ".json":
        data = read_structured(path, "scenario file")
        if not isinstance(data, dict):
            raise InputError(f"scenario file {path}: must hold a JSON object")
        return from_json(data)
    raw = _load_raw(path)
    return from_dict(raw, source=str(path), default_name=path.stem)


def _typed(value: Any, kind: type, key: str, where: str, source: str) -> Any:
    ok = isinstance(value, kind) and not (kind is not bool and isinstance(value, bool))
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not ok:
        raise InputError(f"{source}: {where}.{key} must be {kind.__name__}, got {value!r}")
    return value


def _section(cls: type, table: Any, where: str, source: str) -> Any:
    if table is None:
        return cls()
    if not isinstance(table, Mapping):
        raise InputError(f"{source}: [{where}] must be a table")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    _check_keys(table, list(fields), f"[{where}]", source)
    kwargs: dict[str, Any] = {}
    for key, value in table.items():
        default = fields[key].default
        if key == "seeds" and cls is ConvergenceSettings:
            if (
                not isinstance(value, list)
                or not value
                or not all(isinstance(s, int) and not isinstance(s, bool) for s in value)
            ):
                raise InputError(f"{source}: [{where}].seeds must be a non-empty list of integers")
            kwargs[key] = tuple(value)
        elif key == "model" and cls is ConvergenceSettings:
            if not isinstance(value, Mapping):
                raise InputError(f"{source}: [{where}.model] must be a table of model fields")
            kwargs[key] = dict(value)
            continue
        elif key == "n_groups":
            kwargs[key] = None if value is None else _typed(value, int, key, where, source)
        else:
            kwargs[key] = _typed(value, type(default), key, where, source)
        if isinstance(kwargs[key], int) and not isinstance(kwargs[key], bool) and kwargs[key] < 0:
            raise InputError(f"{source}: [{where}].{key} must be >= 0, got {kwargs[key]}")
    try:
        return cls(**kwargs)
    except InputError as exc:
        raise InputError(f"{source}: {exc}") from None


def _validate_config(config: Any, source: str) -> dict[str, Any]:
    from backends.config.canonical import (
        ModelConfig,
        TrainingConfig,
        validate_training_config,
    )

    if not isinstance(config, Mapping):
        raise InputError(f"{source}: [config] must be a table")
    model = config.get("model", {})
    if not isinstance(model, Mapping):
        raise InputError(f"{source}: [config.model] must be a table")
    model_fields = [f.name for f in dataclasses.fields(ModelConfig)]
    training_fields = [f.name for f in dataclasses.fields(TrainingConfig) if f.name != "model"]
    _check_keys(model, model_fields, "[config.model]", source)
    for key in config:
        if key == "model":
            continue
        if key in model_fields:
            raise InputError(f"{source}: {key!r} is a model field; put it under [config.model]")
        if key in _FORBIDDEN_CONFIG:
            raise InputError(f"{source}: [config].{key} is not allowed: {_FORBIDDEN_CONFIG[key]}")
    _check_keys(
        {k: v for k, v in config.items() if k != "model"}, training_fields, "[config]", source
    )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cfg = TrainingConfig(
                model=ModelConfig(**model), **{k: v for k, v in config.items() if k != "model"}
            )
        validate_training_config(cfg)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{source}: invalid [config]: {exc}") from None
    out = {k: v for k, v in config.items() if k != "model"}
    out["model"] = dict(model)
    return out


def from_dict(raw: Mapping[str, Any], source: str = "<memory>", default_name: str = "") -> Scenario:
    """Validate a scenario given as a mapping (the parsed TOML)."""
    raw = dict(raw)
    raw.pop("extends", None)
    _check_keys(raw, TOP_KEYS, "the top level", source)
    name = raw.get("name", default_name)
    if not isinstance(name, str) or not name or any(c in name for c in "/\\ "):
        raise InputError(f"{source}: name must be a non-empty string without spaces or slashes")
    dataset = raw.get("dataset")
    if not isinstance(dataset, str) or not dataset:
        raise InputError(
            f"{source}: `dataset` is required (a path, builtin:<name> or python:module:function)"
        )
    test_dataset = raw.get("test_dataset")
    if test_dataset is None:
        test_dataset = (
            f"{dataset}:test"
            if dataset.startswith("builtin:") and not dataset.endswith(":test")
            else dataset
        )
    if not isinstance(test_dataset, str):
        raise InputError(f"{source}: test_dataset must be a string")
    checks = raw.get("checks", [c for c in CHECK_FAMILIES if c not in OPT_IN_FAMILIES])
    if not isinstance(checks, list) or not all(isinstance(c, str) for c in checks):
        raise InputError(f"{source}: checks must be a list of check names")
    for c in checks:
        if c not in CHECK_FAMILIES:
            raise InputError(
                f"{source}: unknown check {c!r}{_suggest(c, CHECK_FAMILIES)} "
                f"(checks: {', '.join(CHECK_FAMILIES)})"
            )
    tolerances = raw.get("tolerances", {})
    if not isinstance(tolerances, Mapping):
        raise InputError(f"{source}: [tolerances] must be a table")
    from parity.tolerances import Registry

    Registry.load().with_overrides(tolerances, source)  # validates field names and values
    scenario = Scenario(
        name=name,
        description=str(raw.get("description", "")),
        dataset=dataset,
        test_dataset=test_dataset,
        checks=tuple(dict.fromkeys(checks)),
        seeds=_section(Seeds, raw.get("seeds"), "seeds", source),
        run=_section(RunSettings, raw.get("run"), "run", source),
        convergence=_section(ConvergenceSettings, raw.get("convergence"), "convergence", source),
        tolerances={k: dict(v) for k, v in tolerances.items()},
        config=_validate_config(raw.get("config", {}), source),
        source=source,
    )
    _validate_convergence_model(scenario, source)
    for key in ("batch_size", "train_batch_size", "infer_batch_size", "op_batch"):
        if getattr(scenario.run, key) < 1:
            raise InputError(f"{source}: [run].{key} must be >= 1")
    return scenario


def _validate_convergence_model(scenario: Scenario, source: str) -> None:
    from backends.config.canonical import ModelConfig, validate_model_config

    overrides = scenario.convergence.model
    _check_keys(
        overrides, [f.name for f in dataclasses.fields(ModelConfig)], "[convergence.model]", source
    )
    try:
        validate_model_config(scenario.convergence_model_config())
    except (TypeError, ValueError) as exc:
        raise InputError(f"{source}: invalid [convergence.model]: {exc}") from None


def from_json(data: Mapping[str, Any]) -> Scenario:
    """Rebuild a scenario from :meth:`Scenario.to_dict` (as stored in traces and reports)."""
    raw = {k: v for k, v in data.items() if k in TOP_KEYS}
    return from_dict(raw, source=str(data.get("source", "<trace>")))
