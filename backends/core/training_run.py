"""The bookkeeping of one training run: the rules both backends' training loops share.

TensorFlow's own loop and PyTorch's Lightning module each drive the iteration and the framework
calls (train step, evaluation, optimiser state); everything they record and decide around those
calls is :class:`TrainingRun`'s (docs/model.md 9): the history, the loss of every step, the
epoch means weighted by batch size, the learning rate with its plateau schedule, early stopping,
the step and epoch rows of the training log, checkpoints, and continuing from a saved
:class:`~backends.core.checkpoint.TrainingState`.

A loop calls :meth:`TrainingRun.resume` (when continuing), then per epoch
:meth:`~TrainingRun.step` for each training batch, :meth:`~TrainingRun.validation` for each
validation batch and :meth:`~TrainingRun.end_epoch` once.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, NamedTuple, Protocol

import numpy as np

import backends.training as schedules
from backends.core.checkpoint import (
    CheckpointHook,
    TrainingState,
    restore_schedules,
    schedule_counters,
)
from backends.core.epochs import close_epoch
from backends.core.losses import LOSS_TERMS
from backends.core.training_log import epoch_metrics, step_metrics

if TYPE_CHECKING:
    from backends.base import TrainResult

StepCallback = Callable[[int, Mapping[str, float]], None]
"""Called after every training step with the step's index over the whole run and its terms."""


class MetricsSink(Protocol):
    """Where the run writes its log rows (the TensorFlow loop's log, a Lightning logger)."""

    def log_metrics(self, metrics: dict[str, float], step: int) -> None: ...


class ModelState(NamedTuple):
    """What only the backend can read for a checkpoint: the optimiser's step count, the Adam
    moments and the weights, by canonical weight name in the reference layout."""

    iterations: int
    m: dict[str, np.ndarray]
    v: dict[str, np.ndarray]
    weights: dict[str, np.ndarray]


def empty_history() -> dict[str, list[float]]:
    """The per-epoch lists of a run that has not finished an epoch: ``loss``, ``val_loss``,
    ``lr`` and one list per loss term other than ``total``."""
    history: dict[str, list[float]] = {"loss": [], "val_loss": [], "lr": []}
    for term in LOSS_TERMS[1:]:
        history[term] = []
    return history


def _mean(total: float, rows: int) -> float:
    return total / rows if rows else math.nan


