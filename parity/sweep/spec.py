"""Sweep files: a base scenario, the configurations and seeds to run it with, the checks per cell.

A sweep file is TOML::

    name = "lr"                       # default: the file name
    description = "..."
    scenario = "smoke"                # built-in scenario name or path (relative to this file)
    backends = ["tensorflow", "pytorch"]
    checks = ["params", "gradients", "training"]   # default: the scenario's, less regression
    seeds = [1, 2]                    # each sets the scenario's data, weights and ops seeds

    [grid]                            # every combination
    learning_rate = [1e-3, 3e-4]
    gridsize = [1, 2]

    [sample]                          # random draws, reproducible from `seed`
    count = 4
    seed = 0
    [sample.fields]
    nll_weight = { uniform = [0.2, 1.0] }
    learning_rate = { log_uniform = [1e-4, 1e-2] }
    amp_activation = { choice = ["sigmoid", "swish"] }

    [[cells]]                         # explicit configurations
    gridsize = 2
    object_big = false

A field is a canonical model or training field (``gridsize``, ``nll_weight``), the optimizer's
``learning_rate``, the scenario's ``dataset`` or ``test_dataset``, or a dotted path into the scenario (``config.n_groups``,
``config.model.N``, ``run.train_steps``, ``seeds.data``). The configurations are the explicit
cells, then the grid's combinations crossed with the draws (either alone when only one is
given); each runs once per seed. A configuration the scenario validators reject becomes an
``invalid`` cell, reported and not run.
"""

from __future__ import annotations

import dataclasses
import difflib
import itertools
import json
import math
import random
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from parity.errors import InputError

SWEEP_DIR = Path(__file__).resolve().parent.parent / "sweeps"
TOP_KEYS = (
    "name",
    "description",
    "scenario",
    "backends",
    "checks",
    "seeds",
    "grid",
    "sample",
    "cells",
)
SAMPLE_KEYS = ("count", "seed", "fields")
DISTRIBUTIONS = ("uniform", "log_uniform", "int_uniform", "choice")
NOT_IN_CELLS = ("regression", "convergence")
"""Families a cell never runs: baselines belong to named scenarios; convergence trains for
minutes per seed (the sign-off's job)."""
SECTIONS = ("config", "run", "seeds")
DEFAULT_BACKENDS = ("tensorflow", "pytorch")


@dataclass(frozen=True)
class CellSpec:
    """One configuration at one seed: the overrides applied to the base scenario."""

    index: int
    overrides: dict[str, Any]
    seed: int | None
    scenario: Any = None
    """The validated :class:`parity.scenario.Scenario`, or None for an invalid cell."""
    problem: str = ""
    """Why the cell is invalid (empty for a valid one)."""

    @property
    def label(self) -> str:
        """Short human-readable description (the overrides and the seed)."""
        parts = [f"{k}={_fmt(v)}" for k, v in self.overrides.items()]
        if self.seed is not None:
            parts.append(f"seed={self.seed}")
        return ", ".join(parts) or "base"


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


@dataclass(frozen=True)
class Sweep:
    """A validated sweep file."""

    name: str
    description: str
    base: Any
    backends: tuple[str, ...]
    checks: tuple[str, ...]
    seeds: tuple[int | None, ...]
    configurations: tuple[dict[str, Any], ...]
    source: str
    fields_used: tuple[str, ...] = field(default_factory=tuple)

    def cells(self) -> list[CellSpec]:
        """Every cell, configuration-major, validated against the scenario rules."""
        out: list[CellSpec] = []
        for overrides in self.configurations:
            for seed in self.seeds:
                out.append(self._cell(len(out), overrides, seed))
        return out

    def _cell(self, index: int, overrides: dict[str, Any], seed: int | None) -> CellSpec:
        from parity import scenario as scenario_mod

        raw = _scenario_raw(self.base)
        raw["checks"] = list(self.checks)
        if "dataset" in overrides and "test_dataset" not in overrides:
            raw.pop("test_dataset", None)  # derived from the cell's dataset
        for name, value in overrides.items():
            target = raw
            *parents, leaf = _path(name)
            for p in parents:
                target = target.setdefault(p, {})
            target[leaf] = value
        if seed is not None:
            raw["seeds"] = {"data": seed, "weights": seed, "ops": seed}
        try:
            sc = scenario_mod.from_dict(raw, source=f"{self.source} cell {index}")
        except InputError as exc:
            return CellSpec(index, dict(overrides), seed, None, str(exc))
        return CellSpec(index, dict(overrides), seed, sc)


