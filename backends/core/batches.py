"""Which groups each training batch holds: the one batching rule of both backends' ``fit``."""

from __future__ import annotations

import numpy as np

from backends.training import batch_slices, epoch_permutation


def epoch_batches(n: int, batch_size: int, epoch: int, seed: int) -> list[np.ndarray]:
    """The rows of each batch of ``epoch`` over ``n`` training groups: consecutive slices of
    ``batch_size`` of :func:`backends.training.epoch_permutation` ``(n, epoch, seed)``, the last
    partial batch kept (Keras ``fit``)."""
    perm = epoch_permutation(n, epoch, seed)
    return [perm[sl] for sl in batch_slices(n, batch_size)]
