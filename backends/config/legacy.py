"""The legacy flat params dictionary and the canonical -> legacy translation.

docs/config.md (b) and (c). The legacy dict is an explicit :class:`LegacyParams` object behind the
module-level singleton :data:`params`; tests snapshot and restore it (:meth:`LegacyParams.snapshot`,
:meth:`LegacyParams.restore`) or use a fresh instance.

Emitted keys. The canonical ModelConfig has one project field more than upstream
(``combine_mode``), which the translation emits like any other model field, so
:func:`to_legacy` emits **35** keys for a TrainingConfig (23 non-model + 12 model) and **24** for
an InferenceConfig (12 + 12), one more than upstream's 34 / 23; with all defaults 29 and 19 of
them are non-None (upstream 28 / 18).
"""

from __future__ import annotations

import copy
import dataclasses
import warnings
from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

DATA_SOURCES = (
    "lines",
    "grf",
    "experimental",
    "points",
    "testimg",
    "diagonals",
    "xpp",
    "V",
    "generic",
)

#: Canonical field -> legacy key, in the order the translation applies them (spec (c) step 3).
KEY_MAPPINGS: tuple[tuple[str, str], ...] = (
    ("object_big", "object.big"),
    ("probe_big", "probe.big"),
    ("probe_mask", "probe.mask"),
    ("probe_trainable", "probe.trainable"),
    ("intensity_scale_trainable", "intensity_scale.trainable"),
    ("positions_provided", "positions.provided"),
    ("output_dir", "output_prefix"),
    ("train_data_file", "train_data_file_path"),
    ("test_data_file", "test_data_file_path"),
)
_LEGACY_NAME = dict(KEY_MAPPINGS)

#: Keys the save gate (docs/persistence.md 3.6) requires to be present and not None.
SAVE_REQUIRED_KEYS = (
    "N",
    "gridsize",
    "model_type",
    "amp_activation",
    "n_filters_scale",
    "object.big",
    "probe.big",
    "probe.mask",
    "pad_object",
    "probe_scale",
    "nphotons",
    "backend",
)

POPULATION_SOURCES = ("canonical", "bundle")
_MISSING = object()


def import_defaults() -> dict[str, Any]:
    """The 40 keys the legacy dict holds at import (docs/config.md (b)), a new dict each call."""
    return {
        "N": 128,
        "offset": 4,
        "gridsize": 2,
        "outer_offset_train": None,
        "outer_offset_test": None,
        "batch_size": 16,
        "nepochs": 60,
        "n_filters_scale": 2,
        "output_prefix": "outputs",
        "big_gridsize": 10,
        "max_position_jitter": 10,
        "sim_jitter_scale": 0.0,
        "default_probe_scale": 0.7,
        "mae_weight": 0.0,
        "nll_weight": 1.0,
        "tv_weight": 0.0,
        "realspace_mae_weight": 0.0,
        "realspace_weight": 0.0,
        "nphotons": 1e9,
        "nimgs_train": 9,
        "nimgs_test": 3,
        "data_source": "generic",
        "probe.trainable": False,
        "intensity_scale.trainable": False,
        "positions.provided": False,
        "object.big": True,
        "probe.big": False,
        "probe_scale": 10.0,
        "set_phi": False,
        "probe.mask": True,
        "pad_object": True,
        "model_type": "pinn",
        "label": "",
        "size": 392,
        "amp_activation": "sigmoid",
        "h5_path": "wts.h5",
        "npseed": 42,
        "debug": True,
        "gaussian_smoothing_sigma": 0.0,
        "use_xla_translate": True,
    }


@dataclass(frozen=True)
class ParamsState:
    """A saved state of a :class:`LegacyParams` (keys, values and population source)."""

    values: dict[str, Any]
    populated_from: str | None


