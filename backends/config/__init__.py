"""Configuration: canonical dataclasses, validation, legacy params, file I/O, torch-native
configs and the bridge. Never imports a framework.

Modules: :mod:`~backends.config.canonical` (the dataclasses and validators),
:mod:`~backends.config.legacy` (the legacy params dict and the canonical -> legacy translation),
:mod:`~backends.config.io` (TOML/YAML/JSON files, command-line overrides),
:mod:`~backends.config.torch_native` (torch-native and execution configs),
:mod:`~backends.config.bridge` (torch <-> canonical), :mod:`~backends.config.roundtrip`
(canonical -> torch-native -> canonical, what the PyTorch backend builds from),
:mod:`~backends.config.factory` (payload factories), :mod:`~backends.config.snapshots` (each backend's legacy snapshot and their diff),
:mod:`~backends.config.drift` (the default-drift table).
"""

from backends.config.bridge import (
    TorchConfigs,
    from_canonical,
    to_canonical,
    to_inference_config,
    to_model_config,
    to_training_config,
)
from backends.config.canonical import (
    InferenceConfig,
    ModelConfig,
    TrainingConfig,
    validate_inference_config,
    validate_model_config,
    validate_training_config,
)
from backends.config.factory import create_inference_payload, create_training_payload
from backends.config.io import (
    apply_overrides,
    config_from_dict,
    config_to_dict,
    load_config,
    load_inference_config,
    load_training_config,
    read_config_dict,
    write_config,
)
from backends.config.legacy import (
    LegacyParams,
    check_save_gate,
    dataclass_to_legacy_dict,
    params,
    populate_legacy_params,
    to_legacy,
    to_legacy_snapshot,
    update_legacy_dict,
)
from backends.config.snapshots import compare_snapshots, pytorch_snapshot, tensorflow_snapshot
from backends.config.torch_native import ExecutionConfig, PyTorchExecutionConfig
from backends.config.validation import resolve_model_path

__all__ = [
    "ExecutionConfig",
    "InferenceConfig",
    "LegacyParams",
    "ModelConfig",
    "PyTorchExecutionConfig",
    "TorchConfigs",
    "TrainingConfig",
    "apply_overrides",
    "check_save_gate",
    "compare_snapshots",
    "config_from_dict",
    "config_to_dict",
    "create_inference_payload",
    "create_training_payload",
    "dataclass_to_legacy_dict",
    "from_canonical",
    "load_config",
    "load_inference_config",
    "load_training_config",
    "params",
    "populate_legacy_params",
    "pytorch_snapshot",
    "read_config_dict",
    "resolve_model_path",
    "tensorflow_snapshot",
    "to_canonical",
    "to_inference_config",
    "to_legacy",
    "to_legacy_snapshot",
    "to_model_config",
    "to_training_config",
    "update_legacy_dict",
    "validate_inference_config",
    "validate_model_config",
    "validate_training_config",
    "write_config",
]
