"""The known defects injected into the real PyTorch backend.

Each patcher returns a wrapper of the backend whose every call (and every call of its ``ops``)
runs inside the backend's public hook :meth:`backends.base.Introspection.override_kernels`, with
some public kernel functions (of its ops, training, weight conversion or configuration bridge)
replaced exactly where a naive port would have the defect. The replacements are active only
during those calls, so a TensorFlow reference recorded in the same process is untouched.
Imported by :func:`parity.defects.inject` for backends named ``pytorch``.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

from backends.base import KernelPatch as Patch
from parity.defects import register_patcher


class _Scoped:
    """Calls of the wrapped object run with the kernels of ``patches`` replaced."""

    def __init__(self, inner: Any, patches: list[Patch], hook: Any) -> None:
        self._inner = inner
        self._patches = patches
        self._hook = hook

    def __getattr__(self, attr: str) -> Any:
        value = getattr(self.__dict__["_inner"], attr)
        patches, hook = self.__dict__["_patches"], self.__dict__["_hook"]
        if attr == "ops":
            return _Scoped(value, patches, hook)
        if callable(value):

            @functools.wraps(value)
            def call(*args: Any, **kwargs: Any) -> Any:
                with hook(patches):
                    return value(*args, **kwargs)

            return call
        return value


def _register(defect: str, patches: Callable[[], list[Patch]]) -> None:
    register_patcher(
        defect, "pytorch", lambda backend: _Scoped(backend, patches(), backend.override_kernels)
    )


def _fftshift_dropped() -> list[Patch]:
    import torch

    def diffract(_original: Any) -> Any:
        def no_shift(psi: Any) -> Any:
            h, w = psi.shape[-2:]
            f = torch.fft.fft2(psi)
            return torch.sqrt((f.real * f.real + f.imag * f.imag) / (h * w))

        return no_shift

    return [("ops", "diffract", diffract)]


def _half_pixel() -> list[Patch]:
    def sampling(original: Any) -> Any:
        def shifted(start: int, count: int, shift: Any, size: int) -> Any:
            return original(start, count, shift + 0.5, size)

        return shifted

    return [("ops", "axis_sampling", sampling)]


def _sign_flipped() -> list[Patch]:
    def negate(original: Any) -> Any:
        def flipped(x: Any, shifts: Any, size: int) -> Any:
            return original(x, -shifts, size)

        return flipped

    return [
        ("ops", "merge_patches", negate),
        ("ops", "extract_patches", negate),
    ]


def _merge_clamped() -> list[Patch]:
    from backends.pytorch import ops

    def merge(_original: Any) -> Any:
        def clamped(patches: Any, shifts: Any, M: int) -> Any:
            B, C, N, _ = patches.shape
            num = ops.sum_channels(ops.translate(ops.pad_to(patches, M), -shifts))
            q = ops.pad_to(ops.center_mask(N).expand(B, C, N, N), M)
            den = ops.sum_channels(ops.translate(q, -shifts)).clamp(min=1.0)
            return ops.divide_parts(num, den)

        return clamped

    return [("ops", "merge_patches", merge)]


def _adam_epsilon() -> list[Patch]:
    def adam(original: Any) -> Any:
        class TorchEpsilonAdam(original):
            def __init__(
                self,
                params: Any,
                lr: float = 1e-3,
                beta1: float = 0.9,
                beta2: float = 0.999,
                eps: float = 1e-8,
            ) -> None:
                super().__init__(params, lr=lr, beta1=beta1, beta2=beta2, eps=1e-8)

        return TorchEpsilonAdam

    # both forms of the optimiser: Lightning's and the one of the step lists
    return [("train", "KerasAdam", adam), ("train", "PlainKerasAdam", adam)]


def _log_factorial() -> list[Patch]:
    import torch

    def nll(original: Any) -> Any:
        def full(pred: Any, target: Any) -> Any:
            return original(pred, target) + torch.mean(torch.lgamma(target + 1.0))

        return full

    return [("ops", "poisson_nll", nll)]


def _kernel_transposed() -> list[Patch]:
    import numpy as np

    from backends.weights import is_kernel

    def convert(original: Any) -> Any:
        def swapped(name: str, array: Any) -> Any:
            if is_kernel(name):
                return np.ascontiguousarray(np.asarray(array).transpose(3, 2, 1, 0))
            return original(name, array)

        return swapped

    return [("weights", "to_torch", convert), ("weights", "from_torch", convert)]


def _bridge_drops_object_big() -> list[Patch]:
    from backends.config.torch_native import ModelConfig as TorchModelConfig

    default = TorchModelConfig().object_big

    def bridge(original: Any) -> Any:
        def dropped(*args: Any, **kwargs: Any) -> Any:
            return dataclasses.replace(original(*args, **kwargs), object_big=default)

        return dropped

    return [("bridge", "to_model_config", bridge)]


_register("fftshift-dropped", _fftshift_dropped)
_register("half-pixel-translation", _half_pixel)
_register("translation-sign-flipped", _sign_flipped)
_register("merge-clamped", _merge_clamped)
_register("adam-epsilon", _adam_epsilon)
_register("poisson-log-factorial", _log_factorial)
_register("kernel-transposed", _kernel_transposed)
_register("bridge-drops-object-big", _bridge_drops_object_big)
