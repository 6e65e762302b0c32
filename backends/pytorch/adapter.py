"""The PyTorch implementation of :class:`backends.base.Backend`.

Everything crossing this boundary is NumPy in the reference layout (NHWC images, positions
(B, 1, 2, C), HWIO kernels under canonical names); conversion to and from the backend's
channels-first tensors happens here and nowhere above.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

import backends
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
from backends.core.threads import cpu_cores
from backends.pytorch import devices
from backends.pytorch.openmp import limit_spinning, spin_limited

NAME = "pytorch"
KERNEL_MODULES = {
    "ops": "backends.pytorch.ops",
    "model": "backends.pytorch.model",
    "train": "backends.pytorch.train",
    "weights": "backends.weights",
    "bridge": "backends.config.bridge",
}
"""The modules whose public functions :meth:`BackendAdapter.override_kernels` can replace."""
THREADS_ENV = "PTYCHOPINN_TORCH_THREADS"


@dataclass
class ModelHandle:
    """A built PyTorch model (:class:`backends.base.ModelHandle`).

    ``config`` is the canonical config the torch-native path produced (and the module was
    built from); ``probe`` the probe given to :meth:`BackendAdapter.build` (raw), or the
    model's normalised probe after loading a bundle; ``torch_configs`` / ``overrides`` the
    torch-native configs that stand for it.
    """

    backend: str
    config: ModelConfig
    intensity_scale: float
    probe: np.ndarray
    module: Any  # backends.pytorch.model.PtychoPINN
    torch_configs: Any = None
    overrides: dict[str, Any] = field(default_factory=dict)


def _module(handle: Any) -> Any:
    """The handle's module, on the current device (Lightning hands a trained model back on the
    CPU; a model built before :meth:`BackendAdapter.use_device` moves with the device)."""
    if not isinstance(handle, ModelHandle):
        raise TypeError(
            f"expected a model built by the pytorch backend, got {type(handle).__name__}"
        )
    return devices.place(handle.module)


def _to_nchw(name: str, array: np.ndarray) -> torch.Tensor:
    a = np.asarray(array)
    if name == "input_positions":
        a = np.asarray(a, np.float32).transpose(0, 3, 1, 2)
    elif a.ndim == 4:
        a = a.transpose(0, 3, 1, 2)
    dtype = np.complex64 if np.iscomplexobj(a) else np.float32
    return devices.from_numpy(a, dtype)


def _to_nhwc(t: torch.Tensor) -> np.ndarray:
    a = devices.to_numpy(t)
    if a.ndim == 4:
        a = a.transpose(0, 2, 3, 1)
    return np.ascontiguousarray(a)


def configure_threads(n: int | None = None) -> int:
    """Set torch's intra-op threads: ``n``, else ``$PTYCHOPINN_TORCH_THREADS``, else the number
    of CPUs available to this process. Returns the value in force."""
    if n is None:
        env = os.environ.get(THREADS_ENV)
        n = int(env) if env else cpu_cores()
    n = max(1, int(n))
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    limit_spinning()
    return n


class BackendAdapter:
    """The PyTorch / Lightning backend."""

    name = NAME

    def override_kernels(self, patches: Sequence[KernelPatch]) -> AbstractContextManager[None]:
        """Run with public kernel functions replaced (:data:`KERNEL_MODULES`)."""
        return kernels_replaced(KERNEL_MODULES, patches)

    def __init__(self) -> None:
        from backends.pytorch.ops import NUMPY_OPS

        self.ops = NUMPY_OPS
        configure_threads()

    # ------------------------------------------------------------------ device
    @property
    def device(self) -> str:
        """``cpu`` or ``gpu``: where models and tensors are placed now."""
        return devices.kind()

    def use_device(self, requested: str, gpu_count: int | None = None) -> str:
        """Compute on ``requested`` (cpu, gpu or auto) from now on; returns ``cpu`` or ``gpu``.
        ``gpu`` without a visible GPU raises ValueError (:mod:`backends.core.devices`)."""
        return devices.use_device(requested, gpu_count)

    def placement(self) -> AbstractContextManager[None]:
        """Nothing to enter: placement follows the current device (:mod:`.devices`)."""
        from contextlib import nullcontext

        return nullcontext()

    # ------------------------------------------------------------------ environment / config
    def environment(self) -> dict[str, Any]:
        from importlib.metadata import version

        return {
            "backend": NAME,
            "python": platform.python_version(),
            "numpy": np.__version__,
            "torch": torch.__version__,
            "lightning": version("lightning"),
            "device": devices.kind(),
            "device_facts": devices.facts().to_dict(),
            "intra_op_threads": torch.get_num_threads(),
            "inter_op_threads": torch.get_num_interop_threads(),
            "deterministic_algorithms": bool(torch.are_deterministic_algorithms_enabled()),
            "deterministic_training": True,
            "mkldnn": bool(torch.backends.mkldnn.is_available()),
            "omp_wait_policy": backends.OPENMP_WAIT_POLICY,
            "omp_spin_limited": spin_limited(),
            "platform": platform.platform(),
        }

    def legacy_params(self, config: TrainingConfig) -> dict[str, Any]:
        """Canonical -> torch-native configs -> bridge -> canonical -> legacy (update_legacy_dict
        on a fresh legacy params object)."""
        from backends.config.legacy import LegacyParams, update_legacy_dict
        from backends.config.roundtrip import bridge_training_config

        _, _, bridged = bridge_training_config(config)
        params = LegacyParams()
        update_legacy_dict(params, bridged)
        return dict(params)

    # ------------------------------------------------------------------ build / weights
    def build(
        self,
        config: ModelConfig,
        probe: np.ndarray,
        intensity_scale: float,
        weights: Mapping[str, np.ndarray] | None = None,
        seed: int = 0,
    ) -> ModelHandle:
        from backends.config.roundtrip import resolve_model_config
        from backends.pytorch.model import build_model

        resolved, torch_cfgs, overrides = resolve_model_config(config)
        module = devices.place(build_model(resolved, probe, intensity_scale, seed=seed))
        raw = square_probe(probe).astype(np.complex64)
        handle = ModelHandle(
            NAME, resolved, float(intensity_scale), raw, module, torch_cfgs, overrides
        )
        if weights is not None:
            self.import_weights(handle, weights)
        return handle

    def export_weights(self, model: ModelHandle) -> dict[str, np.ndarray]:
        from backends.pytorch.train import export_weights

        return export_weights(_module(model))

    def import_weights(self, model: ModelHandle, weights: Mapping[str, np.ndarray]) -> None:
        from backends.weights import check_weights, to_torch

        module = _module(model)
        check_weights(weights, module.config)
        with torch.no_grad():
            for name, conv in module.conv_layers().items():
                k = to_torch(f"{name}.kernel", np.asarray(weights[f"{name}.kernel"], np.float32))
                b = to_torch(f"{name}.bias", np.asarray(weights[f"{name}.bias"], np.float32))
                conv.weight.copy_(devices.from_numpy(k))
                conv.bias.copy_(devices.from_numpy(b))

    # ------------------------------------------------------------------ forward
    def forward(self, model: ModelHandle, batch: Batch, capture: bool = False) -> ForwardResult:
        from backends.pytorch.train import to_tensor_batch

        module = _module(model)
        tb = to_tensor_batch(batch, model.intensity_scale)
        acts: dict[str, torch.Tensor] | None = {} if capture else None
        module.eval()
        with torch.no_grad():
            trimmed, amp, intensity = module(tb.x, tb.positions, acts)
        outputs = {
            "trimmed_obj": _to_nhwc(trimmed),
            "pred_amp_scaled": _to_nhwc(amp),
            "pred_intensity": _to_nhwc(intensity),
        }
        activations = {k: _to_nhwc(v) for k, v in (acts or {}).items()}
        return ForwardResult(outputs=outputs, activations=activations)

    def run_stage(
        self, model: ModelHandle, stage: str, feeds: Mapping[str, np.ndarray]
    ) -> np.ndarray:
        module = _module(model)
        tensors = {k: _to_nchw(k, v) for k, v in feeds.items()}
        module.eval()
        with torch.no_grad():
            return _to_nhwc(module.run_stage(stage, tensors))

    # ------------------------------------------------------------------ training
    def loss_and_grads(
        self, model: ModelHandle, batch: Batch, config: TrainingConfig
    ) -> LossResult:
        from backends.pytorch.train import LossWeights, gradients, loss_floats, to_tensor_batch
        from backends.weights import from_torch

        module = _module(model)
        module.train()
        terms, grads = gradients(
            module, to_tensor_batch(batch, model.intensity_scale), LossWeights.from_config(config)
        )
        out = {}
        for name, g in grads.items():
            canonical = _canonical(name)
            out[canonical] = from_torch(canonical, devices.to_numpy(g))
        return LossResult(losses=loss_floats(terms), grads=out)

    def train_steps(
        self,
        model: ModelHandle,
        batches: Sequence[Batch],
        config: TrainingConfig,
        learning_rate: float = 1e-3,
        workers: int = 1,
    ) -> StepsResult:
        from backends.pytorch.train import LossWeights, to_tensor_batch, train_steps

        _check_trainable(config)
        if workers > 1:
            from backends.core.parallel import train_steps_with_workers

            return train_steps_with_workers(self, model, batches, config, learning_rate, workers)
        module = _module(model)
        tbs = [to_tensor_batch(b, model.intensity_scale) for b in batches]
        weights = LossWeights.from_config(config)
        if weights.realspace > 0 and any(b.Y_I is None for b in tbs):
            raise ValueError("realspace_weight > 0 needs ground-truth Y_I in every batch")
        step_losses, lrs = train_steps(module, tbs, weights, learning_rate)
        return StepsResult(
            step_losses=step_losses, weights=self.export_weights(model), learning_rates=lrs
        )

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
        """Train in place; ``execution`` names execution settings (docs/config.md (e)) that
        replace the trainer's reference behaviour (:mod:`backends.config.execution`);
        ``accelerator`` chooses the device as :meth:`use_device` does.
        ``checkpoint`` / ``resume``: see :mod:`backends.core.checkpoint`."""
        from backends.config.execution import trainer_settings
        from backends.data import validation_split
        from backends.pytorch.train import LossWeights, fit, tensor_set

        settings = trainer_settings(execution)
        accelerator = (execution or {}).get("accelerator")
        if accelerator is not None:
            self.use_device(device_from_accelerator(accelerator))
        _check_trainable(config)
        if settings.devices > 1:
            from backends.core.parallel import train_with_workers

            args = (train_data, config, seed, epochs, on_step, execution, checkpoint, resume)
            return train_with_workers(self, model, *args)
        module = _module(model)
        need_y = LossWeights.from_config(config).realspace > 0
        if need_y and not getattr(train_data, "has_ground_truth", True):
            raise ValueError(
                "realspace_weight > 0 needs ground truth (objectGuess or Y) in the training data"
            )
        train_part, val_part = validation_split(train_data, 0.05)
        tr = tensor_set(train_part, model.intensity_scale, need_y)
        va = None
        if val_part is not None and len(val_part):
            va = tensor_set(val_part, model.intensity_scale, need_y)
        return fit(
            module,
            tr,
            va,
            config,
            seed=seed,
            epochs=epochs,
            on_step=on_step,
            progress=progress,
            settings=settings,
            checkpoint=checkpoint,
            resume=resume,
        )

    # ------------------------------------------------------------------ inference
    def infer(
        self, model: ModelHandle, data: Any, batch_size: int = 64, crop: int = 20
    ) -> InferenceResult:
        from backends.pytorch.infer import infer

        return infer(_module(model), data, model.intensity_scale, batch_size, crop)

    # ------------------------------------------------------------------ persistence
    def save_bundle(self, model: ModelHandle, bundle_dir: Path, config: TrainingConfig) -> Path:
        from backends.pytorch.persistence import save_bundle

        return save_bundle(_module(model), bundle_dir, config, model.intensity_scale)

    def load_bundle(self, path: Path) -> tuple[ModelHandle, dict[str, Any]]:
        from backends.pytorch.persistence import load_bundle

        loaded = load_bundle(path)
        module = devices.place(loaded.model)
        probe = devices.to_numpy(module.probe).copy()
        handle = ModelHandle(
            NAME, module.config, loaded.intensity_scale, probe, module, loaded.native_configs, {}
        )
        return handle, loaded.params


def _canonical(param_name: str) -> str:
    """``enc1.conv1.weight`` -> ``enc1.conv1.kernel``; biases keep their name."""
    prefix, attr = param_name.rsplit(".", 1)
    return f"{prefix}.kernel" if attr == "weight" else f"{prefix}.{attr}"


def _check_trainable(config: TrainingConfig) -> None:
    if config.probe_trainable:
        raise ValueError(
            "probe_trainable=True is not supported: the probe is a constant of the model "
            "(physics.md 2.4); set probe_trainable=False"
        )
    if config.torch_loss_mode == "mae" and config.nll_weight != 0:
        raise ValueError(
            f"torch_loss_mode='mae' asks for the amplitude MAE alone, but nll_weight="
            f"{config.nll_weight} keeps the Poisson term: the loss is always the weighted sum of "
            "physics.md 10, so set nll_weight=0 with mae_weight > 0 (or torch_loss_mode='poisson')"
        )


def create_backend() -> BackendAdapter:
    """The backend object :func:`backends.get` returns for ``"pytorch"``."""
    return BackendAdapter()
