"""The legacy params snapshot each backend's configuration path produces, and their comparison.

TensorFlow path: canonical -> :func:`~backends.config.legacy.update_legacy_dict` on a fresh
params object. PyTorch path: canonical -> torch-native configs + overrides
(:func:`~backends.config.bridge.from_canonical`) -> bridge
(:func:`~backends.config.bridge.to_canonical`) -> canonical -> ``update_legacy_dict``. Each path
records the backend that ran it (``backend`` is set to the path's name), so ``backend`` is the
one key expected to differ. The bridge is called through its module, so a test can replace a
bridge function and watch the comparison catch it.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from dataclasses import dataclass, field
from typing import Any

from backends.config import bridge
from backends.config.canonical import InferenceConfig, TrainingConfig
from backends.config.legacy import LegacyParams, update_legacy_dict

#: Keys whose difference between the paths is expected, with the reason.
EXPECTED_DIFFERENCES = {"backend": "each path records its own backend"}
DIFFERENCE_KINDS = ("missing", "extra", "value", "type")

Config = TrainingConfig | InferenceConfig


@dataclass
class PathSnapshot:
    """One path's result: the legacy dict it produced (a copy, with ``bigN``), the canonical
    config it ended with, the fields that travelled as bridge overrides (PyTorch path only) and
    the warnings raised on the way."""

    backend: str
    params: dict[str, Any]
    canonical: Config
    overrides: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Difference:
    """One key on which two snapshots disagree. ``kind`` is 'missing' (only in the left
    snapshot), 'extra' (only in the right one), 'value' or 'type'; ``expected`` marks a
    difference listed in :data:`EXPECTED_DIFFERENCES`."""

    key: str
    kind: str
    left: Any = None
    right: Any = None
    expected: bool = False


def _populate(config: Config) -> dict[str, Any]:
    params = LegacyParams()
    update_legacy_dict(params, config)
    return params.params()


def tensorflow_snapshot(config: Config) -> PathSnapshot:
    """The TensorFlow path: the canonical config (backend 'tensorflow') written into a fresh
    legacy params object."""
    own = dataclasses.replace(config, backend="tensorflow")
    return PathSnapshot("tensorflow", _populate(own), own)


def pytorch_snapshot(config: Config) -> PathSnapshot:
    """The PyTorch path: the canonical config (backend 'pytorch') -> torch-native configs and
    overrides -> bridge -> canonical -> a fresh legacy params object."""
    own = dataclasses.replace(config, backend="pytorch")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        configs, overrides = bridge.from_canonical(own)
        canonical = bridge.to_canonical(configs, overrides)
    messages = [str(w.message) for w in caught]
    return PathSnapshot("pytorch", _populate(canonical), canonical, dict(overrides), messages)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return bool(a == b)


def compare_snapshots(left: dict[str, Any], right: dict[str, Any]) -> list[Difference]:
    """Every key on which ``left`` and ``right`` differ (missing, extra, value or type), in
    the order of ``left`` then the keys only ``right`` has. A type difference (``1`` against
    ``1.0``, ``True`` against ``1``) is reported even when the values compare equal."""
    out: list[Difference] = []
    for key, a in left.items():
        expected = key in EXPECTED_DIFFERENCES
        if key not in right:
            out.append(Difference(key, "missing", a, None, expected))
            continue
        b = right[key]
        if type(a) is not type(b):
            out.append(Difference(key, "type", a, b, expected))
        elif not _same(a, b):
            out.append(Difference(key, "value", a, b, expected))
    for key, b in right.items():
        if key not in left:
            out.append(Difference(key, "extra", None, b, key in EXPECTED_DIFFERENCES))
    return out


def unexpected(differences: list[Difference]) -> list[Difference]:
    """The differences not listed in :data:`EXPECTED_DIFFERENCES`."""
    return [d for d in differences if not d.expected]
