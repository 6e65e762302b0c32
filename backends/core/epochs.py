"""The end of a training epoch: the one rule of both backends' training loops.

TensorFlow's loop and PyTorch's Lightning module each accumulate an epoch's loss terms in their
own tensors; what follows the epoch is the same in both (docs/model.md 9): the history, the
plateau schedule on the validation loss, early stopping on the training loss.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any

from backends.core.losses import LOSS_TERMS


def close_epoch(
    history: MutableMapping[str, list[float]],
    means: Mapping[str, float],
    val_loss: float | None,
    learning_rate: float,
    plateau: Any,
    stopper: Any,
) -> tuple[float, bool]:
    """Record one finished epoch and decide what comes next.

    Appends the epoch's mean loss (``means["total"]``) and terms, the learning rate it ran at
    and, when there is validation data, ``val_loss`` to ``history``; steps ``plateau``
    (:class:`backends.training.KerasPlateau`) on ``val_loss`` and ``stopper``
    (:class:`backends.training.KerasEarlyStopping`) on the training loss. Returns the learning
    rate of the next epoch and whether training stops here.
    """
    history["loss"].append(means["total"])
    for term in LOSS_TERMS[1:]:
        history[term].append(means[term])
    history["lr"].append(learning_rate)
    if val_loss is not None:
        history["val_loss"].append(val_loss)
        learning_rate = plateau.update(val_loss, learning_rate)
    return learning_rate, bool(stopper.update(means["total"]))