class TrainingRun:
    """History, step losses, learning rate, plateau and early stopping of one training run.

    ``n_epochs``: the epoch count the run ends at (epochs are numbered from 0 over the whole
    run, those before a resume included). ``learning_rate``: the initial rate.
    ``early_stop_patience``: the patience of early stopping on the training loss; the plateau
    schedule on the validation loss halves the rate after 2 epochs without an improvement of
    1e-4, down to 1e-4 (:class:`backends.training.KerasPlateau`). ``on_step`` is called after
    every step; ``checkpoint`` is asked after every epoch whether to save the state, which is
    written only when ``saves_checkpoints`` (one worker of several asks, only one writes).
    ``log``: where the step and epoch rows go (None: nowhere); a loop that opens its log later
    may set the attribute before the first step.
    """

    def __init__(
        self,
        n_epochs: int,
        learning_rate: float,
        early_stop_patience: int,
        *,
        on_step: StepCallback | None = None,
        checkpoint: CheckpointHook | None = None,
        log: MetricsSink | None = None,
        saves_checkpoints: bool = True,
    ) -> None:
        self.n_epochs = int(n_epochs)
        self.learning_rate = float(learning_rate)
        self.plateau = schedules.KerasPlateau(factor=0.5, patience=2, min_lr=1e-4, min_delta=1e-4)
        self.stopper = schedules.KerasEarlyStopping(patience=early_stop_patience, min_delta=0.0)
        self.on_step = on_step
        self.checkpoint = checkpoint
        self.log = log
        self.saves_checkpoints = saves_checkpoints
        self.history = empty_history()
        self.step_loss: list[float] = []
        self.step_terms: list[dict[str, float]] = []
        self.stopped_epoch: int | None = None
        self.epoch = 0
        self._reset_sums()

    def _reset_sums(self) -> None:
        self._sums = dict.fromkeys(LOSS_TERMS, 0.0)
        self._rows = 0
        self._val_sum = 0.0
        self._val_rows = 0

    # ---- where the run stands

    @property
    def global_step(self) -> int:
        """The index of the next training step over the whole run."""
        return len(self.step_loss)

    @property
    def done(self) -> bool:
        """True when no epoch is left: early stopping ended the run, or ``n_epochs`` ran."""
        return self.stopped_epoch is not None or self.epoch >= self.n_epochs

    def epochs(self) -> Iterator[int]:
        """The indices of the epochs left, each yielded once :meth:`end_epoch` closed the one
        before; the iteration ends with the run (:attr:`done`)."""
        while not self.done:
            epoch = self.epoch
            yield epoch
            if self.epoch == epoch:
                raise RuntimeError(f"epoch {epoch} was not closed with end_epoch")

    # ---- continuing

    def resume(self, state: TrainingState) -> None:
        """Continue from ``state``: its learning rate, schedule counters, history, step losses
        and stopped epoch; the next epoch is ``state.epoch`` (none is left when it had
        stopped, :attr:`done`). The backend restores the weights, the optimiser and its
        learning rate itself."""
        self.learning_rate = state.learning_rate
        restore_schedules(self.plateau, self.stopper, state)
        self.history = {k: list(v) for k, v in state.history.items()}
        self.step_loss = list(state.step_loss)
        self.stopped_epoch = state.stopped_epoch
        self.epoch = state.epoch

    # ---- one epoch

    def step(self, terms: dict[str, float], n_rows: int) -> None:
        """Record one training step: its loss terms (Python floats, before the update) on a
        batch of ``n_rows`` groups; calls ``on_step`` and logs the step's row."""
        for k in LOSS_TERMS:
            self._sums[k] += terms[k] * n_rows
        self._rows += n_rows
        index = self.global_step
        self.step_loss.append(terms["total"])
        self.step_terms.append(terms)
        if self.on_step is not None:
            self.on_step(index, terms)
        if self.log is not None:
            self.log.log_metrics(step_metrics(self.epoch, terms), step=index)

    def validation(self, loss: float, n_rows: int) -> None:
        """Record the total loss of one validation batch of ``n_rows`` groups."""
        self._val_sum += loss * n_rows
        self._val_rows += n_rows

    def epoch_means(self) -> dict[str, float]:
        """The epoch's loss terms so far, each the mean over its steps weighted by batch size."""
        return {k: _mean(self._sums[k], self._rows) for k in LOSS_TERMS}

    def validation_loss(self) -> float | None:
        """The epoch's validation loss (weighted by batch size), None without validation."""
        return _mean(self._val_sum, self._val_rows) if self._val_rows else None

    def end_epoch(
        self,
        set_learning_rate: Callable[[float], None],
        model_state: Callable[[], ModelState],
    ) -> bool:
        """Close the epoch: record it in the history (:func:`backends.core.epochs.close_epoch`),
        pass a changed learning rate to ``set_learning_rate``, log the epoch's row and save a
        checkpoint when it is due (``model_state`` is read only then). Returns True when early
        stopping ends the run after this epoch."""
        new_lr, stop = close_epoch(
            self.history,
            self.epoch_means(),
            self.validation_loss(),
            self.learning_rate,
            self.plateau,
            self.stopper,
        )
        if new_lr != self.learning_rate:
            self.learning_rate = new_lr
            set_learning_rate(new_lr)
        epoch = self.epoch
        if self.log is not None:
            self.log.log_metrics(epoch_metrics(epoch, self.history), step=self.global_step - 1)
        if stop:
            self.stopped_epoch = epoch
        final = self.stopped_epoch is not None or epoch + 1 == self.n_epochs
        due = self.checkpoint is not None and self.checkpoint.due(epoch + 1, final)
        if due and self.saves_checkpoints:
            assert self.checkpoint is not None
            self.checkpoint.save(self.state(epoch + 1, model_state()))
        self._reset_sums()
        self.epoch = epoch + 1
        return stop

    # ---- what the run hands on

    def state(self, epochs_done: int, model: ModelState) -> TrainingState:
        """The training state after ``epochs_done`` epochs, with the backend's ``model`` part."""
        plateau_counters, early_counters = schedule_counters(self.plateau, self.stopper)
        return TrainingState(
            epoch=epochs_done,
            iterations=model.iterations,
            learning_rate=self.learning_rate,
            plateau=plateau_counters,
            early_stopping=early_counters,
            history={k: list(v) for k, v in self.history.items()},
            step_loss=list(self.step_loss),
            stopped_epoch=self.stopped_epoch,
            weights=model.weights,
            m=model.m,
            v=model.v,
        )

    def result(self, weights: dict[str, np.ndarray], seconds: float = 0.0) -> TrainResult:
        """The run as a :class:`backends.base.TrainResult` with the final ``weights``."""
        from backends.base import TrainResult

        return TrainResult(
            history={k: list(v) for k, v in self.history.items()},
            step_loss=list(self.step_loss),
            weights=weights,
            stopped_epoch=self.stopped_epoch,
            seconds=seconds,
            step_terms=list(self.step_terms),
        )
