"""Registered Keras layers of the model's physics path (docs/model.md section 5).

Every helper is a registered layer class (package ``ptychopinn``), never a Lambda layer, so a
graph can be rebuilt in Keras safe mode. The log-scale ``ℓ`` and the probe are not Keras
weights (model.md section 7): ``ℓ`` is a non-trainable ``tf.Variable`` shared by the two scaler
layers and frozen whatever ``intensity_scale_trainable`` says (physics.md 5.3); the probe is a
constant of :class:`ProbeIllumination`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from backends.graph import HEAD_ACTIVATIONS, PHASE_ACTIVATION
from backends.tensorflow import ops

PACKAGE = "ptychopinn"


def register(cls):
    """Register a layer class under ``ptychopinn>ClassName``."""
    return keras.saving.register_keras_serializable(package=PACKAGE, name=cls.__name__)(cls)


def make_log_scale(intensity_scale: float) -> tf.Variable:
    """The frozen log-scale variable ``ℓ = float32(ln s)`` (ln taken in float64)."""
    s = float(intensity_scale)
    if not (math.isfinite(s) and s > 0):
        raise ValueError(f"intensity_scale={intensity_scale!r} must be finite and > 0")
    return tf.Variable(np.float32(math.log(s)), trainable=False, name="log_scale")


class _LogScaleLayer(keras.layers.Layer):
    """Base of the two scaler layers: holds the shared ``ℓ`` outside Keras weight tracking."""

    def __init__(self, log_scale: tf.Variable | float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not isinstance(log_scale, tf.Variable):
            log_scale = tf.Variable(np.float32(log_scale), trainable=False, name="log_scale")
        self._log_scale = log_scale

    @property
    def log_scale(self) -> tf.Variable:
        """The shared ``ℓ`` variable."""
        return self._log_scale

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "log_scale": float(self._log_scale.numpy())}


@register
class IntensityScaler(_LogScaleLayer):
    """``x / exp(ℓ)`` (the network sees the normalised diffraction)."""

    def call(self, x):
        return x / tf.exp(self._log_scale)


@register
class IntensityScalerInv(_LogScaleLayer):
    """``x * exp(ℓ)`` (predicted amplitude back in photon units: ``pred_amp_scaled``)."""

    def call(self, x):
        return x * tf.exp(self._log_scale)


@register
class ChannelSlice(keras.layers.Layer):
    """Channels ``[start, stop)`` of an NHWC tensor (the head's main / border split)."""

    def __init__(self, start: int, stop: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.start, self.stop = int(start), int(stop)

    def call(self, x):
        return x[..., self.start : self.stop]

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "start": self.start, "stop": self.stop}


def _swish(x: tf.Tensor) -> tf.Tensor:
    return x * tf.sigmoid(x)


def _pi_tanh(x: tf.Tensor) -> tf.Tensor:
    return math.pi * tf.tanh(x)


_ACTIVATIONS: dict[str, Callable[[tf.Tensor], tf.Tensor]] = {
    "sigmoid": tf.sigmoid,
    "swish": _swish,
    "softplus": tf.math.softplus,
    "relu": tf.nn.relu,
    PHASE_ACTIVATION: _pi_tanh,
}


def head_activation(kind: str) -> Callable[[tf.Tensor], tf.Tensor]:
    """The head activation named ``kind`` (one of :data:`backends.graph.HEAD_ACTIVATIONS`:
    the amplitude head's choices, or ``pi_tanh`` for the phase head; model.md section 4)."""
    if kind not in HEAD_ACTIVATIONS:
        raise ValueError(
            f"Unknown activation {kind!r}; choose one of: {', '.join(HEAD_ACTIVATIONS)}"
        )
    return _ACTIVATIONS[kind]


@register
class HeadActivation(keras.layers.Layer):
    """Head activation layer: :func:`head_activation` of ``kind`` (sigmoid / swish (x sigmoid x)
    / softplus / relu, or ``pi_tanh`` for the phase head). An unknown name raises
    ``ValueError("Unknown activation ...")``."""

    def __init__(self, kind: str, **kwargs: Any) -> None:
        head_activation(kind)
        super().__init__(**kwargs)
        self.kind = kind

    def call(self, x):
        return head_activation(self.kind)(x)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "kind": self.kind}


@register
class BorderMask(keras.layers.Layer):
    """Multiply by ``1 - Q`` (zero on the central N/2 x N/2 square, physics.md 8.1)."""

    def __init__(self, N: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.N = int(N)
        self._mask = (1.0 - ops.center_mask(self.N))[None, :, :, None]

    def call(self, x):
        return x * self._mask

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "N": self.N}


