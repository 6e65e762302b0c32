"""Where the TensorFlow backend computes: ``/CPU:0`` or ``/GPU:0`` for the adapter's work.

:func:`use_device` resolves ``cpu|gpu|auto`` (:func:`backends.core.devices.resolve_device`);
:func:`placement` is the ``tf.device`` scope the adapter's entry points (build, forward,
gradients, training, inference, bundles) and the parity recorder run under, so that variables
and ops land on the chosen device rather than wherever TensorFlow would put them. TF32 is
switched off (a no-op on the CPU); op determinism is enabled by the trainer.
"""

from __future__ import annotations

import os
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from backends.core.devices import CPU, GPU, DeviceFacts, resolve_device

_kind: str | None = None
"""None until :func:`use_device` is called: TensorFlow's own placement (a visible GPU)."""


def _tf() -> Any:
    import tensorflow as tf

    return tf


def gpu_count() -> int:
    """GPUs visible to TensorFlow (0 on a CPU-only build)."""
    return len(_tf().config.list_physical_devices("GPU"))


def use_device(requested: str, count: int | None = None) -> str:
    """Make ``requested`` (cpu, gpu or auto) the device of :func:`placement`; returns ``cpu``
    or ``gpu``. ``count`` replaces the number of visible GPUs (for the resolution logic only)."""
    global _kind
    _kind = resolve_device(requested, gpu_count() if count is None else count, "TensorFlow")
    _tf().config.experimental.enable_tensor_float_32_execution(False)
    return _kind


def kind() -> str:
    """``cpu`` or ``gpu``: the chosen kind, or before any choice where TensorFlow places ops."""
    if _kind is None:
        return GPU if gpu_count() else CPU
    return _kind


def device_name() -> str:
    """The TensorFlow device string of the current kind."""
    return "/GPU:0" if kind() == GPU else "/CPU:0"


def placement() -> AbstractContextManager[Any]:
    """``tf.device`` of the chosen kind (nothing before :func:`use_device`)."""
    if _kind is None:
        return nullcontext()
    scope: AbstractContextManager[Any] = _tf().device(device_name())
    return scope


def _op_determinism() -> bool:
    try:
        from tensorflow.python.framework import config as tf_config

        return bool(tf_config.is_op_determinism_enabled())
    except (ImportError, AttributeError):
        return os.environ.get("TF_DETERMINISTIC_OPS", "") in ("1", "true", "True")


def facts() -> DeviceFacts:
    """What the current device is (name, CUDA/cuDNN versions of the build, TF32, determinism)."""
    tf = _tf()
    build = dict(tf.sysconfig.get_build_info())
    determinism = {"op_determinism": _op_determinism()}
    tf32 = bool(tf.config.experimental.tensor_float_32_execution_enabled())
    count = gpu_count()
    if kind() == CPU:
        return DeviceFacts.on_cpu(
            f"tensorflow {tf.__version__}",
            count,
            determinism,
            cuda_version=build.get("cuda_version"),
            cudnn_version=build.get("cudnn_version"),
        )
    gpu = tf.config.list_physical_devices("GPU")[0]
    details = dict(tf.config.experimental.get_device_details(gpu))
    capability = details.get("compute_capability")
    return DeviceFacts(
        kind=GPU,
        name=str(details.get("device_name", gpu.name)),
        framework=f"tensorflow {tf.__version__}",
        gpu_count=count,
        cuda_version=build.get("cuda_version"),
        cudnn_version=build.get("cudnn_version"),
        compute_capability=None if capability is None else ".".join(map(str, capability)),
        tf32=tf32,
        determinism=determinism,
    )
