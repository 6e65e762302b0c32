"""TensorFlow bundles (docs/persistence.md section 3.4) on top of :mod:`backends.bundle`.

Each model directory holds ``model.weights.h5`` (payload id ``keras-weights-h5``), written by
Keras' ``save_weights``. Loading rebuilds the architecture from the params snapshot, then reads
the weights file with h5py and assigns every variable by layer name: a missing, extra or
misshapen variable raises an error naming the model and the variable. Nothing is unpickled and
no ``.keras`` graph is deserialised.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from backends import graph
from backends.base import LoadedBundle
from backends.bundle import MODEL_NAMES, WeightsMismatchError, WeightsPayload
from backends.config.canonical import ModelConfig, TrainingConfig, model_fields
from backends.core.constants import DEFAULT_MAX_POSITION_JITTER, DEFAULT_OFFSET
from backends.core.snapshot import model_config_from_params
from backends.core.snapshot import params_snapshot as core_snapshot
from backends.safeio import WeightsFileError, open_hdf5
from backends.tensorflow.layers import CUSTOM_OBJECTS
from backends.tensorflow.model import PtychoPINN, build_model, layer_name

PAYLOAD_FORMAT = "keras-weights-h5"
WEIGHTS_FILE = "model.weights.h5"
BACKEND = "tensorflow"

# ----------------------------------------------------------------------------- params


def params_snapshot(model: PtychoPINN, config: TrainingConfig, intensity_scale: float) -> Any:
    """The legacy params populated from ``config`` (update_legacy_dict) plus the runtime keys
    ``intensity_scale`` and ``probe`` (the model's normalised probe, (N, N, 1) complex64) and
    the geometry the model was built with (``offset``, ``max_position_jitter``)."""
    if config.model != model.config:
        diffs = [
            f"{f}: {getattr(config.model, f)!r} (config) != {getattr(model.config, f)!r} (model)"
            for f in model_fields()
            if getattr(config.model, f) != getattr(model.config, f)
        ]
        raise ValueError(
            "the training config does not describe the model being saved; differing fields: "
            + "; ".join(diffs)
        )
    return core_snapshot(
        config,
        backend=BACKEND,
        intensity_scale=intensity_scale,
        probe=np.asarray(model.probe),
        offset=model.offset,
        max_position_jitter=model.max_position_jitter,
    )


# ----------------------------------------------------------------------------- weights files


def weights_bytes(model: Any) -> WeightsPayload:
    """The payload id, file name and bytes of ``model.save_weights`` (written into a private
    temporary directory)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / WEIGHTS_FILE
        model.save_weights(str(path))
        return WeightsPayload(PAYLOAD_FORMAT, WEIGHTS_FILE, path.read_bytes())


def read_weights_file(data: bytes, model_name: str) -> dict[str, list[np.ndarray]]:
    """Layer name -> its variables (in Keras order) from a Keras 3 ``.weights.h5`` file."""
    out: dict[str, list[np.ndarray]] = {}
    with open_hdf5(data, WeightsFileError, name=f"{model_name}/{WEIGHTS_FILE}") as f:
        layers = f.get("layers")
        if not isinstance(layers, h5py.Group):
            raise WeightsMismatchError(
                f"model {model_name!r}: {WEIGHTS_FILE} has no 'layers' group (not a Keras 3 "
                "weights file)"
            )
        for key in layers:
            group = layers[key].get("vars")
            if not isinstance(group, h5py.Group):
                continue
            name = group.attrs.get("name", key)
            name = name.decode() if isinstance(name, bytes) else str(name)
            values = [np.asarray(group[str(i)]) for i in range(len(group))]
            if name in out:
                raise WeightsMismatchError(
                    f"model {model_name!r}: layer {name!r} appears twice in {WEIGHTS_FILE}"
                )
            if values:
                out[name] = values
    return out


def weights_from_file(data: bytes, config: ModelConfig, model_name: str) -> dict[str, np.ndarray]:
    """Canonical weights from a weights file, strictly: every canonical variable present with
    its exact shape and no other variable in the file."""
    layers = read_weights_file(data, model_name)
    expected = graph.weight_shapes(config)
    by_layer: dict[str, list[str]] = {}
    for canonical in expected:
        prefix, _ = canonical.rsplit(".", 1)
        by_layer.setdefault(layer_name(prefix), []).append(canonical)
    for lname, values in layers.items():
        if lname not in by_layer:
            raise WeightsMismatchError(
                f"model {model_name!r}: unexpected variable {lname}/vars/0 in {WEIGHTS_FILE} "
                "(no such layer in the rebuilt model)"
            )
        if len(values) > len(by_layer[lname]):
            raise WeightsMismatchError(
                f"model {model_name!r}: unexpected variable {lname}/vars/{len(by_layer[lname])} "
                f"in {WEIGHTS_FILE}"
            )
    weights: dict[str, np.ndarray] = {}
    for canonical, shape in expected.items():
        prefix, attr = canonical.rsplit(".", 1)
        lname = layer_name(prefix)
        index = by_layer[lname].index(canonical)
        values = layers.get(lname, [])
        if index >= len(values):
            raise WeightsMismatchError(
                f"model {model_name!r}: variable {canonical} ({lname}/{attr}) is missing from "
                f"{WEIGHTS_FILE}"
            )
        if tuple(values[index].shape) != shape:
            raise WeightsMismatchError(
                f"model {model_name!r}: variable {canonical} ({lname}/{attr}) has shape "
                f"{tuple(values[index].shape)} in {WEIGHTS_FILE}, the model needs {shape}"
            )
        weights[canonical] = values[index]
    return weights


# ----------------------------------------------------------------------------- save / load


def save_bundle(
    model: PtychoPINN,
    bundle_dir: Path | str,
    config: TrainingConfig,
    intensity_scale: float,
    producer: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``model`` (both built models, :class:`PtychoPINN`) to ``<bundle_dir>/wts.h5.zip``
    (persistence.md 3.6: CONFIG gate, intensity scale, consistency, atomic write) and return
    its path."""
    import keras
    import tensorflow as tf

    from backends.bundle import check_save_gate, check_snapshot_consistency, write_bundle
    from backends.config.legacy import to_legacy_snapshot

    params = params_snapshot(model, config, intensity_scale)
    check_save_gate(params)
    check_snapshot_consistency(dict(params), to_legacy_snapshot(config))
    payloads: dict[str, dict[str, bytes]] = {}
    formats: dict[str, str] = {}
    for name in MODEL_NAMES:
        fmt, file_name, data = weights_bytes(getattr(model, name))
        payloads[name], formats[name] = {file_name: data}, fmt
    prod = {
        "framework": BACKEND,
        "framework_version": tf.__version__,
        "keras_version": keras.__version__,
    }
    prod.update(producer or {})
    return write_bundle(
        bundle_dir,
        backend=BACKEND,
        payloads=payloads,
        payload_formats=formats,
        params=dict(params),
        intensity_scale=float(intensity_scale),
        model_geometry=model.config,
        producer=prod,
        custom_objects=sorted(CUSTOM_OBJECTS),
    )


def load_bundle(path: Path | str, names: tuple[str, ...] | None = None) -> LoadedBundle:
    """Read a TensorFlow bundle, rebuild the models from its params snapshot and load the
    weights strictly. Returns the models, a copy of the params and the intensity scale
    (:class:`backends.base.LoadedBundle`). The snapshot is
    restored into a fresh legacy params object; the process-wide one is not touched."""
    from backends.bundle import read_bundle, restore_params
    from backends.config.legacy import LegacyParams

    contents = read_bundle(path, expected_backend=BACKEND, names=names)
    params = LegacyParams()
    restore_params(params, contents)
    snapshot = dict(params)
    config = model_config_from_params(snapshot)
    scale = float(contents.intensity_scale)
    probe = snapshot.get("probe")
    if probe is None:
        raise ValueError(f"bundle {contents.path}: params snapshot has no 'probe' array")
    models = build_model(
        config,
        np.asarray(probe),
        scale,
        seed=0,
        offset=int(snapshot.get("offset", DEFAULT_OFFSET)),
        max_position_jitter=int(snapshot.get("max_position_jitter", DEFAULT_MAX_POSITION_JITTER)),
        probe_is_normalized=True,
    )
    loaded: dict[str, np.ndarray] | None = None
    first = None
    for model in contents.models:
        fmt = contents.payload_format(model)
        if fmt != PAYLOAD_FORMAT:
            raise ValueError(
                f"bundle {contents.path}: model {model!r} has payload format {fmt!r}; the "
                f"tensorflow loader reads {PAYLOAD_FORMAT!r}"
            )
        files = contents.payload(model)
        if WEIGHTS_FILE not in files:
            raise ValueError(f"bundle {contents.path}: model {model!r} has no {WEIGHTS_FILE}")
        weights = weights_from_file(files[WEIGHTS_FILE], config, model)
        if loaded is None:
            loaded, first = weights, model
            continue
        differing = [n for n in weights if not np.array_equal(weights[n], loaded[n])]
        if differing:
            raise ValueError(
                f"bundle {contents.path}: models {first!r} and {model!r} share layers but their "
                f"weights differ (first: {differing[0]})"
            )
    if loaded is None:
        raise ValueError(f"bundle {contents.path}: no model payload to load")
    models.import_weights(loaded)
    return LoadedBundle(models, snapshot, scale)


# ----------------------------------------------------------------------------- client API


class DiffractionToObjectAdapter:
    """``diffraction_to_obj`` as the client receives it (persistence.md 2.5 / 3.4): on every
    call and predict it reads C from the diffraction input's last axis and, when C is a
    perfect square, sets the legacy ``gridsize`` to sqrt(C), logging each change."""

    def __init__(self, model: Any, params: Any) -> None:
        self.model = model
        self.params = params

    def _sync_gridsize(self, inputs: Any) -> None:
        import logging
        import math

        diffraction = inputs[0] if isinstance(inputs, (list, tuple)) else inputs
        channels = int(np.shape(diffraction)[-1])
        g = math.isqrt(channels)
        if g * g == channels and self.params.get("gridsize") != g:
            logging.getLogger(__name__).info(
                "diffraction input has %d channels: setting gridsize %r -> %d",
                channels,
                self.params.get("gridsize"),
                g,
            )
            self.params["gridsize"] = g

    def __call__(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        self._sync_gridsize(inputs)
        return self.model(inputs, *args, **kwargs)

    def predict(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        self._sync_gridsize(inputs)
        return self.model.predict(inputs, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.model, name)


def load_bundle_models(path: Path | str, names: tuple[str, ...] | None = None) -> dict[str, Any]:
    """The bundle's Keras models by name (default: all) after restoring the process-wide legacy
    params from its snapshot (a client entry point, persistence.md 3.7)."""
    from backends.bundle import restore_params
    from backends.config.legacy import params as legacy

    loaded = load_bundle(path, names)
    models, snapshot = loaded.model, loaded.params
    restore_params(legacy, snapshot)
    wanted = MODEL_NAMES if names is None else names
    return {name: getattr(models, name) for name in wanted}


def load_inference_bundle(
    model_dir: Path | str,
) -> tuple[DiffractionToObjectAdapter, dict[str, Any]]:
    """The client entry point (persistence.md 3.7): restore the process-wide legacy params from
    the bundle, rebuild and strictly load ``diffraction_to_obj``, and return it wrapped in the
    gridsize-syncing adapter with a shallow copy of the legacy dict."""
    from backends.bundle import restore_params
    from backends.config.legacy import params as legacy

    loaded = load_bundle(model_dir, ("diffraction_to_obj",))
    models, snapshot = loaded.model, loaded.params
    restore_params(legacy, snapshot)
    return DiffractionToObjectAdapter(models.diffraction_to_obj, legacy), dict(legacy)