@register
class CombineComplex(keras.layers.Layer):
    """``[A, φ] -> O`` complex64: polar ``A e^{iφ}`` or legacy_rect ``A + iφ``."""

    def __init__(self, mode: str = "polar", **kwargs: Any) -> None:
        if mode not in ("polar", "legacy_rect"):
            raise ValueError(f"combine_mode={mode!r} is not allowed; choose polar or legacy_rect")
        super().__init__(**kwargs)
        self.mode = mode

    def call(self, inputs):
        amp, phi = inputs
        return ops.combine_complex(amp, phi, self.mode)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "mode": self.mode}


@register
class ReassemblePatches(keras.layers.Layer):
    """``[obj (B,N,N,C), positions (B,1,2,C)] -> canvas (B,M,M,1)`` (physics.md 8.1)."""

    def __init__(self, M: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.M = int(M)

    def call(self, inputs):
        obj, positions = inputs
        return ops.merge_patches(obj, positions, self.M)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "M": self.M}


@register
class PadReconstruction(keras.layers.Layer):
    """Zero-pad the single decoder field (object_big=False) to the M x M canvas."""

    def __init__(self, M: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.M = int(M)

    def call(self, x):
        return ops.pad_to(x, self.M)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "M": self.M}


@register
class TrimReconstruction(keras.layers.Layer):
    """Central N x N of the canvas: ``trimmed_obj``."""

    def __init__(self, N: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.N = int(N)

    def call(self, x):
        return ops.trim(x, self.N)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "N": self.N}


@register
class ExtractPatchesPosition(keras.layers.Layer):
    """``[canvas, positions] -> (B*C, N, N, 1)`` patches (physics.md 7.2)."""

    def __init__(self, N: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.N = int(N)

    def call(self, inputs):
        canvas, positions = inputs
        return ops.extract_patches(canvas, positions, self.N)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "N": self.N}


@register
class ProbeIllumination(keras.layers.Layer):
    """``Ψ = O · P`` with the normalised probe constant, then optional smoothing and mask
    (physics.md 2.4). The probe is (N, N) complex64, already normalised."""

    def __init__(
        self,
        probe: np.ndarray | dict[str, Any],
        sigma: float = 0.0,
        mask: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if isinstance(probe, dict):  # from get_config
            probe = np.asarray(probe["real"], np.float32) + 1j * np.asarray(
                probe["imag"], np.float32
            )
        probe = np.asarray(probe).astype(np.complex64)
        if probe.ndim == 3 and probe.shape[-1] == 1:
            probe = probe[..., 0]
        if probe.ndim != 2 or probe.shape[0] != probe.shape[1]:
            raise ValueError(f"probe must be (N, N) complex; got shape {probe.shape}")
        self._probe_np = probe
        self.probe = tf.constant(probe, tf.complex64)
        self.sigma = float(sigma)
        self.mask = bool(mask)

    def call(self, x):
        return ops.illuminate(x, self.probe, self.sigma, self.mask)

    def get_config(self) -> dict[str, Any]:
        probe = {"real": self._probe_np.real.tolist(), "imag": self._probe_np.imag.tolist()}
        return {**super().get_config(), "probe": probe, "sigma": self.sigma, "mask": self.mask}


@register
class PadAndDiffract(keras.layers.Layer):
    """Far-field amplitude of the exit wave (physics.md 3, pad=False)."""

    def __init__(self, pad: bool = False, **kwargs: Any) -> None:
        if pad:
            raise ValueError("PadAndDiffract(pad=True) is not used by the model; use pad=False")
        super().__init__(**kwargs)

    def call(self, x):
        return ops.diffract(x)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "pad": False}


@register
class FlatToChannel(keras.layers.Layer):
    """(B*C, N, N, 1) -> (B, N, N, C)."""

    def __init__(self, C: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.C = int(C)

    def call(self, x):
        return ops.flat_to_channel(x, self.C)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "C": self.C}


@register
class Square(keras.layers.Layer):
    """``x²`` (``pred_intensity``)."""

    def call(self, x):
        return tf.square(x)


CUSTOM_OBJECTS: dict[str, type] = {
    f"{PACKAGE}>{cls.__name__}": cls
    for cls in (
        IntensityScaler,
        IntensityScalerInv,
        ChannelSlice,
        HeadActivation,
        BorderMask,
        CombineComplex,
        ReassemblePatches,
        PadReconstruction,
        TrimReconstruction,
        ExtractPatchesPosition,
        ProbeIllumination,
        PadAndDiffract,
        FlatToChannel,
        Square,
    )
}
"""Registered layer names the graph uses (the bundle manifest's ``custom_objects``)."""
