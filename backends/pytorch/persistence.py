"""PyTorch bundles (docs/persistence.md section 3.5) on top of :mod:`backends.bundle`.

``diffraction_to_obj/`` holds ``model.safetensors`` (payload id ``torch-safetensors``: the flat
state dict, conv weights plus the ``log_scale`` and ``probe`` buffers; safetensors stores
complex64) and ``hparams.json``: the four torch-native configs under Lightning's keys
(``model_config``, ``data_config``, ``training_config``, ``inference_config``) plus the bridge
``overrides`` for what those configs cannot express. ``autoencoder`` is an alias of
``diffraction_to_obj``. Loading rebuilds the module from ``hparams.json`` through the bridge,
checks the result against ``params.json`` field by field, and loads the state dict strictly.

A tensor ``probe_mask`` is stored beside ``hparams.json`` as ``diffraction_to_obj/probe_mask.npy``
and referenced as ``{"$array": <entry>, "dtype", "shape"}``: the shared bundle writer reserves
``arrays/`` for the params snapshot.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path, PurePath
from typing import Any

import numpy as np
import torch

from backends.base import LoadedBundle
from backends.bundle import MODEL_NAMES, WeightsMismatchError, WeightsPayload
from backends.config.canonical import ModelConfig, TrainingConfig, model_fields
from backends.config.roundtrip import bridge_to_canonical, bridge_training_config
from backends.core.constants import DEFAULT_MAX_POSITION_JITTER, DEFAULT_OFFSET
from backends.core.snapshot import params_snapshot as core_snapshot
from backends.pytorch.model import PtychoPINN, model_probe
from backends.safeio import BundleFileError, expect, parse_json
from backends.safeio.weights import check_safetensors, reading_weights

BACKEND = "pytorch"
MODEL_DIR = "diffraction_to_obj"
PAYLOAD_FORMAT = "torch-safetensors"
WEIGHTS_FILE = "model.safetensors"
# the fallback payload (a weights-only ``torch.save`` mapping) where safetensors is missing or
# cannot store a dtype
STATE_DICT_FORMAT = "torch-state-dict"
STATE_DICT_FILE = "model.pt"
HPARAMS_FILE = "hparams.json"
PROBE_MASK_FILE = "probe_mask.npy"
CONFIG_KEYS = {
    "model_config": "model",
    "data_config": "data",
    "training_config": "training",
    "inference_config": "inference",
}
ARRAY_REF = "$array"
# torch-native fields read back as tuples (persistence.md 3.3)
TUPLE_FIELDS = {"grid_size", "x_bounds", "y_bounds", "image_size"}


class BundleConfigMismatchError(ValueError):
    """``hparams.json`` does not describe the model that ``params.json`` describes."""


# ----------------------------------------------------------------------------- hparams


def _json_value(value: Any) -> Any:
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, tuple):
        return [_json_value(v) for v in value]
    if isinstance(value, list):
        return [_json_value(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def encode_hparams(torch_cfgs: Any, overrides: Mapping[str, Any]) -> tuple[bytes, dict[str, bytes]]:
    """``hparams.json`` bytes and the extra payload files it references (a probe mask)."""
    from backends.bundle import dumps_json, encode_npy

    doc: dict[str, Any] = {}
    files: dict[str, bytes] = {}
    for key, attr in CONFIG_KEYS.items():
        cfg = getattr(torch_cfgs, attr)
        entry: dict[str, Any] = {}
        for f in dataclasses.fields(cfg):
            value = getattr(cfg, f.name)
            if f.name == "probe_mask" and value is not None:
                arr = np.asarray(value.detach().cpu().numpy() if torch.is_tensor(value) else value)
                files[PROBE_MASK_FILE] = encode_npy(arr, name="probe_mask")
                entry[f.name] = {
                    ARRAY_REF: f"{MODEL_DIR}/{PROBE_MASK_FILE}",
                    "dtype": str(arr.dtype),
                    "shape": list(arr.shape),
                }
            else:
                entry[f.name] = _json_value(value)
        doc[key] = entry
    doc["overrides"] = {k: _json_value(v) for k, v in overrides.items()}
    doc["kind"] = torch_cfgs.kind
    return dumps_json(doc), files


def decode_hparams(
    data: bytes, payload: Mapping[str, bytes], where: str
) -> tuple[Any, dict[str, Any]]:
    """Torch-native configs and overrides from ``hparams.json`` (unknown fields raise)."""
    from backends.bundle import decode_npy
    from backends.config import bridge
    from backends.config import torch_native as tn

    doc = expect(
        parse_json(data, where, BundleFileError, key=HPARAMS_FILE),
        dict,
        where,
        BundleFileError,
        HPARAMS_FILE,
    )
    classes = {
        "model_config": tn.ModelConfig,
        "data_config": tn.DataConfig,
        "training_config": tn.TrainingConfig,
        "inference_config": tn.InferenceConfig,
    }
    built: dict[str, Any] = {}
    for key, cls in classes.items():
        if not isinstance(doc.get(key), dict):
            raise ValueError(f"{where}: {HPARAMS_FILE} has no {key!r} object")
        values = dict(doc[key])
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ValueError(
                f"{where}: {HPARAMS_FILE} {key} has unknown fields {unknown}; valid: {sorted(names)}"
            )
        for name in list(values):
            value = values[name]
            if isinstance(value, dict) and ARRAY_REF in value:
                entry = str(value[ARRAY_REF])
                file_name = entry.split("/", 1)[1] if entry.startswith(f"{MODEL_DIR}/") else entry
                if file_name not in payload:
                    raise ValueError(f"{where}: {HPARAMS_FILE} references missing entry {entry!r}")
                values[name] = decode_npy(payload[file_name], name=name)
            elif name in TUPLE_FIELDS and isinstance(value, list):
                values[name] = tuple(value)
        built[key] = cls(**values)
    overrides = doc.get("overrides", {})
    if not isinstance(overrides, dict):
        raise ValueError(f"{where}: {HPARAMS_FILE} 'overrides' is not an object")
    configs = bridge.TorchConfigs(
        kind=str(doc.get("kind", "training")),
        data=built["data_config"],
        model=built["model_config"],
        training=built["training_config"],
        inference=built["inference_config"],
    )
    return configs, dict(overrides)


# ----------------------------------------------------------------------------- params


def params_snapshot(model: PtychoPINN, config: TrainingConfig, intensity_scale: float) -> Any:
    """The legacy params populated from ``config`` (the bridged config) plus the runtime keys
    (``intensity_scale``, the model's normalised ``probe`` (N, N, 1) complex64, ``offset``,
    ``max_position_jitter``, ``backend``) as the TensorFlow backend records them."""
    return core_snapshot(
        config,
        backend=BACKEND,
        intensity_scale=intensity_scale,
        probe=model.probe.detach().cpu().numpy(),
        offset=model.offset,
        max_position_jitter=model.max_position_jitter,
    )


def _model_diffs(a: ModelConfig, b: ModelConfig) -> list[str]:
    return [
        f"{f}: {getattr(a, f)!r} != {getattr(b, f)!r}"
        for f in model_fields()
        if getattr(a, f) != getattr(b, f)
    ]


# ----------------------------------------------------------------------------- weights


def weights_bytes(model: PtychoPINN) -> WeightsPayload:
    """The payload id, file name and bytes of the flat state dict: safetensors when it supports
    every dtype present, otherwise a weights-only ``torch.save`` mapping."""
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    try:
        from safetensors.torch import save

        return WeightsPayload(PAYLOAD_FORMAT, WEIGHTS_FILE, save(state))
    except (ImportError, TypeError, ValueError):
        import io

        buf = io.BytesIO()
        torch.save(state, buf)
        return WeightsPayload(STATE_DICT_FORMAT, STATE_DICT_FILE, buf.getvalue())


def load_state(fmt: str, files: Mapping[str, bytes], where: str) -> dict[str, torch.Tensor]:
    """The flat state dict of a payload, read without unpickling anything."""
    if fmt == PAYLOAD_FORMAT:
        if WEIGHTS_FILE not in files:
            raise ValueError(f"{where}: payload {fmt!r} has no {WEIGHTS_FILE}")
        from safetensors.torch import load

        name = f"{where}/{WEIGHTS_FILE}"
        with reading_weights(name, "safetensors"):
            return dict(load(check_safetensors(files[WEIGHTS_FILE], name)))
    if fmt == STATE_DICT_FORMAT:
        if STATE_DICT_FILE not in files:
            raise ValueError(f"{where}: payload {fmt!r} has no {STATE_DICT_FILE}")
        import io

        with reading_weights(f"{where}/{STATE_DICT_FILE}", "a PyTorch state dict"):
            state = torch.load(
                io.BytesIO(files[STATE_DICT_FILE]), weights_only=True, map_location="cpu"
            )
        if not isinstance(state, dict) or not all(
            isinstance(k, str) and torch.is_tensor(v) for k, v in state.items()
        ):
            raise ValueError(
                f"{where}: {STATE_DICT_FILE} is not a flat mapping of names to tensors"
            )
        return state
    raise ValueError(
        f"{where}: payload format {fmt!r} is not a PyTorch payload "
        f"({PAYLOAD_FORMAT!r} or {STATE_DICT_FORMAT!r})"
    )


def load_state_strict(model: PtychoPINN, state: Mapping[str, torch.Tensor], where: str) -> None:
    """``load_state_dict(strict=True)`` plus exact dtype checks (torch would cast silently); a
    mismatch raises :class:`backends.bundle.WeightsMismatchError`."""
    own = model.state_dict()
    wrong = [
        f"{k} ({state[k].dtype}, expected {own[k].dtype})"
        for k in own
        if k in state and state[k].dtype != own[k].dtype
    ]
    if wrong:
        raise WeightsMismatchError(
            f"{where}: state dict entries of the wrong dtype: {', '.join(wrong)}"
        )
    try:
        model.load_state_dict(dict(state), strict=True)
    except RuntimeError as exc:
        raise WeightsMismatchError(
            f"{where}: the state dict does not match the rebuilt model: {exc}"
        ) from exc


# ----------------------------------------------------------------------------- save / load


def save_bundle(
    model: PtychoPINN,
    bundle_dir: Path | str,
    config: TrainingConfig,
    intensity_scale: float,
    producer: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``<bundle_dir>/wts.h5.zip`` (persistence.md 3.6: CONFIG gate, intensity scale,
    consistency of the snapshot with ``config`` and of the torch configs with the bridge,
    atomic write) and return its path."""
    from importlib.metadata import version

    from backends.bundle import check_save_gate, check_snapshot_consistency, write_bundle
    from backends.config.legacy import to_legacy_snapshot

    torch_cfgs, overrides, bridged = bridge_training_config(config)
    diffs = _model_diffs(bridged.model, model.config)
    if diffs:
        raise ValueError(
            "the training config does not describe the model being saved (after the bridge); "
            "differing fields: " + "; ".join(diffs)
        )
    params = params_snapshot(model, bridged, intensity_scale)
    check_save_gate(params)
    expected = to_legacy_snapshot(config)
    expected.pop("backend", None)  # the snapshot records the saving backend (3.3)
    check_snapshot_consistency(dict(params), expected)
    hparams, extra = encode_hparams(torch_cfgs, overrides)
    # the stored configs must reproduce the canonical config under the bridge
    rebuilt, rebuilt_overrides = decode_hparams(hparams, extra, "hparams.json (before saving)")
    _check_against_params(rebuilt, rebuilt_overrides, dict(params), "hparams.json (before saving)")
    fmt, name, data = weights_bytes(model)
    payload = {name: data, HPARAMS_FILE: hparams, **extra}
    prod = {
        "framework": BACKEND,
        "framework_version": torch.__version__,
        # the installed distribution's version, as lightning.__version__ gives it (importing
        # Lightning to read it costs 1.5 s)
        "lightning_version": version("lightning"),
    }
    prod.update(producer or {})
    return write_bundle(
        bundle_dir,
        backend=BACKEND,
        payloads={MODEL_DIR: payload, "autoencoder": {"alias_of": MODEL_DIR}},
        payload_formats={MODEL_DIR: fmt},
        params=dict(params),
        intensity_scale=float(intensity_scale),
        model_geometry=model.config,
        producer=prod,
    )