class LegacyParams(MutableMapping[str, Any]):
    """The legacy flat params dict (docs/config.md (b)) as an explicit object.

    Item access (``p[key]``, ``p[key] = v``) is the raw dict; :meth:`get` and :meth:`set` have
    the legacy semantics (``set`` validates the whole dict afterwards and leaves the failed
    value assigned). ``populated_from`` records whether the dict was populated in this process
    from a canonical config (:func:`update_legacy_dict`) or from a bundle, or not at all.
    """

    def __init__(self, values: dict[str, Any] | None = None) -> None:
        self._cfg: dict[str, Any] = import_defaults() if values is None else dict(values)
        self.populated_from: str | None = None

    # -- mapping protocol (raw access, no validation) ---------------------------------------
    def __getitem__(self, key: str) -> Any:
        return self._cfg[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._cfg[key] = value

    def __delitem__(self, key: str) -> None:
        del self._cfg[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._cfg)

    def __len__(self) -> int:
        return len(self._cfg)

    def __repr__(self) -> str:
        return f"LegacyParams({len(self._cfg)} keys, populated_from={self.populated_from!r})"

    @property
    def cfg(self) -> LegacyParams:
        """The dict itself (``params.cfg[key]`` reads like upstream's module attribute)."""
        return self

    def clear(self) -> None:
        """Remove every key; the dict counts as not populated afterwards."""
        self._cfg.clear()
        self.populated_from = None

    def reset(self) -> None:
        """Back to the import-time defaults, not populated."""
        self._cfg = import_defaults()
        self.populated_from = None

    # -- legacy accessors -------------------------------------------------------------------
    def get(self, key: str, default: Any = _MISSING) -> Any:
        """The value of ``key``; ``'bigN'`` is computed and cached in the dict.

        Unknown keys raise ``KeyError`` unless a default is given.
        """
        if key == "bigN":
            self._cfg["bigN"] = self.get_bigN()
            return self._cfg["bigN"]
        if key in self._cfg:
            return self._cfg[key]
        if default is _MISSING:
            raise KeyError(key)
        return default

    def set(self, key: str, value: Any) -> None:
        """Assign ``key``, then :meth:`validate` the whole dict (the value stays on failure)."""
        self._cfg[key] = value
        self.validate()

    def validate(self) -> bool:
        """Assert the legacy invariants: ``data_source`` in :data:`DATA_SOURCES`, and
        ``realspace_mae_weight > 0`` implies ``realspace_weight > 0`` (bare AssertionError)."""
        source = self._cfg.get("data_source")
        if source not in DATA_SOURCES:
            raise AssertionError(
                f"Invalid data source: {source!r}. Must be one of {list(DATA_SOURCES)}."
            )
        if self._cfg.get("realspace_mae_weight", 0.0) > 0.0 and not (
            self._cfg.get("realspace_weight", 0.0) > 0.0
        ):
            raise AssertionError()
        return True

    def get_bigN(self) -> int:
        """``N + (gridsize - 1) * offset``."""
        return int(self._cfg["N"] + (self._cfg["gridsize"] - 1) * self._cfg["offset"])

    def get_padding_size(self) -> int:
        """``(gridsize - 1) * offset + max_position_jitter``."""
        cfg = self._cfg
        return int((cfg["gridsize"] - 1) * cfg["offset"] + cfg["max_position_jitter"])

    def get_padded_size(self) -> int:
        """``bigN + max_position_jitter``."""
        return self.get_bigN() + int(self._cfg["max_position_jitter"])

    def params(self) -> dict[str, Any]:
        """A copy of the dict plus ``bigN`` (the dict itself is not changed)."""
        out = dict(self._cfg)
        out["bigN"] = self.get_bigN()
        return out

    # -- population tracking ----------------------------------------------------------------
    def mark_populated(self, source: str) -> None:
        """Record that the dict was populated from ``source`` ('canonical' or 'bundle')."""
        if source not in POPULATION_SOURCES:
            raise ValueError(
                f"population source {source!r} is not allowed; choose one of: "
                f"{', '.join(POPULATION_SOURCES)}"
            )
        self.populated_from = source

    def restore_from_bundle(self, snapshot: dict[str, Any]) -> None:
        """Overwrite every key of a bundle's params snapshot (None included), drop ``bigN``,
        leave other keys untouched and mark the dict as populated from a bundle
        (docs/persistence.md 3.7 step 7)."""
        for key, value in snapshot.items():
            if key in {"bigN", "_version"}:
                continue
            self._cfg[key] = value
        self._cfg.pop("bigN", None)
        self.mark_populated("bundle")

    # -- test helpers -----------------------------------------------------------------------
    def snapshot(self) -> ParamsState:
        """A deep copy of the current state, for :meth:`restore`."""
        return ParamsState(copy.deepcopy(self._cfg), self.populated_from)

    def restore(self, state: ParamsState) -> None:
        """Return to a state taken by :meth:`snapshot` (keys, order and population source)."""
        self._cfg = copy.deepcopy(state.values)
        self.populated_from = state.populated_from


#: The process-wide legacy dict (upstream's ``params.cfg``).
params = LegacyParams()


def _require_dataclass(obj: Any) -> None:
    if not dataclasses.is_dataclass(obj) or isinstance(obj, type):
        raise TypeError(
            f"expected a canonical config instance (ModelConfig, TrainingConfig or "
            f"InferenceConfig), got {type(obj).__name__}"
        )


def to_legacy(config: Any) -> dict[str, Any]:
    """``dataclass_to_legacy_dict``: the canonical config as legacy keys (spec (c) steps 1-4).

    1. deep conversion to a dict (Paths survive); 2. the ``model`` container is popped and its
    fields appended; 3. :data:`KEY_MAPPINGS` applied in order, each mapped key removed and
    re-appended at the end under its legacy name, Paths under a mapped key becoming ``str``.
    Nothing else changes: None values are kept and ``model_path`` stays a Path.
    """
    _require_dataclass(config)
    d = dataclasses.asdict(config)
    if "model" in d:
        d.update(d.pop("model"))
    for name, legacy_name in KEY_MAPPINGS:
        if name in d:
            value = d.pop(name)
            d[legacy_name] = str(value) if isinstance(value, PurePath) else value
    return d


def dataclass_to_legacy_dict(config: Any) -> dict[str, Any]:
    """Upstream name of :func:`to_legacy`."""
    return to_legacy(config)


def to_legacy_snapshot(config: Any) -> dict[str, Any]:
    """The persisted form of :func:`to_legacy`: every Path as ``str``, None values kept."""
    return {k: str(v) if isinstance(v, PurePath) else v for k, v in to_legacy(config).items()}


def legacy_name(field_name: str) -> str:
    """The legacy key a canonical field is written under."""
    return _LEGACY_NAME.get(field_name, field_name)


def update_legacy_dict(cfg: MutableMapping[str, Any], config: Any) -> None:
    """Write a canonical config into the legacy dict ``cfg`` (upstream semantics, spec (c)).

    Walks :func:`to_legacy` in order; None values are skipped (the old value survives); a Path
    becomes ``str``; existing keys keep their place, new keys are appended. Nothing is deleted,
    validated or derived. A :class:`LegacyParams` is marked as populated from a canonical config.
    """
    for key, value in to_legacy(config).items():
        if value is None:
            continue
        cfg[key] = str(value) if isinstance(value, PurePath) else value
    if isinstance(cfg, LegacyParams):
        cfg.mark_populated("canonical")


def populate_legacy_params(
    config: Any, target: LegacyParams | None = None, *, force: bool = False
) -> LegacyParams:
    """:func:`update_legacy_dict` into ``target`` (default: the singleton :data:`params`).

    Warns (UserWarning) when the dict was already populated in this process, unless ``force``.
    Returns the dict.
    """
    target = params if target is None else target
    if target.populated_from is not None and not force:
        warnings.warn(
            f"the legacy params were already populated from a {target.populated_from} config "
            "in this process; overwriting them (pass force=True to silence this)",
            UserWarning,
            stacklevel=2,
        )
    update_legacy_dict(target, config)
    return target


def check_save_gate(cfg: MutableMapping[str, Any]) -> None:
    """The CONFIG gate of docs/persistence.md 3.6 step 1: raise ValueError when the dict is
    empty, was not populated from a canonical config in this process, or misses a key of
    :data:`SAVE_REQUIRED_KEYS` (or holds None there)."""
    problems: list[str] = []
    if len(cfg) == 0:
        problems.append("the legacy params dict is empty")
    populated = getattr(cfg, "populated_from", None)
    if populated != "canonical":
        problems.append(
            "the legacy params dict was not populated from a canonical config in this process "
            f"(populated_from={populated!r})"
        )
    missing = [k for k in SAVE_REQUIRED_KEYS if cfg.get(k, None) is None]
    if missing:
        problems.append(f"missing or None keys: {', '.join(missing)}")
    if problems:
        raise ValueError(
            "saving was refused to prevent an unreloadable bundle: "
            + "; ".join(problems)
            + ". Call update_legacy_dict(params, config) with the canonical config that built "
            "the model before saving."
        )
