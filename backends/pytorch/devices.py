"""Where the PyTorch backend computes: the current ``torch.device`` and the one way in.

:func:`use_device` resolves ``cpu|gpu|auto`` (:func:`backends.core.devices.resolve_device`)
and makes that device current for the process. Every tensor the backend makes from NumPy goes
through :func:`from_numpy` (to the current device), the model through :func:`place`, and
results come back to NumPy through :func:`to_numpy` (``.cpu()`` first). On a GPU, TF32 is
switched off and cuDNN made deterministic, so that a GPU run differs from a CPU run only by the
order of float32 reductions.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch

from backends.core.devices import CPU, GPU, DeviceFacts, resolve_device

CUBLAS_WORKSPACE = ":4096:8"
"""``CUBLAS_WORKSPACE_CONFIG`` that deterministic cuBLAS needs (set if not already set)."""
_CUDA = torch.device("cuda", 0)
"""The GPU used: the first visible one, which Lightning's ``devices=1`` also takes."""

_current = torch.device("cpu")


def gpu_count() -> int:
    """CUDA devices visible to torch (0 on a CPU-only build)."""
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def use_device(requested: str, count: int | None = None) -> str:
    """Make ``requested`` (cpu, gpu or auto) the current device; returns ``cpu`` or ``gpu``.

    ``count`` replaces the number of visible GPUs (for the resolution logic only).
    """
    global _current
    kind = resolve_device(requested, gpu_count() if count is None else count, "PyTorch")
    if kind == GPU:
        configure_gpu_numerics()
        _current = _CUDA
    else:
        _current = torch.device("cpu")
    return kind


def configure_gpu_numerics() -> None:
    """TF32 off for matrix products and convolutions, deterministic cuDNN and cuBLAS."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False


def current() -> torch.device:
    """The device tensors and models are placed on."""
    return _current


def kind() -> str:
    """``cpu`` or ``gpu``: the kind of :func:`current`."""
    return GPU if _current.type == "cuda" else CPU


def lightning_accelerator() -> str:
    """The ``accelerator`` of a Lightning Trainer on the current device."""
    return kind()


def from_numpy(array: Any, dtype: Any = None) -> torch.Tensor:
    """A private tensor copy of ``array`` (NumPy dtype ``dtype`` if given) on the current
    device; the one place where the backend turns NumPy into tensors."""
    a = np.array(array, dtype=dtype, order="C")  # a private, writable, C-ordered copy
    t = torch.from_numpy(a)
    return t if _current.type == "cpu" else t.to(_current)


def place(module: Any) -> Any:
    """``module`` moved onto the current device (in place; returns it)."""
    return module.to(_current)


def to_numpy(t: torch.Tensor) -> np.ndarray:
    """A tensor's values as NumPy, wherever it lives."""
    return t.detach().cpu().numpy()


def facts() -> DeviceFacts:
    """What the current device is (name, CUDA/cuDNN versions, TF32 and determinism flags)."""
    determinism: dict[str, Any] = {
        "deterministic_algorithms": bool(torch.are_deterministic_algorithms_enabled()),
        "cudnn_deterministic": bool(torch.backends.cudnn.deterministic),
        "cudnn_benchmark": bool(torch.backends.cudnn.benchmark),
    }
    count = gpu_count()
    if kind() == CPU:
        return DeviceFacts.on_cpu(
            f"torch {torch.__version__}", count, determinism, cuda_version=torch.version.cuda
        )
    props = torch.cuda.get_device_properties(_current)
    cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    determinism["cublas_workspace_config"] = os.environ.get("CUBLAS_WORKSPACE_CONFIG")
    return DeviceFacts(
        kind=GPU,
        name=str(props.name),
        framework=f"torch {torch.__version__}",
        gpu_count=count,
        driver_version=_driver_version(),
        cuda_version=torch.version.cuda,
        cudnn_version=None if cudnn is None else str(cudnn),
        compute_capability=f"{props.major}.{props.minor}",
        tf32=bool(torch.backends.cuda.matmul.allow_tf32 or torch.backends.cudnn.allow_tf32),
        determinism=determinism,
    )


def _driver_version() -> str | None:
    """The NVIDIA driver version through NVML where torch can reach it, else None."""
    try:
        import pynvml

        pynvml.nvmlInit()
        version = pynvml.nvmlSystemGetDriverVersion()
        return version.decode() if isinstance(version, bytes) else str(version)
    except Exception:
        return None
