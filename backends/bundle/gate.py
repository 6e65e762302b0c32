"""The CONFIG save gate, the snapshot consistency check and params restoration.

docs/persistence.md sections 3.6 (steps 1 and 3) and 3.7 (step 7). The legacy params object
(:mod:`backends.config.legacy`) is used through a small duck-typed surface so that this module
works with it, with a plain dict, or with a test double:

* a mutable mapping, or an object whose ``cfg`` attribute is one;
* ``populated_from`` (None until populated), set to ``"bundle"`` by :func:`restore_params`
  (through ``mark_populated(source)`` when the object provides it).
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from pathlib import PurePath
from typing import Any, Protocol

import numpy as np

from backends.config.legacy import SAVE_REQUIRED_KEYS

__all__ = [
    "REQUIRED_KEYS",
    "check_save_gate",
    "check_snapshot_consistency",
    "legacy_mapping",
    "restore_params",
]

REQUIRED_KEYS = SAVE_REQUIRED_KEYS
"""Keys the gate requires to be present and not None (section 3.6 step 1)."""


class _HasParams(Protocol):
    @property
    def params(self) -> Mapping[str, Any]: ...


_REMEDY = (
    "call update_legacy_dict(params.cfg, config) with the canonical config that built the "
    "model before saving; saving was refused to prevent an unreloadable bundle"
)


def legacy_mapping(params_obj: Any) -> MutableMapping[str, Any]:
    """The mutable key/value store behind a legacy params object (or the dict itself)."""
    if isinstance(params_obj, MutableMapping):
        return params_obj
    cfg = getattr(params_obj, "cfg", None)
    if isinstance(cfg, MutableMapping):
        return cfg
    raise TypeError(
        f"{type(params_obj).__name__} is not a legacy params object: expected a mutable "
        "mapping or an object with a mapping attribute 'cfg'"
    )


def _populated(params_obj: Any) -> bool:
    return getattr(params_obj, "populated_from", None) == "canonical"


def check_save_gate(params_obj: Any, populated: bool | None = None) -> None:
    """Refuse to save from a legacy dict that cannot describe the model (section 3.6 step 1).

    ``populated`` says whether the dict was populated from a canonical config in this process;
    when None it is read from ``params_obj.populated_from`` (which must be ``"canonical"``:
    after loading a bundle, call ``update_legacy_dict`` again before saving). A plain dict
    without that attribute needs ``populated=True``, e.g. a snapshot being written.
    """
    cfg = legacy_mapping(params_obj)
    if populated is None:
        populated = _populated(params_obj)
    if not cfg:
        raise ValueError(f"CONFIG gate: the legacy params dict is empty; {_REMEDY}")
    missing = [k for k in REQUIRED_KEYS if cfg.get(k, None) is None]
    problems = []
    if not populated:
        problems.append(
            "the legacy params dict was not populated from a canonical config in this "
            "process (import-time defaults do not describe the model)"
        )
    if missing:
        problems.append(f"required keys are missing or None: {', '.join(missing)}")
    if problems:
        raise ValueError(f"CONFIG gate: {'; '.join(problems)}; {_REMEDY}")


def _normalise(value: Any) -> Any:
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, tuple):
        return [_normalise(v) for v in value]
    if isinstance(value, list):
        return [_normalise(v) for v in value]
    return value


def check_snapshot_consistency(
    snapshot: Mapping[str, Any], expected: Mapping[str, Any], *, context: str = "params snapshot"
) -> None:
    """Raise ValueError listing every key whose snapshot value differs from ``expected``.

    ``expected`` is ``to_legacy_snapshot(canonical_config)`` (section 3.6 step 3). Keys that
    the canonical config leaves None are not compared, because ``update_legacy_dict`` skips
    None values by design (the previous value survives, config.md (c)).
    """
    diffs = []
    for key, want in expected.items():
        if want is None:
            continue
        have = snapshot.get(key, None)
        if isinstance(have, np.ndarray) or isinstance(want, np.ndarray):
            same = (
                isinstance(have, np.ndarray)
                and isinstance(want, np.ndarray)
                and have.shape == want.shape
                and bool(np.array_equal(have, want))
            )
        else:
            same = _normalise(have) == _normalise(want)
        if not same:
            diffs.append(f"{key}: {have!r} (snapshot) != {want!r} (config)")
    if diffs:
        raise ValueError(
            f"{context} does not match the canonical config that built the model; differing "
            f"fields: {'; '.join(diffs)}"
        )


def restore_params(params_obj: Any, snapshot: Mapping[str, Any] | _HasParams) -> None:
    """Overwrite the legacy dict with every key of a bundle's params snapshot (section 3.7
    step 7): None values included, arrays as NumPy arrays, ``bigN`` dropped (and a cached
    one removed, since N or gridsize may change), ``_version`` never injected, other keys left
    untouched; then mark the dict as populated from a bundle.

    ``snapshot`` is ``BundleContents.params`` (or the contents object itself).
    """
    source: Mapping[str, Any] = snapshot if isinstance(snapshot, Mapping) else snapshot.params
    params = {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in source.items()}
    restore = getattr(params_obj, "restore_from_bundle", None)
    if callable(restore):
        restore(params)
        return
    cfg = legacy_mapping(params_obj)
    for key, value in params.items():
        if key in ("bigN", "_version"):
            continue
        cfg[key] = value
    cfg.pop("bigN", None)
    mark = getattr(params_obj, "mark_populated", None)
    if callable(mark):
        mark("bundle")
    elif hasattr(params_obj, "populated_from"):
        params_obj.populated_from = "bundle"
