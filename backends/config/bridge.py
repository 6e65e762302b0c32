"""The bridge between the torch-native configs and the canonical configs (docs/config.md (d)).

Torch -> canonical: :func:`to_model_config`, :func:`to_training_config`,
:func:`to_inference_config`, side-effect free apart from warnings, with the upstream order of
checks and error texts. Project departures: overrides are normalised and validated like torch
values (an override ``amp_activation='silu'`` becomes ``'swish'``; ``model_type`` accepts both
vocabularies) and unknown override keys raise ``ValueError`` listing the valid fields.

Canonical -> torch: :func:`from_canonical` returns the torch-native configs plus the overrides
the bridge needs for what they cannot express (fields with no torch source that differ from
the bridge's constant, ``nll_weight`` other than 0 and 1, ``nphotons`` equal to the torch
default, inference paths, ...), so that ``to_canonical(*from_canonical(c)) == c`` for every
valid canonical config.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any

import numpy as np

from backends.config import fields as _fields
from backends.config.canonical import InferenceConfig, ModelConfig, TrainingConfig
from backends.config.torch_native import DataConfig
from backends.config.torch_native import InferenceConfig as TorchInferenceConfig
from backends.config.torch_native import ModelConfig as TorchModelConfig
from backends.config.torch_native import TrainingConfig as TorchTrainingConfig

BRIDGE_BACKEND = "pytorch"
MODE_TO_MODEL_TYPE = {"Unsupervised": "pinn", "Supervised": "supervised"}
MODEL_TYPE_TO_MODE = {v: k for k, v in MODE_TO_MODEL_TYPE.items()}
#: Torch activation name -> canonical name (``silu``/``SiLU`` are the torch spelling of swish).
ACTIVATIONS = {
    "silu": "swish",
    "SiLU": "swish",
    "sigmoid": "sigmoid",
    "swish": "swish",
    "softplus": "softplus",
    "relu": "relu",
}
TORCH_ACTIVATION = {"sigmoid": "sigmoid", "swish": "silu", "softplus": "softplus", "relu": "relu"}

#: Training fields with no torch source: the value the bridge uses unless overridden.
TRAINING_CONSTANTS: dict[str, Any] = {
    "mae_weight": 0.0,
    "realspace_mae_weight": 0.0,
    "realspace_weight": 0.0,
    "positions_provided": True,
    "probe_trainable": False,
    "sequential_sampling": False,
    "n_subsample": None,
    "backend": BRIDGE_BACKEND,
}
#: Inference fields with no torch source: the value the bridge uses unless overridden.
INFERENCE_CONSTANTS: dict[str, Any] = {
    "debug": False,
    "output_dir": Path("inference_outputs"),
    "model_path": None,
    "test_data_file": None,
    "n_groups": None,
    "n_subsample": None,
    "subsample_seed": None,
    "backend": BRIDGE_BACKEND,
}

MODEL_FIELDS = tuple(_fields.field_specs(ModelConfig))
TRAINING_FIELDS = tuple(n for n in _fields.field_specs(TrainingConfig) if n != "model")
INFERENCE_FIELDS = tuple(n for n in _fields.field_specs(InferenceConfig) if n != "model")
#: Model fields the torch-native configs express (the rest travel as overrides).
MODEL_NATIVE_FIELDS = (
    "N",
    "gridsize",
    "n_filters_scale",
    "model_type",
    "amp_activation",
    "object_big",
    "probe_big",
    "probe_mask",
    "pad_object",
    "probe_scale",
    "gaussian_smoothing_sigma",
)
#: Training fields the torch-native configs express (``nll_weight`` only as 0 or 1,
#: ``nphotons`` only when it differs from the torch default, because of the gate).
TRAINING_NATIVE_FIELDS = (
    "train_data_file",
    "test_data_file",
    "batch_size",
    "nepochs",
    "nll_weight",
    "nphotons",
    "n_groups",
    "subsample_seed",
    "neighbor_count",
    "intensity_scale_trainable",
    "output_dir",
    "torch_loss_mode",
)
INFERENCE_NATIVE_FIELDS = ("neighbor_count",)


# -- torch value translation --------------------------------------------------------------------


def gridsize_from_grid(grid_size: Any) -> int:
    """``(h, w) -> h``; a non-square grid raises ValueError "Non-square grids ..."."""
    h, w = grid_size
    if h != w:
        raise ValueError(
            f"Non-square grids are not supported: grid_size={tuple(grid_size)!r}; the canonical "
            f"gridsize is one number, use a square grid such as ({h}, {h})"
        )
    return int(h)


def model_type_from_mode(mode: Any) -> str:
    """Torch ``mode`` -> canonical ``model_type``; anything else raises "Invalid mode ..."."""
    if mode not in MODE_TO_MODEL_TYPE:
        raise ValueError(
            f"Invalid mode {mode!r}: the torch ModelConfig.mode must be one of "
            f"{', '.join(MODE_TO_MODEL_TYPE)}"
        )
    return MODE_TO_MODEL_TYPE[mode]


def normalise_model_type(value: Any) -> str:
    """A model type in either vocabulary (``pinn``/``supervised`` or
    ``Unsupervised``/``Supervised``) -> canonical ``model_type``."""
    if value in MODEL_TYPE_TO_MODE:
        return str(value)
    if value in MODE_TO_MODEL_TYPE:
        return MODE_TO_MODEL_TYPE[value]
    allowed = [*MODEL_TYPE_TO_MODE, *MODE_TO_MODEL_TYPE]
    raise ValueError(f"Invalid mode {value!r} for model_type; choose one of: {', '.join(allowed)}")


def activation_from_torch(name: Any) -> str:
    """Torch activation name -> canonical; anything else raises "Unknown activation ..."."""
    if name not in ACTIVATIONS:
        raise ValueError(
            f"Unknown activation {name!r} for amp_activation; accepted names: "
            f"{', '.join(ACTIVATIONS)}"
        )
    return ACTIVATIONS[name]


def mask_to_bool(mask: Any) -> bool:
    """Torch ``probe_mask`` -> canonical: None -> False, an array or tensor -> True
    (a bool is kept, for overrides)."""
    if isinstance(mask, (bool, np.bool_)):
        return bool(mask)
    return mask is not None


def probe_mask_array(N: int) -> np.ndarray:
    """The probe mask of docs/physics.md 2.2 as an ``(N, N)`` float32 array: 1 where the
    distance to the pixel corner ``(N/2 - 1/2, N/2 - 1/2)`` is < ``N // 4``."""
    i = np.arange(N, dtype=np.float64) - N / 2 + 0.5
    d = np.sqrt(i[:, None] ** 2 + i[None, :] ** 2)
    return (d < N // 4).astype(np.float32)


# -- overrides ----------------------------------------------------------------------------------


def normalise_value(spec: _fields.FieldSpec, value: Any, *, default_output_dir: str) -> Any:
    """One override value in canonical form: both model_type vocabularies, torch activation
    names, a mask (array, tensor or None) as a bool, a square grid as its side, an empty
    output_dir as ``default_output_dir``; anything else type-checked by its field kind."""
    if spec.name == "model_type":
        return normalise_model_type(value)
    if spec.name == "amp_activation":
        return activation_from_torch(value)
    if spec.name == "probe_mask":
        return mask_to_bool(value)
    if spec.name == "gridsize" and isinstance(value, (tuple, list)):
        return gridsize_from_grid(value)
    if spec.name == "output_dir" and value == "":
        return Path(default_output_dir)
    return _fields.coerce_value(spec, value, where="override ")


def normalise_overrides(
    overrides: Mapping[str, Any] | None,
    cls: type,
    *,
    function: str,
    default_output_dir: str = "training_outputs",
) -> dict[str, Any]:
    """Validate override keys against the fields of ``cls`` (minus ``model``) and normalise
    their values like torch values. Unknown keys raise ValueError listing the valid fields."""
    specs = {k: v for k, v in _fields.field_specs(cls).items() if k != "model"}
    out: dict[str, Any] = {}
    for key, value in (overrides or {}).items():
        if key not in specs:
            hint = ""
            if cls is not ModelConfig and key in MODEL_FIELDS:
                hint = f" ({key!r} is a model field: pass it to to_model_config)"
            raise ValueError(
                _fields.unknown_key_message(key, specs, where=f"{function}: override ")
                + hint
                + f"; valid fields: {', '.join(specs)}"
            )
        out[key] = normalise_value(specs[key], value, default_output_dir=default_output_dir)
    return out


def _paths(kwargs: dict[str, Any], names: tuple[str, ...]) -> None:
    for name in names:
        value = kwargs.get(name)
        if isinstance(value, str):
            kwargs[name] = Path(value)


# -- torch -> canonical -------------------------------------------------------------------------


def to_model_config(
    data: DataConfig, model: TorchModelConfig, overrides: Mapping[str, Any] | None = None
) -> ModelConfig:
    """Canonical ModelConfig from the torch DataConfig and ModelConfig (spec (d) table).

    The grid, mode and activation checks run before overrides are merged, so an override
    cannot rescue an invalid torch value.
    """
    kwargs: dict[str, Any] = {
        "N": data.N,
        "gridsize": gridsize_from_grid(data.grid_size),
        "n_filters_scale": model.n_filters_scale,
        "model_type": model_type_from_mode(model.mode),
        "amp_activation": activation_from_torch(model.amp_activation),
        "object_big": model.object_big,
        "probe_big": model.probe_big,
        "probe_mask": mask_to_bool(model.probe_mask),
        "pad_object": model.pad_object,
        "probe_scale": data.probe_scale,
        "gaussian_smoothing_sigma": model.gaussian_smoothing_sigma,
    }
    kwargs.update(normalise_overrides(overrides, ModelConfig, function="to_model_config"))
    return ModelConfig(**kwargs)


def _nphotons_gate(data: DataConfig, overrides: Mapping[str, Any]) -> None:
    torch_default = _fields.default_value(DataConfig, "nphotons")
    canonical_default = _fields.default_value(TrainingConfig, "nphotons")
    if "nphotons" not in overrides and data.nphotons == torch_default:
        raise ValueError(
            f"nphotons default divergence: DataConfig.nphotons={data.nphotons!r} is the torch "
            f"default ({torch_default!r}), the canonical default is {canonical_default!r}; "
            f"state the photon count explicitly with "
            f"overrides=dict(..., nphotons={canonical_default!r})"
        )


def to_training_config(
    tf_model: ModelConfig,
    data: DataConfig,
    pt_model: TorchModelConfig,
    training: TorchTrainingConfig,
    overrides: Mapping[str, Any] | None = None,
) -> TrainingConfig:
    """Canonical TrainingConfig from the torch configs (spec (d)).

    Order: build from torch values; merge overrides; nphotons gate; n_groups required;
    exactly one UserWarning when test_data_file is None; str paths -> Path;
    train_data_file required; construct.
    """
    kwargs: dict[str, Any] = {
        "model": tf_model,
        "train_data_file": training.train_data_file,
        "test_data_file": training.test_data_file,
        "batch_size": training.batch_size,
        "nepochs": training.epochs,
        "nll_weight": 1.0 if training.nll else 0.0,
        "nphotons": data.nphotons,
        "n_groups": training.n_groups,
        "subsample_seed": data.subsample_seed,
        "neighbor_count": data.K,
        "intensity_scale_trainable": pt_model.intensity_scale_trainable,
        "output_dir": training.output_dir or "training_outputs",
        "torch_loss_mode": training.torch_loss_mode,
    }
    kwargs.update(TRAINING_CONSTANTS)
    normalised = normalise_overrides(overrides, TrainingConfig, function="to_training_config")
    kwargs.update(normalised)
    _nphotons_gate(data, normalised)
    if kwargs["n_groups"] is None:
        raise ValueError(
            "n_groups is required by the training bridge: the torch TrainingConfig.n_groups "
            "is None and no override was given; provide overrides=dict(..., n_groups=512)"
        )
    if kwargs["test_data_file"] is None:
        warnings.warn(
            "test_data_file is not set for training: evaluation and inference need a test "
            "data file; provide overrides=dict(..., test_data_file=Path('test.npz'))",
            UserWarning,
            stacklevel=2,
        )
    _paths(kwargs, ("train_data_file", "test_data_file", "output_dir"))
    if kwargs["train_data_file"] is None:
        raise ValueError(
            "train_data_file is required by the training bridge: set the torch "
            "TrainingConfig.train_data_file or provide "
            "overrides=dict(..., train_data_file=Path('train.npz'))"
        )
    return TrainingConfig(**kwargs)


def to_inference_config(
    tf_model: ModelConfig,
    data: DataConfig,
    inference: TorchInferenceConfig,
    overrides: Mapping[str, Any] | None = None,
) -> InferenceConfig:
    """Canonical InferenceConfig from the torch configs (spec (d)). The data seed is not
    inherited; model_path, then test_data_file, are required."""
    kwargs: dict[str, Any] = {"model": tf_model, "neighbor_count": data.K}
    kwargs.update(INFERENCE_CONSTANTS)
    kwargs.update(
        normalise_overrides(
            overrides,
            InferenceConfig,
            function="to_inference_config",
            default_output_dir="inference_outputs",
        )
    )
    _paths(kwargs, ("model_path", "test_data_file", "output_dir"))
    if kwargs["model_path"] is None:
        raise ValueError(
            "model_path is required by the inference bridge; provide "
            "overrides=dict(..., model_path=Path('model_dir'))"
        )
    if kwargs["test_data_file"] is None:
        raise ValueError(
            "test_data_file is required by the inference bridge; provide "
            "overrides=dict(..., test_data_file=Path('test.npz'))"
        )
    return InferenceConfig(**kwargs)


# -- canonical -> torch -------------------------------------------------------------------------


@dataclass
class TorchConfigs:
    """The torch-native configs that stand for one canonical config.

    ``kind`` is 'training' or 'inference' (which bridge :func:`to_canonical` calls).
    """

    kind: str
    data: DataConfig
    model: TorchModelConfig
    training: TorchTrainingConfig = field(default_factory=TorchTrainingConfig)
    inference: TorchInferenceConfig = field(default_factory=TorchInferenceConfig)


def _differs(cls: type, name: str, value: Any, reference: Any = None) -> bool:
    expected = _fields.default_value(cls, name) if reference is None else reference
    return bool(value != expected) or type(value) is not type(expected)


def from_canonical(config: TrainingConfig | InferenceConfig) -> tuple[TorchConfigs, dict[str, Any]]:
    """The torch-native configs for a canonical config, plus the overrides the bridge needs.

    Every field the torch-native side can express goes there (the grid and channel counts
    are kept in sync as the factory does: ``C = C_model = C_forward = gridsize**2``); a field
    with no torch source travels as an override only when it differs from the canonical
    default (which is the bridge's constant), so a flipped bridge constant shows up.
    """
    if isinstance(config, TrainingConfig):
        kind = "training"
    elif isinstance(config, InferenceConfig):
        kind = "inference"
    else:
        raise TypeError(
            f"expected a TrainingConfig or InferenceConfig, got {type(config).__name__}"
        )
    m = config.model
    channels = m.gridsize * m.gridsize
    overrides: dict[str, Any] = {}
    for name in MODEL_FIELDS:
        if name not in MODEL_NATIVE_FIELDS and _differs(ModelConfig, name, getattr(m, name)):
            overrides[name] = getattr(m, name)
    data = DataConfig(
        N=m.N,
        C=channels,
        K=config.neighbor_count,
        grid_size=(m.gridsize, m.gridsize),
        probe_scale=m.probe_scale,
    )
    model = TorchModelConfig(
        mode=MODEL_TYPE_TO_MODE[m.model_type],
        C_model=channels,
        C_forward=channels,
        n_filters_scale=m.n_filters_scale,
        amp_activation=TORCH_ACTIVATION[m.amp_activation],
        probe_mask=probe_mask_array(m.N) if m.probe_mask else None,
        object_big=m.object_big,
        probe_big=m.probe_big,
        pad_object=m.pad_object,
        gaussian_smoothing_sigma=m.gaussian_smoothing_sigma,
    )
    if isinstance(config, TrainingConfig):
        training = _training_side(config, data, model, overrides)
        return TorchConfigs(kind, data, model, training=training), overrides
    for name in INFERENCE_FIELDS:
        if name in INFERENCE_NATIVE_FIELDS:
            continue
        value = getattr(config, name)
        reference = BRIDGE_BACKEND if name == "backend" else None
        if name in {"model_path", "test_data_file"} or _differs(
            InferenceConfig, name, value, reference
        ):
            overrides[name] = value
    return TorchConfigs(kind, data, model), overrides


def _training_side(
    config: TrainingConfig,
    data: DataConfig,
    model: TorchModelConfig,
    overrides: dict[str, Any],
) -> TorchTrainingConfig:
    data.nphotons = config.nphotons
    data.subsample_seed = config.subsample_seed
    model.intensity_scale_trainable = config.intensity_scale_trainable
    training = TorchTrainingConfig(
        nll=config.nll_weight > 0,
        epochs=config.nepochs,
        batch_size=config.batch_size,
        torch_loss_mode=config.torch_loss_mode,
        train_data_file=_as_str(config.train_data_file),
        test_data_file=_as_str(config.test_data_file),
        output_dir=str(config.output_dir),
        n_groups=config.n_groups,
    )
    for name in TRAINING_FIELDS:
        value = getattr(config, name)
        if name == "nll_weight":
            if value not in (0.0, 1.0):
                overrides[name] = value
        elif name == "nphotons":
            if value == _fields.default_value(DataConfig, "nphotons"):
                overrides[name] = value
        elif name in TRAINING_NATIVE_FIELDS:
            continue
        elif _differs(TrainingConfig, name, value, BRIDGE_BACKEND if name == "backend" else None):
            overrides[name] = value
    return training


def _as_str(path: PurePath | None) -> str | None:
    return None if path is None else str(path)


def split_overrides(overrides: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split a flat overrides dict into (model overrides, training/inference overrides)."""
    model = {k: v for k, v in overrides.items() if k in MODEL_FIELDS}
    rest = {k: v for k, v in overrides.items() if k not in MODEL_FIELDS}
    return model, rest


def to_canonical(
    configs: TorchConfigs, overrides: Mapping[str, Any] | None = None
) -> TrainingConfig | InferenceConfig:
    """Run the bridge on ``configs``: :func:`to_model_config`, then :func:`to_training_config`
    or :func:`to_inference_config` by ``configs.kind``, with the flat ``overrides`` split
    between them."""
    model_overrides, rest = split_overrides(overrides or {})
    tf_model = to_model_config(configs.data, configs.model, model_overrides)
    if configs.kind == "training":
        return to_training_config(tf_model, configs.data, configs.model, configs.training, rest)
    if configs.kind == "inference":
        return to_inference_config(tf_model, configs.data, configs.inference, rest)
    raise ValueError(
        f"TorchConfigs.kind={configs.kind!r} is not allowed; choose training or inference"
    )
