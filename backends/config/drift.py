"""The default-drift table of docs/config.md (g), computed from the code.

Four layers: ``tensorflow`` (the canonical dataclass defaults), ``legacy`` (a fresh legacy
params dict, i.e. the dict at import), ``torch`` (the torch-native defaults after bridging with
the minimal overrides the bridge requires) and ``factory`` (the training factory with only its
required inputs). Nothing here is typed in except :data:`DOCUMENTED_DRIFT`, the names of the
fields the specification lists as drifting; :func:`undocumented` reports any other drift.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

from backends.config import bridge, factory
from backends.config import fields as _fields
from backends.config.canonical import InferenceConfig, ModelConfig, TrainingConfig
from backends.config.legacy import LegacyParams, legacy_name
from backends.config.torch_native import DataConfig
from backends.config.torch_native import ModelConfig as TorchModelConfig
from backends.config.torch_native import TrainingConfig as TorchTrainingConfig

LAYERS = ("tensorflow", "legacy", "torch", "factory")
#: Fields docs/config.md (g) lists as drifting between the layers.
DOCUMENTED_DRIFT = frozenset(
    {
        "N",
        "gridsize",
        "amp_activation",
        "object_big",
        "probe_big",
        "probe_mask",
        "probe_scale",
        "nepochs",
        "nphotons",
        "neighbor_count",
        "positions_provided",
        "intensity_scale_trainable",
        "output_dir",
        "debug",
        "n_groups",
        "n_subsample",
    }
)
#: Fields that differ between layers by design (not drift).
BY_DESIGN = {"backend": "names the backend the layer belongs to"}

_PLACEHOLDER_PATH = Path("placeholder.npz")
_PLACEHOLDER_GROUPS = 1


@dataclass(frozen=True)
class Cell:
    """One layer's entry for a field. ``kind``: 'value' (``train``/``infer`` hold the
    training-side and inference-side values, either may be :data:`NA`), 'absent' (the layer
    has no such key), 'required' (the layer has no default: the caller must give it),
    'error' (the layer's default is ``train``/``infer`` but the bridge refuses it) or 'na'."""

    kind: str
    train: Any = None
    infer: Any = None
    text: str = ""


class _NotApplicable:
    def __repr__(self) -> str:
        return "NA"


NA: Any = _NotApplicable()


@dataclass(frozen=True)
class DriftRow:
    """One canonical field across the layers."""

    field: str
    legacy_key: str
    cells: dict[str, Cell]
    status: str  # 'same', 'drift' or 'by design'
    notes: tuple[str, ...] = ()

    @property
    def documented(self) -> bool:
        """Whether docs/config.md (g) lists this field as drifting."""
        return self.field in DOCUMENTED_DRIFT


def _show(value: Any) -> str:
    if value is NA:
        return "–"
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float):
        return format_float(value)
    return str(value)


def format_float(value: float) -> str:
    """Compact float text: ``1e9`` for large or tiny magnitudes (shortest round-trip digits),
    ``repr`` otherwise."""
    if value != 0 and math.isfinite(value) and (abs(value) >= 1e5 or abs(value) < 1e-3):
        sign, digits, exponent = Decimal(repr(value)).normalize().as_tuple()
        text = "".join(map(str, digits))
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        return f"{'-' if sign else ''}{mantissa}e{int(exponent) + len(text) - 1}"
    return repr(value)


def _value_cell(train: Any, infer: Any = NA, text: str | None = None) -> Cell:
    if text is None:
        if infer is NA or (train is not NA and _key(train) == _key(infer)):
            text = _show(train)
        elif train is NA:
            text = _show(infer)
        else:
            text = f"{_show(train)} / {_show(infer)}"
    return Cell("value", train, infer, text)


def _key(value: Any) -> tuple[str, Any]:
    if isinstance(value, (bool, np.bool_)):
        return ("bool", bool(value))
    if isinstance(value, (int, float)):
        return ("number", float(value))
    if isinstance(value, Path):
        return ("text", str(value))
    if isinstance(value, str):
        return ("text", value)
    return (type(value).__name__, value)


def _all_fields() -> list[str]:
    names = list(_fields.field_specs(ModelConfig))
    for cls in (TrainingConfig, InferenceConfig):
        names += [n for n in _fields.field_specs(cls) if n != "model" and n not in names]
    return names


def _canonical_cells() -> dict[str, Cell]:
    training = TrainingConfig(model=ModelConfig())
    infer_specs = _fields.field_specs(InferenceConfig)
    cells = {}
    for name in _all_fields():
        if name in bridge.MODEL_FIELDS:
            value = getattr(training.model, name)
            cells[name] = _value_cell(value, value)
            continue
        train = getattr(training, name) if hasattr(training, name) else NA
        if name not in infer_specs or infer_specs[name].required:
            infer = NA
        else:
            infer = _fields.default_value(InferenceConfig, name)
        if train is NA and infer is NA:
            cells[name] = Cell("required", text="required")
        else:
            cells[name] = _value_cell(train, infer)
    return cells


