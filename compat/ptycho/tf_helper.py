"""Upstream's ``tf_helper.reassemble_position``: post-hoc stitching (docs/physics.md 8.2),
computed by the TensorFlow backend's stitching op."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["reassemble_position"]


def reassemble_position(obj_tensor: Any, global_offsets: Any, M: int = 10) -> np.ndarray:
    """Stitch object patches (G, N, N, 1) at their group centres ``global_offsets``
    (G, 1, 2, 1), keeping the central ``M x M`` of each patch; returns (S, S, 1) complex64."""
    import backends

    backends.get("tensorflow")  # loads TensorFlow the project's way (thread settings, order)
    import tensorflow as tf

    from backends.tensorflow import ops

    patches = tf.constant(np.asarray(obj_tensor).astype(np.complex64))
    out = ops.stitch(patches, np.asarray(global_offsets, np.float64), int(M))
    return np.asarray(out.numpy()).astype(np.complex64)
