"""The bookkeeping of a training run, the rules both backends' loops share (docs/model.md 9).

Driven with plain floats; every expectation below is worked out by hand in its docstring.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pytest

from backends.core.checkpoint import TrainingState
from backends.core.training_run import ModelState, TrainingRun, empty_history


def _terms(total: float) -> dict[str, float]:
    return {"total": total, "nll": total / 2, "mae": 0.25, "realspace": 0.0}


@dataclass
class Hook:
    """A checkpoint hook due every ``every`` epochs and after the last."""

    every: int = 1
    calls: list[tuple[int, bool]] = field(default_factory=list)
    saved: list[TrainingState] = field(default_factory=list)

    def due(self, epochs_done: int, final: bool) -> bool:
        self.calls.append((epochs_done, final))
        return final or epochs_done % self.every == 0

    def save(self, state: TrainingState) -> None:
        self.saved.append(state)


@dataclass
class Log:
    rows: list[tuple[int, dict[str, float]]] = field(default_factory=list)

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        self.rows.append((step, dict(metrics)))


@dataclass
class Backend:
    """Stands in for the optimiser: the rates it was given and how often its state was read."""

    rates: list[float] = field(default_factory=list)
    reads: int = 0

    def set_learning_rate(self, lr: float) -> None:
        self.rates.append(lr)

    def model_state(self) -> ModelState:
        self.reads += 1
        w = {"conv.kernel": np.full((1,), float(self.reads), np.float32)}
        return ModelState(10 * self.reads, dict(w), dict(w), dict(w))


def _epoch(
    run: TrainingRun,
    backend: Backend,
    steps: Sequence[tuple[float, int]],
    val: Sequence[tuple[float, int]] = (),
) -> bool:
    for total, rows in steps:
        run.step(_terms(total), rows)
    for loss, rows in val:
        run.validation(loss, rows)
    return run.end_epoch(backend.set_learning_rate, backend.model_state)


def test_epoch_means_are_weighted_by_batch_size_and_steps_are_reported() -> None:
    """Batches of 3 and 1 groups with losses 2 and 5: the epoch loss is (3·2 + 1·5)/4 = 2.75,
    nll (3·1 + 1·2.5)/4 = 1.375. Validation batches of 2 and 1 with losses 1 and 4:
    (2 + 4)/3 = 2. Steps are numbered 0, 1 for on_step and the log; the epoch row is logged at
    the last step."""
    seen: list[tuple[int, float]] = []
    log = Log()
    run = TrainingRun(3, 1e-3, 3, on_step=lambda i, t: seen.append((i, t["total"])), log=log)
    backend = Backend()
    assert not _epoch(run, backend, [(2.0, 3), (5.0, 1)], [(1.0, 2), (4.0, 1)])
    assert run.history["loss"] == [2.75] and run.history["nll"] == [1.375]
    assert run.history["mae"] == [0.25] and run.history["realspace"] == [0.0]
    assert run.history["val_loss"] == [2.0] and run.history["lr"] == [1e-3]
    assert seen == [(0, 2.0), (1, 5.0)] and run.step_loss == [2.0, 5.0]
    assert run.step_terms == [_terms(2.0), _terms(5.0)]
    assert [step for step, _ in log.rows] == [0, 1, 1]
    assert log.rows[0][1]["loss_step"] == 2.0 and log.rows[0][1]["epoch"] == 0
    assert log.rows[2][1]["loss"] == 2.75 and log.rows[2][1]["val_loss"] == 2.0
    # the next epoch starts from empty sums: one batch of 2 with loss 1 gives 1
    assert not _epoch(run, backend, [(1.0, 2)], [(3.0, 1)])
    assert run.history["loss"] == [2.75, 1.0] and run.history["val_loss"] == [2.0, 3.0]
    assert log.rows[-1][0] == 2 and log.rows[-1][1]["epoch"] == 1


def test_plateau_halves_the_rate_after_two_flat_epochs() -> None:
    """Validation loss 1 in every epoch, plateau patience 2: the third epoch (index 2) halves
    the rate, 1e-3 -> 5e-4, which the optimiser is given once and the fourth epoch runs at."""
    run, backend = TrainingRun(4, 1e-3, 10), Backend()
    for total in (4.0, 3.0, 2.0, 1.0):
        _epoch(run, backend, [(total, 1)], [(1.0, 1)])
    assert backend.rates == [5e-4]
    assert run.history["lr"] == [1e-3, 1e-3, 1e-3, 5e-4]
    assert run.learning_rate == 5e-4


def test_without_validation_the_rate_stays_and_no_val_loss_is_recorded() -> None:
    run, backend = TrainingRun(3, 2e-3, 10), Backend()
    for _ in range(3):
        _epoch(run, backend, [(1.0, 4)])
    assert run.validation_loss() is None
    assert run.history["val_loss"] == [] and run.history["lr"] == [2e-3] * 3
    assert backend.rates == []


def test_early_stopping_ends_the_run_and_the_last_checkpoint_is_final() -> None:
    """Training loss 3, 2, 2 with patience 1: no improvement in epoch 2, so the run stops there
    (stopped_epoch 2) although 5 epochs were asked for. A hook due every 2 epochs is asked after
    epochs 1, 2 and 3 (the last one final) and saves after 2 and 3; the model state is read
    only for those two saves."""
    hook = Hook(every=2)
    run, backend = TrainingRun(5, 1e-3, 1, checkpoint=hook), Backend()
    losses = iter((3.0, 2.0, 2.0, 1.0, 0.5))
    ran = []
    for epoch in run.epochs():
        ran.append(epoch)
        _epoch(run, backend, [(next(losses), 2)])
    assert ran == [0, 1, 2] and run.stopped_epoch == 2 and run.done
    assert hook.calls == [(1, False), (2, False), (3, True)]
    assert [s.epoch for s in hook.saved] == [2, 3] and backend.reads == 2
    last = hook.saved[-1]
    assert last.stopped_epoch == 2 and last.finished
    assert last.iterations == 20 and last.weights["conv.kernel"][0] == 2.0
    assert last.history["loss"] == [3.0, 2.0, 2.0] and last.step_loss == [3.0, 2.0, 2.0]
    assert last.learning_rate == 1e-3
    # best training loss 2 after epoch 1, then one epoch without improvement
    assert last.early_stopping == {"best": 2.0, "wait": 1.0, "epoch": 2.0}


def test_the_run_ends_after_n_epochs_with_a_final_checkpoint() -> None:
    hook = Hook(every=10)
    run, backend = TrainingRun(2, 1e-3, 5, checkpoint=hook), Backend()
    for _ in run.epochs():
        _epoch(run, backend, [(1.0, 1)])
    assert run.epoch == 2 and run.stopped_epoch is None
    assert hook.calls == [(1, False), (2, True)] and [s.epoch for s in hook.saved] == [2]


def test_a_worker_that_does_not_save_still_asks_the_hook() -> None:
    hook = Hook()
    run, backend = TrainingRun(1, 1e-3, 5, checkpoint=hook, saves_checkpoints=False), Backend()
    _epoch(run, backend, [(1.0, 1)])
    assert hook.calls == [(1, True)] and hook.saved == [] and backend.reads == 0


def test_resume_continues_the_counters_of_a_straight_run() -> None:
    """Six epochs straight, and the same six as three, a checkpoint, a new run resumed from it
    and three more: the same history, step losses, step indices, learning rates and stop. The
    validation loss stays at 1, so the plateau (patience 2) halves the rate after epochs 2 and
    4 (1e-3 -> 5e-4 -> 2.5e-4). The resumed run must carry the plateau's best (1) over: from a
    fresh plateau, epoch 3 would count as an improvement and the second halving would come an
    epoch late."""
    totals = [5.0, 4.0, 3.0, 2.0, 1.0, 0.5]

    def drive(run: TrainingRun, seen: list[int]) -> Backend:
        backend = Backend()
        for epoch in run.epochs():
            _epoch(run, backend, [(totals[epoch], 2), (totals[epoch] / 2, 1)], [(1.0, 1)])
        return backend

    straight_steps: list[int] = []
    straight = TrainingRun(6, 1e-3, 3, on_step=lambda i, t: straight_steps.append(i))
    drive(straight, straight_steps)
    assert straight.history["lr"] == [1e-3, 1e-3, 1e-3, 5e-4, 5e-4, 2.5e-4]

    hook, steps = Hook(), []
    first = TrainingRun(3, 1e-3, 3, checkpoint=hook, on_step=lambda i, t: steps.append(i))
    drive(first, steps)
    state = hook.saved[-1]
    assert state.epoch == 3 and state.learning_rate == 5e-4
    assert state.plateau == {"best": 1.0, "wait": 0.0, "cooldown_counter": 0.0}
    resumed = TrainingRun(6, 1e-3, 3, on_step=lambda i, t: steps.append(i))
    resumed.resume(state)
    assert resumed.epoch == 3 and resumed.global_step == 6
    assert resumed.learning_rate == 5e-4
    backend = drive(resumed, steps)
    assert backend.rates == [2.5e-4]
    assert resumed.history == straight.history
    assert resumed.step_loss == straight.step_loss
    assert steps == straight_steps == list(range(12))
    assert resumed.step_terms == straight.step_terms[6:]  # the steps this run took
    result = resumed.result({"w": np.zeros(1, np.float32)}, seconds=1.5)
    assert result.history == straight.history and result.step_loss == straight.step_loss
    assert result.stopped_epoch is None and result.seconds == 1.5


def test_resuming_a_stopped_run_leaves_nothing_to_do() -> None:
    state = TrainingState(
        epoch=3,
        iterations=6,
        learning_rate=1e-3,
        plateau={"best": 1.0, "wait": 1, "cooldown_counter": 0},
        early_stopping={"best": 2.0, "wait": 1, "epoch": 2},
        history={**empty_history(), "loss": [3.0, 2.0, 2.0]},
        step_loss=[3.0, 2.0, 2.0],
        stopped_epoch=2,
        weights={},
        m={},
        v={},
    )
    run = TrainingRun(10, 1e-3, 1)
    run.resume(state)
    assert run.done and list(run.epochs()) == [] and run.stopped_epoch == 2 and run.epoch == 3
    assert isinstance(run.plateau.wait, int) and run.plateau.wait == 1
    assert run.result({}).history["loss"] == [3.0, 2.0, 2.0]


def test_an_epoch_left_open_is_an_error() -> None:
    run = TrainingRun(2, 1e-3, 3)
    epochs = run.epochs()
    assert next(epochs) == 0
    with pytest.raises(RuntimeError, match="epoch 0 was not closed"):
        next(epochs)