def _legacy_cells() -> dict[str, Cell]:
    fresh = LegacyParams()
    cells = {}
    for name in _all_fields():
        key = legacy_name(name)
        cells[name] = (
            _value_cell(fresh[key], fresh[key]) if key in fresh else Cell("absent", text="absent")
        )
    return cells


def _quiet(call: Callable[[], Any]) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return call()


def _raises(call: Callable[[], Any]) -> bool:
    try:
        _quiet(call)
    except ValueError:
        return True
    return False


def _torch_training(overrides: dict[str, Any], data: DataConfig | None = None) -> TrainingConfig:
    configs = bridge.TorchConfigs(
        "training", data or DataConfig(), TorchModelConfig(), TorchTrainingConfig()
    )
    result = _quiet(lambda: bridge.to_canonical(configs, overrides))
    assert isinstance(result, TrainingConfig)
    return result


def _torch_inference(overrides: dict[str, Any]) -> InferenceConfig:
    configs = bridge.TorchConfigs(
        "inference", DataConfig(), TorchModelConfig(), TorchTrainingConfig()
    )
    result = _quiet(lambda: bridge.to_canonical(configs, overrides))
    assert isinstance(result, InferenceConfig)
    return result


def _perturbed(value: Any) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + 1
    if isinstance(value, str):
        return value + "_changed"
    if value is None:
        return 1
    return dataclasses.MISSING


def _forwarded(torch_cls: type, name: str, canonical_name: str, base: dict[str, Any]) -> bool:
    """Whether changing the torch-native field changes the bridged canonical field."""
    changed = _perturbed(_fields.default_value(torch_cls, name))
    if changed is dataclasses.MISSING:
        return True
    instances: dict[type, Any] = {
        DataConfig: DataConfig(),
        TorchModelConfig: TorchModelConfig(),
        TorchTrainingConfig: TorchTrainingConfig(),
    }
    setattr(instances[torch_cls], name, changed)
    configs = bridge.TorchConfigs(
        "training",
        instances[DataConfig],
        instances[TorchModelConfig],
        instances[TorchTrainingConfig],
    )
    try:
        result = _quiet(lambda: bridge.to_canonical(configs, base))
    except ValueError:
        return True
    reference = _torch_training(base)
    return bool(_get(result, canonical_name) != _get(reference, canonical_name))


def _get(config: TrainingConfig | InferenceConfig, name: str) -> Any:
    return getattr(config.model if name in bridge.MODEL_FIELDS else config, name)


def _torch_cells() -> tuple[dict[str, Cell], dict[str, list[str]]]:
    torch_nphotons = _fields.default_value(DataConfig, "nphotons")
    placeholders_train = {"train_data_file": _PLACEHOLDER_PATH, "n_groups": _PLACEHOLDER_GROUPS}
    base_train = {"nphotons": torch_nphotons, **placeholders_train}
    placeholders_infer = {"model_path": _PLACEHOLDER_PATH, "test_data_file": _PLACEHOLDER_PATH}
    training = _torch_training(base_train)
    inference = _torch_inference(placeholders_infer)
    notes: dict[str, list[str]] = {}
    if _raises(lambda: _torch_training(placeholders_train)):
        notes.setdefault("nphotons", []).append(
            "torch: the bridge refuses the torch nphotons default unless nphotons is overridden"
        )
    infer_names = set(_fields.field_specs(InferenceConfig))
    cells: dict[str, Cell] = {}
    for name in _all_fields():
        src = training.model if name in bridge.MODEL_FIELDS else training
        train = getattr(src, name) if hasattr(src, name) else NA
        isrc = inference.model if name in bridge.MODEL_FIELDS else inference
        infer = getattr(isrc, name) if name in infer_names or name in bridge.MODEL_FIELDS else NA
        train_error = infer_error = False
        if name in placeholders_train:
            others = {k: v for k, v in base_train.items() if k != name}
            if _raises(lambda others=others: _torch_training(others)):  # type: ignore[misc]
                train = _fields.default_value(TorchTrainingConfig, name)
                train_error = True
        if name in placeholders_infer:
            others = {k: v for k, v in placeholders_infer.items() if k != name}
            if _raises(lambda others=others: _torch_inference(others)):  # type: ignore[misc]
                infer = None
                infer_error = True
        error = train_error or infer_error
        if error:
            parts = [
                _show(v) + (" → error" if failed else "")
                for v, failed in ((train, train_error), (infer, infer_error))
                if v is not NA
            ]
            cells[name] = Cell("error", train, infer, " / ".join(dict.fromkeys(parts)))
        else:
            cells[name] = _value_cell(train, infer)
        for torch_cls in (DataConfig, TorchModelConfig, TorchTrainingConfig):
            if name not in {f.name for f in dataclasses.fields(torch_cls)} or error:
                continue
            native = _fields.default_value(torch_cls, name)
            if _key(native) != _key(train) and not _forwarded(torch_cls, name, name, base_train):
                notes.setdefault(name, []).append(
                    f"torch: {torch_cls.__name__}.{name}={native!r} exists but is not "
                    "forwarded (it has another meaning)"
                )
                cells[name] = Cell("value", native, infer, f"{_show(native)} (not forwarded)")
    return cells, notes


