"""Conv weights of an upstream Keras 3 ``model.keras``, read as data (JSON and HDF5 only).

``model.keras`` is a zip holding ``config.json`` (the layer graph) and ``model.weights.h5``.
Keras 3 keys each layer's HDF5 group by snake_case class name and a per-class counter
(``layers/conv2d_6`` may hold the layer named ``conv2d_8``); the layer's own name is the
attribute ``name`` of the group's ``vars`` subgroup, which is what this reader maps through.

Nothing in the file is deserialised as Keras objects: no layer class is looked up, no custom
object is resolved. The HDF5 file is opened from memory and every link is checked to be a
hard link and every dataset to be stored inside the file (no external storage, no virtual
dataset) and to need no filter plugin before a value is read. Errors are :class:`KerasArchiveError` (a ValueError).
"""

from __future__ import annotations

import io
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from backends.bundle.archive import SafeArchive

__all__ = ["KerasArchiveError", "KerasLayer", "KerasModelFile", "read_keras_model"]

MAX_WEIGHT_DATASETS = 10_000
BUILTIN_FILTERS = frozenset({1, 2, 3})
"""HDF5 filter ids built into the library: deflate, shuffle, fletcher32."""


class KerasArchiveError(ValueError):
    """``model.keras`` is malformed or holds something this reader refuses."""


@dataclass(frozen=True)
class KerasLayer:
    """One layer of ``config.json``: its name, class and the names of the layers it reads."""

    name: str
    class_name: str
    config: dict[str, Any]
    inbound: tuple[str, ...]


@dataclass
class KerasModelFile:
    """The layer graph and the weights (by layer name, in dataset order) of a model.keras."""

    layers: dict[str, KerasLayer]
    weights: dict[str, list[np.ndarray]]


def _inbound_names(nodes: Any) -> list[str]:
    found: list[str] = []

    def walk(x: Any) -> None:
        if isinstance(x, dict):
            if x.get("class_name") == "__keras_tensor__":
                history = (x.get("config") or {}).get("keras_history")
                if isinstance(history, list) and history and isinstance(history[0], str):
                    found.append(history[0])
                return
            for v in x.values():
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)

    walk(nodes)
    return found


def parse_config(text: bytes, source: str) -> dict[str, KerasLayer]:
    """The layers of a Keras 3 functional ``config.json``, by name, in config order."""
    try:
        config = json.loads(text.decode("utf-8"))
        raw_layers = config["config"]["layers"]
        if not isinstance(raw_layers, list):
            raise TypeError("'layers' is not a list")
        layers: dict[str, KerasLayer] = {}
        for raw in raw_layers:
            name = raw.get("name") or raw["config"]["name"]
            layers[str(name)] = KerasLayer(
                name=str(name),
                class_name=str(raw["class_name"]),
                config=dict(raw.get("config") or {}),
                inbound=tuple(_inbound_names(raw.get("inbound_nodes", []))),
            )
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
        raise KerasArchiveError(
            f"{source}: config.json is not a Keras functional model config ({exc})"
        ) from None
    return layers


def _check_links(group: Any, where: str) -> None:
    import h5py

    for key in group:
        link = group.get(key, getlink=True)
        if not isinstance(link, h5py.HardLink):
            raise KerasArchiveError(
                f"{where}: {group.name}/{key} is a {type(link).__name__}; only data stored "
                "inside the file is read"
            )