def _scenario_raw(base: Any) -> dict[str, Any]:
    raw = json.loads(json.dumps(base.to_dict(), default=str))
    raw.pop("scenario_hash", None)
    keep = ("name", "description", "dataset", "test_dataset", "checks", "seeds", "run")
    out = {k: raw[k] for k in keep if k in raw}
    out["config"] = json.loads(json.dumps(base.config, default=str))
    out["tolerances"] = json.loads(json.dumps(base.tolerances, default=str))
    if "convergence" in raw:
        out["convergence"] = raw["convergence"]
    return out


def _field_names() -> tuple[list[str], list[str], list[str]]:
    from backends.config.canonical import ModelConfig, TrainingConfig
    from parity.scenario import RunSettings, Seeds

    model = [f.name for f in dataclasses.fields(ModelConfig)]
    training = [f.name for f in dataclasses.fields(TrainingConfig) if f.name != "model"]
    other = [f"run.{f.name}" for f in dataclasses.fields(RunSettings)]
    other += [f"seeds.{f.name}" for f in dataclasses.fields(Seeds)]
    return model, training, other


SCENARIO_KEYS = ("dataset", "test_dataset")
"""Scenario keys a cell may vary besides config fields (N = 128 needs a 128-pixel dataset)."""


def _path(name: str) -> tuple[str, ...]:
    """Where a (validated) field name lives in the scenario table."""
    if name in SCENARIO_KEYS:
        return (name,)
    if "." in name:
        return tuple(name.split("."))
    model, _, _ = _field_names()
    if name == "learning_rate":
        return ("run", "learning_rate")
    return ("config", "model", name) if name in model else ("config", name)


def check_field(name: Any, where: str, source: str) -> str:
    """``name`` if it names a sweepable field, else a clear error naming the file and field."""
    model, training, other = _field_names()
    dotted = [f"config.model.{m}" for m in model] + [f"config.{t}" for t in training] + list(other)
    known = [*model, *training, "learning_rate", *SCENARIO_KEYS, *dotted]
    if isinstance(name, str) and name in known:
        return name
    close = difflib.get_close_matches(str(name), known, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise InputError(
        f"{source}: unknown field {name!r} in {where}{hint} (a model or training config field, "
        "learning_rate, dataset, test_dataset, or config.<field>, config.model.<field>, run.<setting>, seeds.<stream>)"
    )


def _suggest_key(key: str, allowed: tuple[str, ...], where: str, source: str) -> None:
    if key not in allowed:
        close = difflib.get_close_matches(key, allowed, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise InputError(
            f"{source}: unknown key {key!r} in {where}{hint} (allowed: {', '.join(allowed)})"
        )


def _draw(rng: random.Random, spec: Any, name: str, source: str) -> Any:
    where = f"{source}: [sample.fields].{name}"
    if not isinstance(spec, Mapping) or len(spec) != 1:
        raise InputError(
            f"{where} must be one of {{ uniform = [lo, hi] }}, {{ log_uniform = [lo, hi] }}, "
            "{ int_uniform = [lo, hi] } or { choice = [values] }"
        )
    kind, arg = next(iter(spec.items()))
    _suggest_key(kind, DISTRIBUTIONS, f"[sample.fields].{name}", source)
    if kind == "choice":
        if not isinstance(arg, list) or not arg:
            raise InputError(f"{where}: choice needs a non-empty list of values")
        return arg[rng.randrange(len(arg))]
    if (
        not isinstance(arg, list)
        or len(arg) != 2
        or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in arg)
        or not arg[0] <= arg[1]
    ):
        raise InputError(f"{where}: {kind} needs [low, high] numbers with low <= high")
    lo, hi = arg
    if kind == "int_uniform":
        return rng.randint(int(lo), int(hi))
    if kind == "log_uniform":
        if lo <= 0:
            raise InputError(f"{where}: log_uniform needs low > 0")
        return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))
    return float(rng.uniform(lo, hi))