def _check_against_params(
    configs: Any, overrides: Mapping[str, Any], params: Mapping[str, Any], where: str
) -> TrainingConfig:
    """Bridge the stored torch configs and compare every canonical field with the params
    snapshot; raise :class:`BundleConfigMismatchError` listing the differing fields."""
    from backends.bundle import check_snapshot_consistency
    from backends.config.legacy import to_legacy_snapshot

    try:
        bridged = bridge_to_canonical(configs, overrides)
    except (ValueError, TypeError) as exc:
        raise BundleConfigMismatchError(f"{where}: the torch configs do not bridge: {exc}") from exc
    expected = to_legacy_snapshot(bridged)
    expected.pop("backend", None)  # the snapshot records the saving backend
    snapshot = {k: v for k, v in params.items() if k != "backend"}
    try:
        check_snapshot_consistency(
            snapshot, expected, context=f"{where}: params.json vs hparams.json"
        )
    except ValueError as exc:
        raise BundleConfigMismatchError(str(exc)) from exc
    missing = [k for k, v in expected.items() if v is None and params.get(k) is not None]
    if missing:
        raise BundleConfigMismatchError(
            f"{where}: params.json vs hparams.json: fields set in params.json but None under "
            f"the bridge: {', '.join(missing)}"
        )
    return bridged


