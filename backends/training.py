"""Framework-free training helpers shared by both backends (docs/model.md section 9).

The TensorFlow reference trains with Keras' ``ReduceLROnPlateau`` and ``EarlyStopping`` and the
Keras form of Adam. The PyTorch backend must reproduce those semantics, which differ from
torch's built-in scheduler and optimizer, so both are written out here explicitly:

* :class:`KerasPlateau` and :class:`KerasEarlyStopping`: improvement iff
  ``current < best - min_delta`` (absolute threshold), ``wait`` counts epochs without
  improvement, and the action fires when ``wait >= patience``.
* :func:`keras_adam_update`: one Adam step with epsilon added to ``sqrt(v)`` after the bias
  correction has been folded into the learning rate.
* :func:`epoch_permutation` and :func:`batch_slices`: the same per-epoch shuffling and batching
  for both backends.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "KerasEarlyStopping",
    "KerasPlateau",
    "batch_slices",
    "epoch_permutation",
    "keras_adam_update",
    "steps_per_epoch",
]


def epoch_permutation(n: int, epoch: int, seed: int) -> np.ndarray:
    """The order in which the ``n`` training groups are visited in ``epoch``.

    Deterministic in ``(seed, epoch)`` only: the generator is seeded with the pair, so the
    permutation of one epoch does not depend on how many epochs ran before it.
    """
    if n < 0:
        raise ValueError(f"n={n!r} is not allowed; it must be >= 0")
    if epoch < 0 or seed < 0:
        raise ValueError(f"epoch={epoch!r} and seed={seed!r} must both be >= 0")
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), int(epoch)]))
    return rng.permutation(n).astype(np.int64)


def batch_slices(n: int, batch_size: int) -> list[slice]:
    """Consecutive batches over ``n`` items; the last, partial batch is kept (Keras ``fit``)."""
    if batch_size <= 0:
        raise ValueError(f"batch_size={batch_size!r} is not allowed; it must be > 0")
    if n < 0:
        raise ValueError(f"n={n!r} is not allowed; it must be >= 0")
    return [slice(start, min(start + batch_size, n)) for start in range(0, n, batch_size)]


def steps_per_epoch(n_groups: int, batch_size: int, validation_fraction: float = 0.05) -> int:
    """Optimiser steps in one epoch of :func:`fit`-style training on ``n_groups`` groups: the
    batches over the groups left after the validation split (the last ``G - floor(G (1 -
    fraction))`` groups validate, as ``backends.data.validation_split``)."""
    n_train = math.floor(n_groups * (1.0 - validation_fraction))
    return len(batch_slices(n_train, batch_size))


class KerasPlateau:
    """``ReduceLROnPlateau`` with Keras semantics (mode ``min``, absolute ``min_delta``).

    Call :meth:`update` once per epoch with the monitored value (``val_loss``) and the current
    learning rate; it returns the learning rate for the next epoch.
    """

    def __init__(
        self,
        factor: float = 0.5,
        patience: int = 2,
        min_lr: float = 1e-4,
        min_delta: float = 1e-4,
        cooldown: int = 0,
    ) -> None:
        if not 0.0 < factor < 1.0:
            raise ValueError(f"factor={factor!r} is not allowed; it must be in (0, 1)")
        if patience < 0 or cooldown < 0:
            raise ValueError(f"patience={patience!r} and cooldown={cooldown!r} must be >= 0")
        self.factor = factor
        self.patience = patience
        self.min_lr = min_lr
        self.min_delta = min_delta
        self.cooldown = cooldown
        self.best = math.inf
        self.wait = 0
        self.cooldown_counter = 0

    def update(self, value: float, lr: float) -> float:
        """Record one epoch's monitored ``value``; return the (possibly reduced) learning rate."""
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if value < self.best - self.min_delta:
            self.best = float(value)
            self.wait = 0
            return lr
        if self.cooldown_counter > 0:
            return lr
        self.wait += 1
        # Keras holds the learning rate in float32 and compares it with float32(min_lr)
        if self.wait >= self.patience and np.float32(lr) > np.float32(self.min_lr):
            lr = max(lr * self.factor, self.min_lr)
            self.cooldown_counter = self.cooldown
            self.wait = 0
        return lr


class KerasEarlyStopping:
    """``EarlyStopping`` with Keras semantics (mode ``min``, absolute ``min_delta``, no restore).

    :meth:`update` returns True when training should stop after this epoch.
    """

    def __init__(self, patience: int = 3, min_delta: float = 0.0) -> None:
        if patience < 0:
            raise ValueError(f"patience={patience!r} is not allowed; it must be >= 0")
        self.patience = patience
        self.min_delta = abs(min_delta)
        self.best = math.inf
        self.wait = 0
        self.epoch = -1

    def update(self, value: float) -> bool:
        """Record one epoch's monitored ``value`` (training loss); True means stop.

        As in Keras, the first epoch (index 0) never stops training.
        """
        self.epoch += 1
        self.wait += 1
        if value < self.best - self.min_delta:
            self.best = float(value)
            self.wait = 0
            return False
        return self.wait >= self.patience and self.epoch > 0


def keras_adam_update(
    param: np.ndarray,
    grad: np.ndarray,
    m: np.ndarray,
    v: np.ndarray,
    t: int,
    lr: float,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-7,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One Keras Adam step (model.md section 9); returns ``(param, m, v)`` after step ``t``.

    ``t`` counts from 1. ``m <- b1 m + (1-b1) g``, ``v <- b2 v + (1-b2) g^2`` and
    ``param <- param - lr sqrt(1-b2^t)/(1-b1^t) * m / (sqrt(v) + eps)``. Inputs are not modified.
    """
    if t < 1:
        raise ValueError(f"t={t!r} is not allowed; Adam steps count from 1")
    grad = np.asarray(grad)
    m_new = beta1 * np.asarray(m) + (1.0 - beta1) * grad
    v_new = beta2 * np.asarray(v) + (1.0 - beta2) * grad * grad
    alpha = lr * math.sqrt(1.0 - beta2**t) / (1.0 - beta1**t)
    param_new = np.asarray(param) - alpha * m_new / (np.sqrt(v_new) + eps)
    return param_new, m_new, v_new