def _factory_cells() -> tuple[dict[str, Cell], dict[str, list[str]]]:
    notes: dict[str, list[str]] = {}
    required_args = {
        p.name
        for p in inspect.signature(factory.create_training_payload).parameters.values()
        if p.default is inspect.Parameter.empty
    }
    with tempfile.TemporaryDirectory() as tmp:
        plain = Path(tmp) / "no_probe.npz"
        np.savez(plain, xcoords=np.zeros(1))
        with_probe = Path(tmp) / "probe.npz"
        np.savez(with_probe, probeGuess=np.ones((2 * factory.FALLBACK_N, 2 * factory.FALLBACK_N)))
        out = Path(tmp) / "out"
        base = {"n_groups": _PLACEHOLDER_GROUPS}

        def run(path: Path, overrides: dict[str, Any]) -> TrainingConfig:
            payload = _quiet(
                lambda: factory.create_training_payload(path, out, overrides, params=LegacyParams())
            )
            return payload.tf_training_config

        result = run(plain, base)
        n_from_probe = run(with_probe, base).model.N
        groups_required = _raises(lambda: run(plain, {}))
    cells: dict[str, Cell] = {}
    for name in _all_fields():
        if name in required_args or (name == "n_groups" and groups_required):
            cells[name] = Cell("required", text="required")
        elif name in bridge.MODEL_FIELDS:
            value = getattr(result.model, name)
            text = None
            if name == "N" and n_from_probe != value:
                text = f"from NPZ, else {value}"
                notes.setdefault(name, []).append(
                    "factory: N is the first dimension of the NPZ probeGuess when present"
                )
            cells[name] = _value_cell(value, NA, text)
        elif hasattr(result, name):
            cells[name] = _value_cell(getattr(result, name))
        else:
            cells[name] = Cell("na", text="–")
    return cells, notes


def _values(cell: Cell) -> list[tuple[str, Any]]:
    if cell.kind not in {"value", "error"}:
        return []
    return [(side, v) for side, v in (("train", cell.train), ("infer", cell.infer)) if v is not NA]


def _drifts(cells: dict[str, Cell]) -> bool:
    for side in ("train", "infer"):
        seen = set()
        for layer, cell in cells.items():
            if layer == "legacy" and cell.kind == "value":
                seen.add(_key(cell.train))
                continue
            seen.update(_key(v) for s, v in _values(cell) if s == side)
        if len(seen) > 1:
            return True
    return False


def compute_drift() -> list[DriftRow]:
    """The drift table: one :class:`DriftRow` per canonical field, in canonical order."""
    tf = _canonical_cells()
    legacy = _legacy_cells()
    torch, torch_notes = _torch_cells()
    fact, factory_notes = _factory_cells()
    rows = []
    for name in _all_fields():
        cells = {
            "tensorflow": tf[name],
            "legacy": legacy[name],
            "torch": torch[name],
            "factory": fact[name],
        }
        status = "by design" if name in BY_DESIGN else "drift" if _drifts(cells) else "same"
        notes = tuple(torch_notes.get(name, []) + factory_notes.get(name, []))
        rows.append(DriftRow(name, legacy_name(name), cells, status, notes))
    return rows


def drifting(rows: list[DriftRow]) -> set[str]:
    """Names of the fields whose status is 'drift'."""
    return {r.field for r in rows if r.status == "drift"}


def undocumented(rows: list[DriftRow]) -> list[str]:
    """Fields that drift although docs/config.md (g) does not list them."""
    return [r.field for r in rows if r.status == "drift" and not r.documented]


def resolved(rows: list[DriftRow]) -> list[str]:
    """Fields (g) lists as drifting that no longer drift."""
    found = drifting(rows)
    return sorted(DOCUMENTED_DRIFT - found)


__all__ = [
    "BY_DESIGN",
    "DOCUMENTED_DRIFT",
    "LAYERS",
    "Cell",
    "DriftRow",
    "compute_drift",
    "drifting",
    "resolved",
    "undocumented",
]
