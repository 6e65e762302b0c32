"""The end of a training epoch, the rule both backends' loops share (docs/model.md 9)."""

from __future__ import annotations

import pytest

from backends.core.epochs import close_epoch
from backends.training import KerasEarlyStopping, KerasPlateau


def _means(total: float) -> dict[str, float]:
    return {"total": total, "nll": total / 2, "mae": 0.25, "realspace": 0.0}


def test_history_plateau_and_early_stopping_by_hand() -> None:
    """Validation loss flat for three epochs with plateau patience 2: the third epoch halves the
    learning rate for the next one (1e-3 -> 5e-4). Training loss 3, 2, 2 with early-stopping
    patience 1: the third epoch brings no improvement, so training stops after it."""
    history: dict[str, list[float]] = {
        k: [] for k in ("loss", "nll", "mae", "realspace", "lr", "val_loss")
    }
    plateau, stopper = KerasPlateau(patience=2), KerasEarlyStopping(patience=1)
    lr, outcomes = 1e-3, []
    for total in (3.0, 2.0, 2.0):
        lr, stop = close_epoch(history, _means(total), 1.0, lr, plateau, stopper)
        outcomes.append((lr, stop))
    assert outcomes == [(1e-3, False), (1e-3, False), (pytest.approx(5e-4), True)]
    assert history["loss"] == [3.0, 2.0, 2.0]
    assert history["nll"] == [1.5, 1.0, 1.0] and history["mae"] == [0.25] * 3
    assert history["lr"] == [1e-3] * 3  # the rate each epoch ran at
    assert history["val_loss"] == [1.0] * 3


def test_without_validation_the_rate_stays_and_no_val_loss_is_recorded() -> None:
    history: dict[str, list[float]] = {k: [] for k in ("loss", "nll", "mae", "realspace", "lr")}
    plateau, stopper = KerasPlateau(patience=0), KerasEarlyStopping(patience=5)
    lr, stop = close_epoch(history, _means(1.0), None, 2e-3, plateau, stopper)
    assert (lr, stop) == (2e-3, False)
    assert "val_loss" not in history and history["lr"] == [2e-3]
