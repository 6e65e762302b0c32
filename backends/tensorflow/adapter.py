"""The TensorFlow implementation of :class:`backends.base.Backend`."""

from __future__ import annotations

import functools
import os
import platform
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from backends.base import (
    Batch,
    ForwardResult,
    InferenceResult,
    LossResult,
    StepCallback,
    StepsResult,
    TrainResult,
)
from backends.config.canonical import ModelConfig, TrainingConfig
from backends.core.checkpoint import CheckpointHook, TrainingState
from backends.core.devices import device_from_accelerator
from backends.core.hooks import KernelPatch, kernels_replaced
from backends.core.inputs import square_probe
from backends.tensorflow import devices

NAME = "tensorflow"
KERNEL_MODULES = {
    "ops": "backends.tensorflow.ops",
    "layers": "backends.tensorflow.layers",
    "model": "backends.tensorflow.model",
    "train": "backends.tensorflow.train",
    "weights": "backends.weights",
}
"""The modules whose public functions :meth:`BackendAdapter.override_kernels` can replace."""


@dataclass
class ModelHandle:
    """A built TensorFlow model (:class:`backends.base.ModelHandle`)."""

    backend: str
    config: ModelConfig
    intensity_scale: float
    probe: np.ndarray
    models: Any  # backends.tensorflow.model.PtychoPINN


def _models(handle: Any) -> Any:
    if not isinstance(handle, ModelHandle):
        raise TypeError(
            f"expected a model built by the tensorflow backend, got {type(handle).__name__}"
        )
    return handle.models


_F = TypeVar("_F", bound=Callable[..., Any])


