"""Which device a backend computes on: the vocabulary, its resolution and the facts recorded.

``--device cpu|gpu|auto`` (and the execution setting ``accelerator``, which means the same) is
resolved once per run by :func:`resolve_device` against the number of GPUs the framework sees:
``auto`` takes a GPU when one is visible, ``gpu`` without one is refused with the fix. What was
used is described by :class:`DeviceFacts`, which traces, histories and reports record.

Framework-free: each backend's ``devices`` module counts its GPUs and fills in the facts.
"""

from __future__ import annotations

import dataclasses
import platform
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ACCELERATOR_DEVICES",
    "AUTO",
    "CPU",
    "DEVICES",
    "GPU",
    "KINDS",
    "DeviceFacts",
    "check_device",
    "device_from_accelerator",
    "requested_device",
    "resolve_device",
]

CPU = "cpu"
GPU = "gpu"
AUTO = "auto"
KINDS = (CPU, GPU)
"""What a device resolves to."""
DEVICES = (CPU, GPU, AUTO)
"""What ``--device`` and the scenario setting ``[run] device`` accept."""
ACCELERATOR_DEVICES = {"auto": AUTO, "cpu": CPU, "gpu": GPU, "cuda": GPU}
"""Execution setting ``accelerator`` -> the device it means (``cuda`` is an alias of ``gpu``)."""


def check_device(requested: str, option: str = "--device") -> str:
    """``requested`` in lower case when it is one of :data:`DEVICES`; ValueError naming
    ``option`` otherwise."""
    value = str(requested).strip().lower()
    if value not in DEVICES:
        raise ValueError(f"{option} {requested!r} is not a device; choose one of cpu, gpu, auto")
    return value


def device_from_accelerator(accelerator: str) -> str:
    """The device an execution setting ``accelerator`` names (auto, cpu, gpu or cuda)."""
    value = str(accelerator).strip().lower()
    if value not in ACCELERATOR_DEVICES:
        raise ValueError(
            f"execution setting accelerator={accelerator!r} is not supported; use "
            f"{', '.join(ACCELERATOR_DEVICES)} (the same as --device)"
        )
    return ACCELERATOR_DEVICES[value]


def requested_device(
    device: str | None, execution: Mapping[str, Any] | None = None, default: str = AUTO
) -> str:
    """The one device a run asks for: ``device`` (``--device``) and the execution setting
    ``accelerator`` must agree where both are given and neither is ``auto``; the more
    specific wins, ``default`` applies when neither is given."""
    accelerator = (execution or {}).get("accelerator")
    from_option = None if device is None else check_device(device)
    from_setting = None if accelerator is None else device_from_accelerator(accelerator)
    both = from_option and from_setting and AUTO not in (from_option, from_setting)
    if both and from_option != from_setting:
        raise ValueError(
            f"--device {from_option} contradicts the execution setting accelerator="
            f"{accelerator!r}; give one of them"
        )
    for value in (from_option, from_setting):
        if value is not None and value != AUTO:
            return value
    return from_option or from_setting or check_device(default)


def resolve_device(requested: str, gpu_count: int, framework: str = "the framework") -> str:
    """``cpu`` or ``gpu`` for a request of cpu/gpu/auto when ``gpu_count`` GPUs are visible.

    ``auto`` takes a GPU when there is one; ``gpu`` with none raises ValueError with the fix.
    """
    value = check_device(requested)
    if gpu_count < 0:
        raise ValueError(f"gpu_count={gpu_count} must be >= 0")
    if value == AUTO:
        return GPU if gpu_count > 0 else CPU
    if value == GPU and gpu_count == 0:
        raise ValueError(
            f"--device gpu: no GPU is visible to {framework} (a CUDA build of it, a driver and "
            "a visible device are needed; check CUDA_VISIBLE_DEVICES); use --device cpu or auto"
        )
    return value


def _json_value(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Mapping):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    return str(value)


@dataclass(frozen=True)
class DeviceFacts:
    """What one backend computed on, JSON-safe (:meth:`to_dict`).

    ``kind`` is ``cpu`` or ``gpu``; ``name`` the device's name (the GPU's model, or the CPU's);
    the versions are those of the framework's build and of the driver where the framework
    reports them (None otherwise); ``tf32`` whether TensorFloat-32 matrix products are allowed
    (None where the device has none); ``determinism`` the framework's determinism switches.
    """

    kind: str
    name: str
    framework: str
    gpu_count: int = 0
    driver_version: str | None = None
    cuda_version: str | None = None
    cudnn_version: str | None = None
    compute_capability: str | None = None
    tf32: bool | None = None
    determinism: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def on_cpu(
        cls,
        framework: str,
        gpu_count: int,
        determinism: dict[str, Any],
        cuda_version: str | None = None,
        cudnn_version: str | None = None,
    ) -> DeviceFacts:
        """The facts of a computation on the CPU, named by the processor (else the machine)
        it runs on; the versions are those of the framework's build."""
        return cls(
            kind=CPU,
            name=platform.processor() or platform.machine() or "cpu",
            framework=framework,
            gpu_count=gpu_count,
            cuda_version=cuda_version,
            cudnn_version=cudnn_version,
            determinism=determinism,
        )

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"device kind {self.kind!r} is not one of {', '.join(KINDS)}")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types only (numbers, strings, booleans, None, lists, dicts)."""
        return {k: _json_value(v) for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DeviceFacts:
        """Inverse of :meth:`to_dict` (unknown keys are ignored)."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})
