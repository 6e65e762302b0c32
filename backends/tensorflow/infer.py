"""Inference: batched ``trimmed_obj`` prediction and post-hoc stitching (physics.md 8.2)."""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from backends.base import InferenceResult
from backends.core.inference import (
    amplitude_phase,
    batch_slices,
    model_inputs,
    predict_in_batches,
)
from backends.tensorflow import ops
from backends.tensorflow.model import PtychoPINN

EAGER_BATCHES = 2
"""Predictions of up to this many batches run eagerly: tracing the model costs seconds, an eager
batch a fraction of one, and the outputs are the same numbers."""


class Predictor:
    """A ``diffraction_to_obj`` call for one model (any batch size): traced once (``compiled``)
    or eager."""

    def __init__(self, models: PtychoPINN, compiled: bool = True) -> None:
        N, C = models.config.N, models.config.channels
        model = models.diffraction_to_obj
        if not compiled:
            self._fn = lambda x, p: model([x, p], training=False)
            return
        self._fn = tf.function(
            lambda x, p: model([x, p], training=False),
            input_signature=[
                tf.TensorSpec([None, N, N, C], tf.float32),
                tf.TensorSpec([None, 1, 2, C], tf.float32),
            ],
        )

    def __call__(self, x_in: np.ndarray, positions: np.ndarray) -> np.ndarray:
        return self._fn(tf.constant(x_in), tf.constant(positions)).numpy()


def predict_patches(
    model: PtychoPINN,
    X: np.ndarray,
    positions: np.ndarray,
    intensity_scale: float,
    batch_size: int = 64,
    predictor: Predictor | None = None,
) -> np.ndarray:
    """``trimmed_obj`` (G, N, N, 1) complex64 for normalised diffraction ``X`` (G, N, N, C)
    and positions (G, 1, 2, C), fed as ``s * X`` in batches."""
    slices = batch_slices(int(np.shape(X)[0]), batch_size)
    x, positions = model_inputs(X, positions, intensity_scale)
    predictor = predictor or Predictor(model, compiled=len(slices) > EAGER_BATCHES)
    return predict_in_batches(predictor, x, positions, slices, model.config.N)


def infer(
    model: PtychoPINN, data: Any, intensity_scale: float, batch_size: int = 64, crop: int = 20
) -> InferenceResult:
    """Object patches of every group of a ``PtychoData`` container, stitched at the groups'
    ``global_offsets``, with amplitude and phase of the stitched object."""
    patches = predict_patches(
        model, data.X, data.coords_nominal, intensity_scale, batch_size=batch_size
    )
    stitched = ops.stitch(tf.constant(patches), np.asarray(data.global_offsets), crop).numpy()
    stitched = stitched[..., 0].astype(np.complex64)
    amplitude, phase = amplitude_phase(stitched)
    return InferenceResult(patches=patches, stitched=stitched, amplitude=amplitude, phase=phase)