def _placed(method: _F) -> _F:
    """Run an entry point under the chosen device's ``tf.device`` scope (:mod:`.devices`)."""

    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with devices.placement():
            return method(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _op_determinism() -> bool:
    """Whether ``tf.config.experimental.enable_op_determinism()`` is in force."""
    try:
        from tensorflow.python.framework import config as tf_config

        return bool(tf_config.is_op_determinism_enabled())
    except (ImportError, AttributeError):
        return os.environ.get("TF_DETERMINISTIC_OPS", "") in ("1", "true", "True")


class BackendAdapter:
    """Keras 3 / TensorFlow reference backend."""

    name = NAME

    def override_kernels(self, patches: Sequence[KernelPatch]) -> AbstractContextManager[None]:
        """Run with public kernel functions replaced (:data:`KERNEL_MODULES`)."""
        return kernels_replaced(KERNEL_MODULES, patches)

    def __init__(self) -> None:
        os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
        from backends.tensorflow.ops import TensorFlowOps

        self.ops = TensorFlowOps()

    # ------------------------------------------------------------------ device
    @property
    def device(self) -> str:
        """``cpu`` or ``gpu``: where the entry points run now."""
        return devices.kind()

    def use_device(self, requested: str, gpu_count: int | None = None) -> str:
        """Run on ``requested`` (cpu, gpu or auto) from now on; returns ``cpu`` or ``gpu``.
        ``gpu`` without a visible GPU raises ValueError (:mod:`backends.core.devices`)."""
        return devices.use_device(requested, gpu_count)

    def placement(self) -> AbstractContextManager[Any]:
        """The ``tf.device`` scope of the chosen device (for work outside the entry points)."""
        return devices.placement()

    # ------------------------------------------------------------------ environment / config
    def environment(self) -> dict[str, Any]:
        import keras
        import tensorflow as tf

        visible = [d.name for d in tf.config.list_physical_devices()]
        return {
            "backend": NAME,
            "python": platform.python_version(),
            "numpy": np.__version__,
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
            "devices": visible,
            "device": devices.kind(),
            "device_facts": devices.facts().to_dict(),
            "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
            "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
            "op_determinism": _op_determinism(),
            "onednn_opts": os.environ.get("TF_ENABLE_ONEDNN_OPTS"),
            "platform": platform.platform(),
        }

    def legacy_params(self, config: TrainingConfig) -> dict[str, Any]:
        """Canonical -> legacy (update_legacy_dict on a fresh legacy params object)."""
        from backends.config.legacy import LegacyParams, update_legacy_dict

        params = LegacyParams()
        update_legacy_dict(params, config)
        return dict(params)

    # ------------------------------------------------------------------ build / weights
    @_placed
    def build(
        self,
        config: ModelConfig,
        probe: np.ndarray,
        intensity_scale: float,
        weights: Mapping[str, np.ndarray] | None = None,
        seed: int = 0,
    ) -> ModelHandle:
        from backends.tensorflow.model import build_model

        models = build_model(config, probe, intensity_scale, seed=seed)
        if weights is not None:
            models.import_weights(weights)
        raw = square_probe(probe).astype(np.complex64)
        return ModelHandle(NAME, config, float(intensity_scale), raw, models)

    @_placed
    def export_weights(self, model: ModelHandle) -> dict[str, np.ndarray]:
        return _models(model).export_weights()

    @_placed
    def import_weights(self, model: ModelHandle, weights: Mapping[str, np.ndarray]) -> None:
        _models(model).import_weights(weights)

    # ------------------------------------------------------------------ forward
    @_placed
    def forward(self, model: ModelHandle, batch: Batch, capture: bool = False) -> ForwardResult:
        from backends.tensorflow.train import scaled_input

        m = _models(model)
        x = scaled_input(batch.X, model.intensity_scale)
        pos = np.asarray(batch.positions, np.float32)
        if capture:
            values = m.capture([x, pos], training=False)
            activations = {n: np.asarray(v) for n, v in zip(m.stage_names, values)}
            outputs = {
                "trimmed_obj": activations["trimmed_obj"],
                "pred_amp_scaled": activations["intensity_scaler_inv"],
                "pred_intensity": activations["pred_intensity"],
            }
            return ForwardResult(outputs=outputs, activations=activations)
        trimmed, amp, intensity = m.autoencoder([x, pos], training=False)
        outputs = {
            "trimmed_obj": np.asarray(trimmed),
            "pred_amp_scaled": np.asarray(amp),
            "pred_intensity": np.asarray(intensity),
        }
        return ForwardResult(outputs=outputs)

    @_placed
    def run_stage(
        self, model: ModelHandle, stage: str, feeds: Mapping[str, np.ndarray]
    ) -> np.ndarray:
        return _models(model).run_stage(stage, feeds)

    # ------------------------------------------------------------------ training
    @_placed
    def loss_and_grads(
        self, model: ModelHandle, batch: Batch, config: TrainingConfig
    ) -> LossResult:
        from backends.core.losses import LossWeights
        from backends.tensorflow.train import gradients, loss_floats, to_tensor_batch

        terms, grads = gradients(
            _models(model),
            to_tensor_batch(batch, model.intensity_scale),
            LossWeights.from_config(config),
        )
        out = {name: np.asarray(g) for name, g in grads.items()}
        return LossResult(losses=loss_floats(terms), grads=out)

    @_placed
    def train_steps(
        self,
        model: ModelHandle,
        batches: Sequence[Batch],
        config: TrainingConfig,
        learning_rate: float = 1e-3,
        workers: int = 1,
    ) -> StepsResult:
        from backends.tensorflow.train import train_steps

        if workers > 1:
            from backends.core.parallel import train_steps_with_workers

            return train_steps_with_workers(self, model, batches, config, learning_rate, workers)
        return train_steps(_models(model), batches, config, model.intensity_scale, learning_rate)

    def train(
        self,
        model: ModelHandle,
        train_data: Any,
        config: TrainingConfig,
        seed: int = 0,
        epochs: int | None = None,
        on_step: StepCallback | None = None,
        progress: bool = False,
        execution: Mapping[str, Any] | None = None,
        checkpoint: CheckpointHook | None = None,
        resume: TrainingState | None = None,
    ) -> TrainResult:
        """Train in place (Keras semantics of model.md 9). ``execution`` names execution
        settings (docs/config.md (e)): learning rate, gradient clipping, early-stopping patience,
        the training log and the progress bar are applied; the few this loop cannot honour
        raise ValueError (:data:`backends.config.execution.TENSORFLOW_REJECTED`). ``checkpoint`` / ``resume``:
        see :mod:`backends.core.checkpoint`."""
        from backends.config.execution import (
            check_backend_settings,
            execution_values,
            trainer_settings,
        )
        from backends.tensorflow.train import fit

        given = execution_values(execution)
        check_backend_settings(NAME, given)
        settings = trainer_settings(execution)
        if "accelerator" in given:
            self.use_device(device_from_accelerator(given["accelerator"]))
        if settings.devices > 1:
            from backends.core.parallel import train_with_workers

            args = (train_data, config, seed, epochs, on_step, execution, checkpoint, resume)
            return train_with_workers(self, model, *args)
        if settings.progress_bar is not None:
            progress = settings.progress_bar
        with devices.placement():
            return fit(
                _models(model),
                train_data,
                config,
                model.intensity_scale,
                seed=seed,
                epochs=epochs,
                on_step=on_step,
                progress=progress,
                learning_rate=settings.learning_rate,
                gradient_clip_val=settings.gradient_clip_val,
                early_stop_patience=settings.early_stop_patience,
                accum_steps=settings.accum_steps,
                logger=settings.logger,
                checkpoint=checkpoint,
                resume=resume,
            )

    # ------------------------------------------------------------------ inference
    @_placed
    def infer(
        self, model: ModelHandle, data: Any, batch_size: int = 64, crop: int = 20
    ) -> InferenceResult:
        from backends.tensorflow.infer import infer

        return infer(_models(model), data, model.intensity_scale, batch_size, crop)

    # ------------------------------------------------------------------ persistence
    @_placed
    def save_bundle(self, model: ModelHandle, bundle_dir: Path, config: TrainingConfig) -> Path:
        from backends.tensorflow.persistence import save_bundle

        return save_bundle(_models(model), bundle_dir, config, model.intensity_scale)

    @_placed
    def load_bundle(self, path: Path) -> tuple[ModelHandle, dict[str, Any]]:
        from backends.tensorflow.persistence import load_bundle

        loaded = load_bundle(path)
        models = loaded.model
        handle = ModelHandle(
            NAME, models.config, loaded.intensity_scale, models.probe.copy(), models
        )
        return handle, loaded.params


def create_backend() -> BackendAdapter:
    """The backend object :func:`backends.get` returns for ``"tensorflow"``."""
    return BackendAdapter()
