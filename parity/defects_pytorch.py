"""The known defects injected into the real PyTorch backend.

Each patcher returns a wrapper of the backend whose every call (and every call of its ``ops``)
runs with some functions of ``backends.pytorch`` (or of the weight conversion or the
configuration bridge it uses) replaced, exactly where a naive port would have the defect. The
replacements are active only during those calls, so a TensorFlow reference recorded in the same
process is untouched. Imported by :func:`parity.defects.inject` for backends named ``pytorch``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import importlib
from collections.abc import Callable, Iterator
from typing import Any

from parity.defects import register_patcher

Patch = tuple[str, str, Callable[[Any], Any]]
"""(module, attribute, factory): the factory receives the original and returns the replacement."""


@contextlib.contextmanager
def _patched(patches: list[Patch]) -> Iterator[None]:
    saved: list[tuple[Any, str, Any]] = []
    try:
        for module_name, attr, factory in patches:
            module = importlib.import_module(module_name)
            original = getattr(module, attr)
            saved.append((module, attr, original))
            setattr(module, attr, factory(original))
        yield
    finally:
        for module, attr, original in reversed(saved):
            setattr(module, attr, original)


class _Scoped:
    """Calls of the wrapped object run inside the patches."""

    def __init__(self, inner: Any, patches: list[Patch]) -> None:
        self._inner = inner
        self._patches = patches

    def __getattr__(self, attr: str) -> Any:
        value = getattr(self.__dict__["_inner"], attr)
        patches = self.__dict__["_patches"]
        if attr == "ops":
            return _Scoped(value, patches)
        if callable(value):

            @functools.wraps(value)
            def call(*args: Any, **kwargs: Any) -> Any:
                with _patched(patches):
                    return value(*args, **kwargs)

            return call
        return value


def _register(defect: str, patches: Callable[[], list[Patch]]) -> None:
    register_patcher(defect, "pytorch", lambda backend: _Scoped(backend, patches()))


def _fftshift_dropped() -> list[Patch]:
    import torch

    def diffract(_original: Any) -> Any:
        def no_shift(psi: Any) -> Any:
            h, w = psi.shape[-2:]
            f = torch.fft.fft2(psi)
            return torch.sqrt((f.real * f.real + f.imag * f.imag) / (h * w))

        return no_shift

    return [("backends.pytorch.ops", "diffract", diffract)]


def _half_pixel() -> list[Patch]:
    def sampling(original: Any) -> Any:
        def shifted(start: int, count: int, shift: Any, size: int) -> Any:
            return original(start, count, shift + 0.5, size)

        return shifted

    return [("backends.pytorch.ops", "_axis_sampling", sampling)]


def _sign_flipped() -> list[Patch]:
    def negate(original: Any) -> Any:
        def flipped(x: Any, shifts: Any, size: int) -> Any:
            return original(x, -shifts, size)

        return flipped

    return [
        ("backends.pytorch.ops", "merge_patches", negate),
        ("backends.pytorch.ops", "extract_patches", negate),
    ]


def _merge_clamped() -> list[Patch]:
    from backends.pytorch import ops

    def merge(_original: Any) -> Any:
        def clamped(patches: Any, shifts: Any, M: int) -> Any:
            B, C, N, _ = patches.shape
            num = ops._sum_channels(ops.translate(ops.pad_to(patches, M), -shifts))
            q = ops.pad_to(ops.center_mask(N).expand(B, C, N, N), M)
            den = ops._sum_channels(ops.translate(q, -shifts)).clamp(min=1.0)
            return ops._divide_parts(num, den)

        return clamped

    return [("backends.pytorch.ops", "merge_patches", merge)]


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

    return [("backends.pytorch.train", "KerasAdam", adam)]


def _log_factorial() -> list[Patch]:
    import torch

    def nll(original: Any) -> Any:
        def full(pred: Any, target: Any) -> Any:
            return original(pred, target) + torch.mean(torch.lgamma(target + 1.0))

        return full

    return [("backends.pytorch.ops", "poisson_nll", nll)]


def _kernel_transposed() -> list[Patch]:
    import numpy as np

    from backends.weights import is_kernel

    def convert(original: Any) -> Any:
        def swapped(name: str, array: Any) -> Any:
            if is_kernel(name):
                return np.ascontiguousarray(np.asarray(array).transpose(3, 2, 1, 0))
            return original(name, array)

        return swapped

    return [("backends.weights", "to_torch", convert), ("backends.weights", "from_torch", convert)]


def _bridge_drops_object_big() -> list[Patch]:
    from backends.config.torch_native import ModelConfig as TorchModelConfig

    default = TorchModelConfig().object_big

    def bridge(original: Any) -> Any:
        def dropped(*args: Any, **kwargs: Any) -> Any:
            return dataclasses.replace(original(*args, **kwargs), object_big=default)

        return dropped

    return [("backends.config.bridge", "to_model_config", bridge)]


_register("fftshift-dropped", _fftshift_dropped)
_register("half-pixel-translation", _half_pixel)
_register("translation-sign-flipped", _sign_flipped)
_register("merge-clamped", _merge_clamped)
_register("adam-epsilon", _adam_epsilon)
_register("poisson-log-factorial", _log_factorial)
_register("kernel-transposed", _kernel_transposed)
_register("bridge-drops-object-big", _bridge_drops_object_big)