def _check_dataset(ds: Any, where: str) -> np.ndarray:
    import h5py

    plist = ds.id.get_create_plist()
    if plist.get_layout() not in (h5py.h5d.CONTIGUOUS, h5py.h5d.CHUNKED, h5py.h5d.COMPACT):
        raise KerasArchiveError(f"{where}: dataset {ds.name} is virtual; refused")
    if plist.get_external_count() > 0:
        raise KerasArchiveError(f"{where}: dataset {ds.name} uses external storage; refused")
    filters = {plist.get_filter(i)[0] for i in range(plist.get_nfilters())}
    if filters - BUILTIN_FILTERS:
        raise KerasArchiveError(
            f"{where}: dataset {ds.name} needs HDF5 filters {sorted(filters - BUILTIN_FILTERS)}; "
            "only the library's own deflate, shuffle and fletcher32 are read (others would load "
            "plugins)"
        )
    if ds.dtype.kind not in "fiu" or ds.dtype.fields is not None:
        raise KerasArchiveError(f"{where}: dataset {ds.name} has non-numeric dtype {ds.dtype}")
    return np.asarray(ds[()])


def read_weights_h5(data: bytes, source: str) -> dict[str, list[np.ndarray]]:
    """``layers/<key>/vars/<i>`` datasets by the layer's real name (the ``vars`` attribute)."""
    import h5py

    where = f"{source}: model.weights.h5"
    out: dict[str, list[np.ndarray]] = {}
    try:
        with h5py.File(io.BytesIO(data), "r") as h5:
            _check_links(h5, where)
            layers = h5.get("layers")
            if not isinstance(layers, h5py.Group):
                raise KerasArchiveError(f"{where}: no 'layers' group")
            _check_links(layers, where)
            count = 0
            for key in layers:
                group = layers[key]
                if not isinstance(group, h5py.Group) or "vars" not in group:
                    continue
                _check_links(group, where)
                variables = group["vars"]
                if not isinstance(variables, h5py.Group):
                    raise KerasArchiveError(f"{where}: {variables.name} is not a group")
                _check_links(variables, where)
                if len(variables) == 0:
                    continue
                name = variables.attrs.get("name", key)
                name = name.decode() if isinstance(name, bytes) else str(name)
                if name in out:
                    raise KerasArchiveError(f"{where}: two weight groups name layer {name!r}")
                indices = sorted(variables, key=lambda k: int(k) if k.isdigit() else -1)
                if any(not k.isdigit() for k in indices):
                    raise KerasArchiveError(f"{where}: {variables.name} has non-numeric keys")
                count += len(indices)
                if count > MAX_WEIGHT_DATASETS:
                    raise KerasArchiveError(f"{where}: more than {MAX_WEIGHT_DATASETS} datasets")
                arrays = []
                for k in indices:
                    ds = variables[k]
                    if not isinstance(ds, h5py.Dataset):
                        raise KerasArchiveError(f"{where}: {ds.name} is not a dataset")
                    arrays.append(_check_dataset(ds, where))
                out[name] = arrays
    except KerasArchiveError:
        raise
    except Exception as exc:  # h5py reports corrupt files with OSError, KeyError, ValueError...
        raise KerasArchiveError(f"{where} cannot be read ({type(exc).__name__}: {exc})") from None
    return out


def read_keras_model(data: bytes, source: str) -> KerasModelFile:
    """Parse a ``model.keras`` (bytes) into its layer graph and weights.

    The zip is checked by :class:`backends.bundle.archive.SafeArchive` (member names, sizes,
    compression ratio) from a private temporary copy; nothing is extracted.
    """
    with tempfile.TemporaryDirectory(prefix="keras-archive-") as tmp:
        copy = Path(tmp) / "model.keras"
        copy.write_bytes(data)
        try:
            with SafeArchive(copy) as archive:
                missing = [m for m in ("config.json", "model.weights.h5") if m not in archive]
                if missing:
                    raise KerasArchiveError(f"{source}: model.keras has no {', '.join(missing)}")
                config = archive.read("config.json")
                weights = archive.read("model.weights.h5")
        except KerasArchiveError:
            raise
        except ValueError as exc:
            message = str(exc).replace(str(copy), f"{source} (model.keras)")
            raise KerasArchiveError(message) from None
    return KerasModelFile(parse_config(config, source), read_weights_h5(weights, source))
