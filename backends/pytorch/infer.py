"""Inference: ``trimmed_obj`` for every group and the stitched object (docs/model.md 6,
physics.md 8.2); the twin of :mod:`backends.tensorflow.infer`, NumPy in and out in the
reference layout."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from backends.base import InferenceResult
from backends.core.inference import (
    amplitude_phase,
    batch_slices,
    model_inputs,
    predict_in_batches,
)
from backends.pytorch import devices, ops
from backends.pytorch.model import PtychoPINN
from backends.pytorch.train import to_nchw


class Predictor:
    """A ``diffraction_to_obj`` call for one model (any batch size): the module in eval mode,
    without autograd. PyTorch runs it eagerly (the twin of TensorFlow's traced predictor)."""

    def __init__(self, model: PtychoPINN) -> None:
        self._model = model

    def objects(self, x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """``trimmed_obj`` (B, 1, N, N) complex64 for channels-first ``s·X`` (B, C, N, N) and
        positions (B, C, 1, 2)."""
        self._model.eval()
        with torch.inference_mode():
            return self._model.predict_object(x, positions)

    def __call__(self, x_in: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """``trimmed_obj`` (B, N, N, 1) complex64 for ``s·X`` (B, N, N, C) and positions
        (B, 1, 2, C), reference layout."""
        return _to_reference(self.objects(to_nchw(x_in), to_nchw(positions)))


def predict_patches(
    model: PtychoPINN,
    X: np.ndarray,
    positions: np.ndarray,
    intensity_scale: float,
    batch_size: int = 64,
    predictor: Predictor | None = None,
) -> np.ndarray:
    """``trimmed_obj`` (G, N, N, 1) complex64 for normalised diffraction ``X`` (G, N, N, C) and
    positions (G, 1, 2, C) (``coords_nominal``), fed as ``s * X`` in batches.

    The batch size can change results at float32 rounding level only (the convolution kernels
    chosen depend on it; measured: batch 1 vs 64, 3e-6 relative).
    """
    slices = batch_slices(int(np.shape(X)[0]), batch_size)
    x, positions = model_inputs(X, positions, intensity_scale)
    predictor = predictor or Predictor(model)
    return predict_in_batches(predictor, x, positions, slices, model.N)


def _patches(
    model: PtychoPINN, X: np.ndarray, positions: np.ndarray, intensity_scale: float, batch_size: int
) -> torch.Tensor:
    slices = batch_slices(int(np.shape(X)[0]), batch_size)
    x_in, pos_in = model_inputs(X, positions, intensity_scale)
    x, pos = to_nchw(x_in), to_nchw(pos_in)
    predictor = Predictor(model)
    out = [predictor.objects(x[part], pos[part]) for part in slices]
    if not out:
        return torch.zeros((0, 1, model.N, model.N), dtype=torch.complex64, device=x.device)
    return torch.cat(out, dim=0)


def _to_reference(patches: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(devices.to_numpy(patches).transpose(0, 2, 3, 1))


def infer(
    model: PtychoPINN,
    data: Any,
    intensity_scale: float,
    batch_size: int = 64,
    crop: int = 20,
) -> InferenceResult:
    """Object patches of every group of a ``PtychoData`` container, stitched at the groups'
    ``global_offsets``, with amplitude and phase of the stitched object."""
    patches = _patches(model, data.X, data.coords_nominal, intensity_scale, batch_size)
    with torch.no_grad():
        stitched = ops.stitch(patches, np.asarray(data.global_offsets, dtype=np.float64), crop)
    canvas = devices.to_numpy(stitched).astype(np.complex64)
    amplitude, phase = amplitude_phase(canvas)
    return InferenceResult(
        patches=_to_reference(patches), stitched=canvas, amplitude=amplitude, phase=phase
    )
