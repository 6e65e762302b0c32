"""Inference: ``trimmed_obj`` for every group and the stitched object (docs/model.md 6,
physics.md 8.2)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from backends.core.inference import batch_slices, model_inputs
from backends.pytorch import ops
from backends.pytorch.model import PtychoPINN
from backends.pytorch.train import to_nchw


@dataclass
class Reconstruction:
    """Per-group patches (G, 1, N, N) complex64 and the stitched (S, S) object."""

    patches: torch.Tensor
    stitched: torch.Tensor


def object_patches(
    model: PtychoPINN, X: np.ndarray, positions: np.ndarray, batch_size: int = 64
) -> torch.Tensor:
    """``diffraction_to_obj`` on ``s·X`` for every group: (G, 1, N, N) complex64.

    ``X`` (G, N, N, C) is ``X_full`` and ``positions`` (G, 1, 2, C) ``coords_nominal``
    (reference layout). The batch size can change results at float32 rounding level only
    (the convolution kernels chosen depend on it; measured: batch 1 vs 64, 3e-6 relative).
    """
    slices = batch_slices(int(np.shape(X)[0]), batch_size)
    x_in, pos_in = model_inputs(X, positions, model_scale(model))
    x, pos = to_nchw(x_in), to_nchw(pos_in)
    model.eval()
    with torch.inference_mode():
        out = [model.predict_object(x[part], pos[part]) for part in slices]
    if not out:
        return torch.zeros((0, 1, model.N, model.N), dtype=torch.complex64, device=x.device)
    return torch.cat(out, dim=0)


def model_scale(model: PtychoPINN) -> float:
    """The intensity scale ``s`` the model was built for (kept beside ℓ)."""
    scale = getattr(model, "intensity_scale", None)
    if scale is None:
        raise ValueError("the model carries no intensity_scale")
    return float(scale)


def reconstruct(
    model: PtychoPINN, data: Any, batch_size: int = 64, crop: int = 20
) -> Reconstruction:
    """Object patches of every group of ``data`` (a ``backends.data`` container) and their
    stitching at the groups' ``global_offsets``."""
    patches = object_patches(model, data.X, data.coords_nominal, batch_size)
    with torch.no_grad():
        stitched = ops.stitch(patches, np.asarray(data.global_offsets, dtype=np.float64), crop)
    return Reconstruction(patches, stitched)