def load_bundle(path: Path | str, names: tuple[str, ...] | None = None) -> LoadedBundle:
    """Read a PyTorch bundle: restore its params into a fresh legacy dict, rebuild the module
    from ``hparams.json`` (checked against ``params.json``) and load the state dict strictly.

    ``names``: the models the caller needs (default: all; an absent one raises ValueError).
    Returns the module, a copy of the params, the intensity scale and the torch configs
    (:class:`backends.base.LoadedBundle`); the ``autoencoder`` alias resolves to the same
    module.
    """
    from backends.bundle import read_bundle, restore_params
    from backends.config.legacy import LegacyParams

    contents = read_bundle(path, expected_backend=BACKEND, names=names)
    where = f"bundle {contents.path}"
    params = LegacyParams()
    restore_params(params, contents)
    snapshot = dict(params)
    targets = {contents.resolve(m) for m in contents.models}
    if targets != {MODEL_DIR}:
        raise ValueError(
            f"{where}: every model must resolve to {MODEL_DIR!r} (the autoencoder is an alias); "
            f"got payloads for {sorted(targets)}"
        )
    fmt = contents.payload_format(MODEL_DIR)
    files = contents.payload(MODEL_DIR)
    if HPARAMS_FILE not in files:
        raise ValueError(f"{where}: {MODEL_DIR}/{HPARAMS_FILE} is missing")
    configs, overrides = decode_hparams(files[HPARAMS_FILE], files, where)
    bridged = _check_against_params(configs, overrides, snapshot, where)
    probe = snapshot.get("probe")
    if probe is None:
        raise ValueError(f"{where}: params snapshot has no 'probe' array")
    for key, want in (
        ("offset", DEFAULT_OFFSET),
        ("max_position_jitter", DEFAULT_MAX_POSITION_JITTER),
    ):
        if int(snapshot.get(key, want)) != want:
            raise ValueError(
                f"{where}: params {key}={snapshot.get(key)!r}; this backend builds models with "
                f"{key}={want}"
            )
    scale = float(contents.intensity_scale)
    model = PtychoPINN(
        bridged.model, model_probe(np.asarray(probe), bridged.model.probe_scale, True), scale
    )
    state = load_state(fmt, files, where)
    load_state_strict(model, state, where)
    model.eval()
    return LoadedBundle(model, snapshot, scale, configs)


def load_bundle_models(
    path: Path | str, names: tuple[str, ...] | None = None
) -> dict[str, PtychoPINN]:
    """The bundle's modules by name (default: all) after restoring the process-wide legacy
    params from its snapshot (a client entry point, persistence.md 3.7); ``autoencoder`` and
    ``diffraction_to_obj`` are the same module object (the autoencoder is an alias)."""
    from backends.bundle import restore_params
    from backends.config.legacy import params as legacy

    loaded = load_bundle(path, names)
    restore_params(legacy, loaded.params)
    wanted = MODEL_NAMES if names is None else names
    return dict.fromkeys(wanted, loaded.model)