def _configurations(raw: Mapping[str, Any], source: str) -> list[dict[str, Any]]:
    explicit: list[dict[str, Any]] = []
    cells = raw.get("cells", [])
    if not isinstance(cells, list) or not all(isinstance(c, Mapping) for c in cells):
        raise InputError(f"{source}: [[cells]] must be an array of tables")
    for i, cell in enumerate(cells):
        explicit.append({check_field(k, f"[[cells]] #{i + 1}", source): v for k, v in cell.items()})
    grid = raw.get("grid", {})
    if not isinstance(grid, Mapping):
        raise InputError(f"{source}: [grid] must be a table of field = [values]")
    names = [check_field(k, "[grid]", source) for k in grid]
    for name, values in zip(names, grid.values()):
        if not isinstance(values, list) or not values:
            raise InputError(f"{source}: [grid].{name} must be a non-empty list of values")
    combos = [dict(zip(names, values)) for values in itertools.product(*grid.values())]
    draws: list[dict[str, Any]] = []
    sample = raw.get("sample")
    if sample is not None:
        if not isinstance(sample, Mapping):
            raise InputError(f"{source}: [sample] must be a table (count, seed, fields)")
        for key in sample:
            _suggest_key(key, SAMPLE_KEYS, "[sample]", source)
        count, seed = sample.get("count", 1), sample.get("seed", 0)
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise InputError(f"{source}: [sample].count must be a positive integer")
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise InputError(f"{source}: [sample].seed must be an integer")
        fields = sample.get("fields", {})
        if not isinstance(fields, Mapping) or not fields:
            raise InputError(f"{source}: [sample.fields] must name at least one field")
        checked = {check_field(k, "[sample.fields]", source): v for k, v in fields.items()}
        rng = random.Random(seed)
        draws = [
            {name: _draw(rng, spec, name, source) for name, spec in checked.items()}
            for _ in range(count)
        ]
    if grid and draws:
        crossed = [{**g, **d} for g in combos for d in draws]
    else:
        crossed = draws or (combos if grid else [])
    configurations = explicit + crossed
    return configurations or [{}]


def builtin_names() -> list[str]:
    """Names of the built-in sweeps."""
    return sorted(p.stem for p in SWEEP_DIR.glob("*.toml"))


def resolve(name_or_path: str | Path) -> Path:
    """The file of a built-in sweep name or a path (clear error when neither)."""
    text = str(name_or_path)
    path = Path(text)
    if path.suffix == ".toml" or "/" in text or path.exists():
        if not path.is_file():
            raise InputError(f"sweep file {path} does not exist")
        return path
    candidate = SWEEP_DIR / f"{text}.toml"
    if candidate.exists():
        return candidate
    names = builtin_names()
    close = difflib.get_close_matches(text, names, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise InputError(
        f"unknown sweep {text!r}{hint}; built-in sweeps: {', '.join(names)} (or give the path "
        "of a .toml file)"
    )


def load(name_or_path: str | Path) -> Sweep:
    """A built-in sweep by name, or a sweep file by path."""
    path = resolve(name_or_path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: invalid TOML: {exc}") from None
    return from_dict(raw, source=str(path), default_name=path.stem, base_dir=path.parent)


def from_dict(
    raw: Mapping[str, Any],
    source: str = "<memory>",
    default_name: str = "sweep",
    base_dir: Path | None = None,
) -> Sweep:
    """Validate a sweep given as a mapping (the parsed TOML)."""
    from parity import scenario as scenario_mod

    for key in raw:
        _suggest_key(key, TOP_KEYS, "the top level", source)
    name = raw.get("name", default_name)
    if not isinstance(name, str) or not name or any(c in name for c in "/\\ "):
        raise InputError(f"{source}: name must be a non-empty string without spaces or slashes")
    base_ref = raw.get("scenario", "smoke")
    if not isinstance(base_ref, str):
        raise InputError(f"{source}: scenario must be a built-in scenario name or a file path")
    if base_dir is not None and (base_ref.endswith((".toml", ".json")) or "/" in base_ref):
        candidate = base_dir / base_ref
        base_ref = str(candidate) if candidate.exists() else base_ref
    base = scenario_mod.load(base_ref)
    backends = raw.get("backends", list(DEFAULT_BACKENDS))
    if (
        not isinstance(backends, list)
        or not 1 <= len(backends) <= 2
        or not all(isinstance(b, str) and b for b in backends)
    ):
        raise InputError(f"{source}: backends must be a list of one or two backend names")
    checks = raw.get("checks", [c for c in base.checks if c not in NOT_IN_CELLS])
    if not isinstance(checks, list) or not all(isinstance(c, str) for c in checks):
        raise InputError(f"{source}: checks must be a list of check family names")
    for c in checks:
        if c in NOT_IN_CELLS:
            raise InputError(
                f"{source}: check {c!r} cannot run in sweep cells (regression compares against "
                "a named scenario's baseline; convergence is the sign-off's)"
            )
        _suggest_key(c, scenario_mod.CHECK_FAMILIES, "checks", source)
    seeds = raw.get("seeds")
    if seeds is None:
        seed_list: list[int | None] = [None]
    elif (
        isinstance(seeds, list)
        and seeds
        and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds)
    ):
        seed_list = list(dict.fromkeys(seeds))
    else:
        raise InputError(f"{source}: seeds must be a non-empty list of non-negative integers")
    configurations = _configurations(raw, source)
    used = sorted({k for c in configurations for k in c})
    return Sweep(
        name=name,
        description=str(raw.get("description", "")),
        base=base,
        backends=tuple(backends),
        checks=tuple(dict.fromkeys(checks)),
        seeds=tuple(seed_list),
        configurations=tuple(configurations),
        source=source,
        fields_used=tuple(used),
    )
