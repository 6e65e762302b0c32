"""Knob coverage: for each canonical configuration field, whether a run used a non-default value.

A parity run proves agreement only for the values it feeds both backends. This module lists every
model and training field of :mod:`backends.config.canonical` (plus the optimizer's learning
rate, a run setting), the default, the values one or more runs used and whether any of them
differs from the default. Fields a parity run cannot vary are listed with the reason.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

LEARNING_RATE = "learning_rate"
"""The optimizer's learning rate: a run setting (``[run].learning_rate``), not a config field."""
DEFAULT_LEARNING_RATE = 1e-3

NOT_VARIED = {
    "train_data_file": "set by the scenario's dataset",
    "test_data_file": "set by the scenario's test dataset",
    "output_dir": "chosen by the harness",
    "backend": "the harness chooses the backends itself",
    "probe_trainable": "unsupported: the probe is a constant of the model (physics.md 2.4)",
}
"""Fields no parity run varies, with the reason (not counted as missing coverage)."""


@dataclasses.dataclass(frozen=True)
class Knob:
    """Coverage of one field: where it lives, its default, the values seen."""

    field: str
    section: str
    default: Any
    values: tuple[Any, ...]
    exercised: bool
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        """JSON-able form (values as their repr-like strings)."""
        return {
            "field": self.field,
            "section": self.section,
            "default": _show(self.default),
            "values": [_show(v) for v in self.values],
            "exercised": self.exercised,
            "note": self.note,
        }


def _show(value: Any) -> Any:
    return value if isinstance(value, (bool, int, float, str)) or value is None else str(value)


def field_defaults() -> list[tuple[str, str, Any]]:
    """``(field, section, default)`` of every model field, training field and the learning rate;
    ``section`` is ``model``, ``training`` or ``run``."""
    from backends.config.canonical import ModelConfig, TrainingConfig

    out: list[tuple[str, str, Any]] = []
    for f in dataclasses.fields(ModelConfig):
        out.append((f.name, "model", f.default))
    for f in dataclasses.fields(TrainingConfig):
        if f.name == "model":
            continue
        default = f.default
        if default is dataclasses.MISSING and f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        out.append((f.name, "training", default))
    out.append((LEARNING_RATE, "run", DEFAULT_LEARNING_RATE))
    return out


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return float(a) == float(b)
    return bool(a == b)


def used_values(config: Mapping[str, Any], learning_rate: float) -> dict[str, Any]:
    """The value of each knob given a scenario's ``config`` table (model fields under
    ``config["model"]``) and its learning rate; fields absent from the table are omitted."""
    out = {k: v for k, v in config.items() if k != "model"}
    out.update(config.get("model", {}) or {})
    out[LEARNING_RATE] = learning_rate
    return out


def coverage(runs: Iterable[Mapping[str, Any]]) -> list[Knob]:
    """Coverage over runs, each given as :func:`used_values`."""
    runs = list(runs)
    knobs = []
    for name, section, default in field_defaults():
        seen: list[Any] = []
        for run in runs:
            value = run.get(name, default)
            if not any(_same(value, s) and type(value) is type(s) for s in seen):
                seen.append(value)
        exercised = any(not _same(v, default) for v in seen)
        knobs.append(Knob(name, section, default, tuple(seen), exercised, NOT_VARIED.get(name, "")))
    return knobs


def missing(knobs: Iterable[Knob]) -> list[str]:
    """Fields never given a non-default value, except those no parity run varies."""
    return [k.field for k in knobs if not k.exercised and k.field not in NOT_VARIED]


def scenario_coverage(scenario: Any) -> list[dict[str, Any]]:
    """Coverage of one scenario, JSON-able (the ``knobs`` section of a report)."""
    values = used_values(scenario.config, scenario.run.learning_rate)
    values.setdefault("subsample_seed", scenario.seeds.data)
    return [k.to_json() for k in coverage([values])]
