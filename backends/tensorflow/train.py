"""Training of the TensorFlow reference model (docs/model.md section 9, physics.md section 10).

A custom deterministic loop replaces ``Model.fit`` with the same semantics: Keras Adam
(lr 1e-3, epsilon 1e-7), batches drawn by :func:`backends.core.batches.epoch_batches` over the
training part (the last 5 % of groups validate), the last partial batch kept, the epoch loss
the sample-weighted mean of the batch losses, :class:`backends.training.KerasPlateau` on
``val_loss`` and :class:`backends.training.KerasEarlyStopping` on ``loss``.

The training kernels have the names, parameters and return types of
:mod:`backends.pytorch.train`'s (docs/architecture.md, "Training kernels"):
:func:`compute_losses`, :func:`loss_floats`, :func:`train_step`, :func:`eval_step`,
:func:`gradients`, :func:`set_learning_rate` and the :func:`deterministic` mode.
:class:`Trainer` traces them once per model.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from backends.base import Batch, StepsResult, TrainResult
from backends.config.canonical import TrainingConfig
from backends.core.batches import epoch_batches
from backends.core.checkpoint import CheckpointHook, TrainingState
from backends.core.inputs import scaled_input
from backends.core.losses import LOSS_TERMS, LossWeights
from backends.core.training_log import CsvMetricsLog, MetricsLog, require_logger, run_log_dir
from backends.core.training_run import ModelState, TrainingRun
from backends.tensorflow import ops
from backends.tensorflow.model import PtychoPINN


@contextlib.contextmanager
def deterministic() -> Iterator[None]:
    """Deterministic TensorFlow kernels (``enable_op_determinism``). TensorFlow has no public
    switch to turn them off again, so unlike PyTorch's mode they stay on after the block."""
    tf.config.experimental.enable_op_determinism()
    yield


@dataclass
class TensorBatch:
    """One batch in the backend's layout: ``x = s·X`` (B, N, N, C) float32, positions
    (B, 1, 2, C), and the ground-truth amplitude ``Y_I`` (B, N, N, C) or None."""

    x: tf.Tensor
    positions: tf.Tensor
    Y_I: tf.Tensor | None = None


def to_tensor_batch(batch: Batch, intensity_scale: float) -> TensorBatch:
    """A reference-layout :class:`backends.base.Batch` as a :class:`TensorBatch`."""
    x = tf.constant(scaled_input(batch.X, intensity_scale))
    pos = tf.constant(np.asarray(batch.positions, np.float32))
    y = None if batch.Y_I is None else tf.constant(np.asarray(batch.Y_I, np.float32))
    return TensorBatch(x, pos, y)


def _realspace(
    models: PtychoPINN, trimmed: tf.Tensor, batch: TensorBatch, weights: LossWeights
) -> tf.Tensor:
    """``tv_weight TV(z) + realspace_mae_weight cMAE(target, z)``, z masked by Q when
    probe_big is False; a term whose weight is 0 contributes exactly 0."""
    z = trimmed
    if not models.config.probe_big:
        center = ops.center_mask(models.config.N)[None, :, :, None]
        z = z * tf.cast(center, tf.complex64)
    loss = tf.constant(0.0, tf.float32)
    if weights.tv > 0:
        loss += ops.total_variation(z) * weights.tv
    if weights.realspace_mae > 0:
        target = ops.realspace_target(batch.Y_I, batch.positions)
        loss += ops.complex_mae(target, z) * weights.realspace_mae
    return loss


def compute_losses(
    model: PtychoPINN, batch: TensorBatch, weights: LossWeights
) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
    """Forward pass (training mode) and the loss terms of physics.md 10; returns ``(total,
    terms)``. ``total = w_rs·L_rs + w_mae·L_mae + w_nll·L_nll``; the real-space term is
    evaluated whenever the batch carries ``Y_I`` (0 otherwise)."""
    if batch.Y_I is None and weights.realspace > 0:
        raise ValueError("realspace_weight > 0 needs the ground-truth amplitude Y_I in every batch")
    x_in, positions = batch.x, batch.positions
    trimmed, amp, intensity = model.autoencoder([x_in, positions], training=True)
    target_int = tf.square(x_in)
    nll = ops.poisson_nll(intensity, target_int)
    mae = ops.mae(amp, x_in)
    rs = (
        _realspace(model, trimmed, batch, weights)
        if batch.Y_I is not None
        else tf.constant(0.0, tf.float32)
    )
    total = weights.realspace * rs + weights.mae * mae + weights.nll * nll
    return total, {"total": total, "nll": nll, "mae": mae, "realspace": rs}


def loss_floats(terms: Mapping[str, tf.Tensor]) -> dict[str, float]:
    """Loss terms as Python floats, in :data:`LOSS_TERMS` order."""
    return {k: float(terms[k]) for k in LOSS_TERMS}


def _trainable(model: PtychoPINN) -> tuple[list[str], list[tf.Variable]]:
    """The canonical weight names and their variables, in the order the optimiser is built."""
    names = list(model.variables)
    return names, [model.variables[n] for n in names]


def gradients(
    model: PtychoPINN, batch: TensorBatch, weights: LossWeights
) -> tuple[dict[str, tf.Tensor], dict[str, tf.Tensor]]:
    """Loss terms of ``batch`` and the gradients of ``total`` by canonical weight name (HWIO,
    zeros where a weight gets none)."""
    names, variables = _trainable(model)
    with tf.GradientTape() as tape:
        _, terms = compute_losses(model, batch, weights)
    grads = tape.gradient(terms["total"], variables)
    return terms, {
        n: tf.zeros(v.shape, tf.float32) if g is None else g
        for n, v, g in zip(names, variables, grads)
    }


def train_step(
    model: PtychoPINN,
    optimizer: keras.optimizers.Optimizer,
    batch: TensorBatch,
    weights: LossWeights,
    gradient_clip_val: float | None = None,
) -> dict[str, tf.Tensor]:
    """One optimiser step on ``batch``: the gradients of ``total`` (their joint norm clipped to
    ``gradient_clip_val`` if given, :func:`clip_gradient_norm`), then ``optimizer``'s update.
    Returns the loss terms before the update."""
    _, variables = _trainable(model)
    with tf.GradientTape() as tape:
        _, terms = compute_losses(model, batch, weights)
    grads = tape.gradient(terms["total"], variables)
    if gradient_clip_val is not None:
        grads = clip_gradient_norm(grads, gradient_clip_val)
    optimizer.apply(grads, variables)
    return terms


def eval_step(model: PtychoPINN, batch: TensorBatch, weights: LossWeights) -> dict[str, tf.Tensor]:
    """Loss terms of ``batch`` without updating anything."""
    _, terms = compute_losses(model, batch, weights)
    return terms


def set_learning_rate(optimizer: keras.optimizers.Optimizer, learning_rate: float) -> None:
    """Set the optimiser's learning rate (a float32 variable)."""
    optimizer.learning_rate.assign(learning_rate)


def _signature(models: PtychoPINN, with_y: bool) -> list[tf.TensorSpec]:
    N, C = models.config.N, models.config.channels
    spec = [
        tf.TensorSpec([None, N, N, C], tf.float32),
        tf.TensorSpec([None, 1, 2, C], tf.float32),
    ]
    if with_y:
        spec.append(tf.TensorSpec([None, N, N, C], tf.float32))
    return spec


class Trainer:
    """One optimiser (Keras Adam) and the kernels :func:`train_step` and :func:`eval_step` for
    a model: traced once (``compiled``) or run eagerly, the same kernels in the same order."""

    def __init__(
        self,
        models: PtychoPINN,
        config: TrainingConfig,
        intensity_scale: float,
        learning_rate: float = 1e-3,
        tv_weight: float = 0.0,
        compiled: bool = True,
        gradient_clip_val: float | None = None,
        strategy: Any = None,
    ) -> None:
        if config.probe_trainable:
            raise ValueError(
                "probe_trainable=True is not supported: the probe is a constant of the model "
                "(physics.md 2.4); set probe_trainable=False"
            )
        self.models = models
        self.config = config
        self.intensity_scale = float(intensity_scale)
        self.weights = LossWeights.from_config(config, tv_weight)
        self.use_rs = self.weights.realspace > 0
        self.names, self.variables = _trainable(models)
        self.gradient_clip_val = gradient_clip_val
        self.optimizer = keras.optimizers.Adam(
            learning_rate=learning_rate, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False
        )
        self.optimizer.build(self.variables)
        self._accumulated: list[tf.Tensor] | None = None
        self.strategy = strategy
        if strategy is not None:
            if gradient_clip_val is not None:
                raise ValueError(
                    "gradient clipping is not available in data-parallel training; train with "
                    "devices=1"
                )
            self._distributed = tf.function(self._distributed_step)
        if not compiled:
            self._train, self._eval = self._train_step, self._eval_step
            self._grads = self._grads_step
            return
        sig = _signature(models, self.use_rs)
        self._grads = tf.function(
            lambda *feeds: self._grads_step(*feeds), input_signature=[*sig, tf.TensorSpec([])]
        )
        if self.use_rs:
            self._train = tf.function(
                lambda x, p, y: self._train_step(x, p, y), input_signature=sig
            )
            self._eval = tf.function(lambda x, p, y: self._eval_step(x, p, y), input_signature=sig)
        else:
            self._train = tf.function(lambda x, p: self._train_step(x, p), input_signature=sig)
            self._eval = tf.function(lambda x, p: self._eval_step(x, p), input_signature=sig)

    # ---- compiled steps
    def _train_step(self, x, positions, Y_I=None):
        batch = TensorBatch(x, positions, Y_I)
        return train_step(self.models, self.optimizer, batch, self.weights, self.gradient_clip_val)

    def _replica_step(self, share, x, positions, Y_I=None):
        # Keras sums the replicas' gradients before the update (backends.core.parallel), so
        # each replica's loss is weighted by its share of the global batch
        with tf.GradientTape() as tape:
            _, terms = compute_losses(self.models, TensorBatch(x, positions, Y_I), self.weights)
            scaled = terms["total"] * share
        grads = tape.gradient(scaled, self.variables)
        self.optimizer.apply(grads, self.variables)
        return {k: v * share for k, v in terms.items()}

    def _distributed_step(self, share, *feeds):
        per_replica = self.strategy.run(self._replica_step, args=(share, *feeds))
        add = tf.distribute.ReduceOp.SUM
        return {k: self.strategy.reduce(add, v, axis=None) for k, v in per_replica.items()}

    def _grads_step(self, *feeds):
        # (x, positions[, Y_I], k): the gradients of total / k, as Lightning divides the loss
        # by accumulate_grad_batches before the backward pass
        *inputs, divisor = feeds
        batch = TensorBatch(*inputs)
        with tf.GradientTape() as tape:
            _, terms = compute_losses(self.models, batch, self.weights)
            scaled = terms["total"] / divisor
        return terms, tape.gradient(scaled, self.variables)

    def _eval_step(self, x, positions, Y_I=None):
        return eval_step(self.models, TensorBatch(x, positions, Y_I), self.weights)

    # ---- helpers
    def _feeds(self, batch: Batch) -> list[np.ndarray]:
        feeds = [
            scaled_input(batch.X, self.intensity_scale),
            np.asarray(batch.positions, np.float32),
        ]
        if self.use_rs:
            if batch.Y_I is None:
                raise ValueError(
                    "realspace_weight > 0 needs ground-truth Y_I in every batch; the data has none"
                )
            feeds.append(np.asarray(batch.Y_I, np.float32))
        return feeds

    @property
    def learning_rate(self) -> float:
        return float(self.optimizer.learning_rate.numpy())

    def _moment_slots(self) -> tuple[list[Any], list[Any]]:
        # Keras 3 Adam keeps one momentum and one velocity per variable, in build order
        return list(self.optimizer._momentums), list(self.optimizer._velocities)

    def optimizer_state(self) -> tuple[int, dict[str, np.ndarray], dict[str, np.ndarray]]:
        """Step count and the Adam moments by canonical weight name (reference layout)."""
        ms, vs = self._moment_slots()
        m = {n: np.array(s.numpy()) for n, s in zip(self.names, ms)}
        v = {n: np.array(s.numpy()) for n, s in zip(self.names, vs)}
        return int(self.optimizer.iterations.numpy()), m, v

    def restore_optimizer(
        self, iterations: int, m: Mapping[str, np.ndarray], v: Mapping[str, np.ndarray]
    ) -> None:
        """Set the step count and the Adam moments (names as :meth:`optimizer_state`)."""
        if set(m) != set(self.names):
            raise ValueError(
                f"the checkpoint's optimiser moments name {sorted(set(m) ^ set(self.names))} "
                "differently from this model; resume with the configuration it was written with"
            )
        ms, vs = self._moment_slots()
        for name, ms_slot, vs_slot in zip(self.names, ms, vs):
            for slot, source in ((ms_slot, m), (vs_slot, v)):
                if tuple(source[name].shape) != tuple(slot.shape):
                    raise ValueError(
                        f"optimiser moment {name!r} has shape {source[name].shape} in the "
                        f"checkpoint, {tuple(slot.shape)} in the model"
                    )
                slot.assign(source[name])
        self.optimizer.iterations.assign(iterations)

    def step(self, batch: Batch) -> dict[str, float]:
        """One Adam step on ``batch``; returns the loss terms before the update. With a
        ``strategy``, each replica takes its shard of the batch (:mod:`backends.core.parallel`)
        and the terms are those of the whole batch."""
        if self.strategy is not None:
            return self._shared_step(self._feeds(batch))
        return loss_floats(self._train(*self._feeds(batch)))

    def _shared_step(self, feeds: list[np.ndarray]) -> dict[str, float]:
        from backends.core.parallel import shards

        parts = shards(len(feeds[0]), self.strategy.num_replicas_in_sync)

        def per_replica(make: Callable[[Any], Any]) -> Any:
            return self.strategy.experimental_distribute_values_from_function(
                lambda ctx: make(parts[ctx.replica_id_in_sync_group])
            )

        share = per_replica(lambda part: tf.constant(part.share, tf.float32))
        inputs = [per_replica(_rows_of(f)) for f in feeds]
        return loss_floats(self._distributed(share, *inputs))

    def accumulate(self, batch: Batch, accum_steps: int) -> dict[str, float]:
        """Add the gradients of ``total / accum_steps`` on ``batch`` to the pending sum (no
        update); returns the loss terms. :meth:`apply_accumulated` takes the step."""
        if self.strategy is not None:
            raise ValueError(
                "gradient accumulation is not available in data-parallel training; train with "
                "devices=1"
            )
        divisor = tf.constant(float(accum_steps), tf.float32)
        terms, grads = self._grads(*self._feeds(batch), divisor)
        if self._accumulated is None:
            self._accumulated = list(grads)
        else:
            self._accumulated = [a + g for a, g in zip(self._accumulated, grads)]
        return loss_floats(terms)

    def apply_accumulated(self) -> None:
        """One Adam step on the pending gradient sum (clipped like :meth:`step`), then clear it."""
        if self._accumulated is None:
            return
        grads = self._accumulated
        if self.gradient_clip_val is not None:
            grads = clip_gradient_norm(grads, self.gradient_clip_val)
        self.optimizer.apply(grads, self.variables)
        self._accumulated = None

    def evaluate(self, batch: Batch) -> dict[str, float]:
        """Loss terms of ``batch`` without updating anything."""
        return loss_floats(self._eval(*self._feeds(batch)))


def _rows_of(array: np.ndarray) -> Callable[[Any], tf.Tensor]:
    """A replica's rows of ``array`` as a constant (a shard's ``rows``)."""
    return lambda part: tf.constant(array[part.rows])


def clip_gradient_norm(grads: Sequence[tf.Tensor], max_norm: float) -> list[tf.Tensor]:
    """Lightning's ``gradient_clip_val`` (``torch.nn.utils.clip_grad_norm_``): every gradient
    times ``min(max_norm / (‖(‖g_1‖, ..., ‖g_k‖)‖ + 1e-6), 1)``, the norm over all gradients."""
    total = tf.norm(tf.stack([tf.norm(g) for g in grads]))
    coef = tf.minimum(tf.constant(max_norm, tf.float32) / (total + 1e-6), 1.0)
    return [g * coef for g in grads]


EAGER_STEPS = 8
"""Step lists up to this length run eagerly: tracing the train step costs 4-9 s on 2 cores, an
eager step about 1 s more than a traced one."""


def train_steps(
    models: PtychoPINN,
    batches: Sequence[Batch],
    config: TrainingConfig,
    intensity_scale: float,
    learning_rate: float = 1e-3,
    *,
    strategy: Any = None,
) -> StepsResult:
    """One Adam step per batch, in order, from a fresh optimiser (training-parity checks).

    Up to :data:`EAGER_STEPS` steps run eagerly: the same kernels in the same order (the weights
    after the steps are bitwise those of the traced step), without the seconds of tracing.
    ``strategy``: a ``tf.distribute`` strategy in whose scope the models were built; each
    replica takes its shard of every batch (:mod:`backends.tensorflow.parallel`)."""
    compiled = len(batches) > EAGER_STEPS
    trainer = Trainer(
        models, config, intensity_scale, learning_rate, compiled=compiled, strategy=strategy
    )
    step_losses = [trainer.step(b) for b in batches]
    return StepsResult(
        step_losses=step_losses,
        weights=models.export_weights(),
        learning_rates=[float(learning_rate)] * len(step_losses),
    )


class _Progress:
    """A rich progress bar (or nothing) over epochs and steps."""

    def __init__(self, enabled: bool, epochs: int, steps: int) -> None:
        self.bar = None
        if not enabled:
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self.bar = Progress(
            TextColumn("[bold]epoch {task.fields[epoch]}/" + str(epochs)),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}"),
        )
        self.bar.start()
        self.task = self.bar.add_task("train", total=steps, epoch=1, loss="-")

    def epoch(self, epoch: int) -> None:
        if self.bar is not None:
            self.bar.reset(self.task, epoch=epoch + 1, loss="-")

    def step(self, loss: float) -> None:
        if self.bar is not None:
            self.bar.update(self.task, advance=1, loss=f"{loss:.6g}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


class _EventMetricsLog:
    """TensorBoard event files written by TensorFlow itself (``tf.summary.write`` with the
    scalar plugin's metadata, float32 values), so no ``tensorboard`` package is needed."""

    def __init__(self, log_dir: Path) -> None:
        from tensorflow.core.framework import summary_pb2

        log_dir.mkdir(parents=True, exist_ok=True)
        self.writer = tf.summary.create_file_writer(str(log_dir))
        self.metadata = summary_pb2.SummaryMetadata(
            plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars")
        )

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        with self.writer.as_default():
            for name, value in metrics.items():
                value32 = tf.constant(float(value), tf.float32)
                tf.summary.write(name, value32, step=int(step), metadata=self.metadata)

    def save(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


def _open_log(logger: str | None, output_dir: str | Path) -> MetricsLog | None:
    """The training log ``logger`` ('csv', 'tensorboard' or None: no log) in the next
    ``<output_dir>/logs/tensorflow/version_<N>`` (:mod:`backends.core.training_log`)."""
    require_logger(logger, "tensorflow")
    if logger is None:
        return None
    log_dir, _ = run_log_dir(output_dir, "tensorflow")
    return CsvMetricsLog(log_dir) if logger == "csv" else _EventMetricsLog(log_dir)


def fit(
    models: PtychoPINN,
    train_data: Any,
    config: TrainingConfig,
    intensity_scale: float,
    seed: int = 0,
    epochs: int | None = None,
    on_step: Callable[[int, Mapping[str, float]], None] | None = None,
    progress: bool = False,
    tv_weight: float = 0.0,
    checkpoint: CheckpointHook | None = None,
    resume: TrainingState | None = None,
    learning_rate: float = 1e-3,
    gradient_clip_val: float | None = None,
    early_stop_patience: int = 3,
    accum_steps: int = 1,
    logger: str | None = None,
    strategy: Any = None,
) -> TrainResult:
    """Full training (model.md section 9) on a ``backends.data.PtychoData`` container.

    ``checkpoint`` is asked after every epoch whether to save the training state; ``resume``
    continues from a saved state (weights, Adam moments and step count, learning rate, plateau
    and early-stopping counters, history) at its next epoch. ``learning_rate``,
    ``gradient_clip_val``, ``early_stop_patience`` and ``accum_steps`` are the execution
    settings of docs/config.md (e), applied as the PyTorch trainer (Lightning) applies them:
    with ``accum_steps`` k, the gradients of ``total / k`` are summed over k batches (and over
    the last, shorter group of an epoch) before each optimiser step. ``logger`` ('csv',
    'tensorboard' or None) writes the training log under ``config.output_dir``
    (:mod:`backends.core.training_log`; the adapter passes the execution setting, 'csv' unless
    named). ``strategy``: a ``tf.distribute`` strategy in whose scope the models were built
    (data-parallel training, :mod:`backends.tensorflow.parallel`)."""
    from backends.data import validation_split
    from backends.training import batch_slices

    with deterministic():
        tf.random.set_seed(int(seed))
        n_epochs = int(config.nepochs if epochs is None else epochs)
        if n_epochs <= 0:
            raise ValueError(f"epochs={n_epochs!r} must be > 0")
        train_part, val_part = validation_split(train_data, 0.05)
        n_train = len(train_part)
        if n_train == 0:
            raise ValueError("the training data has no groups left after the validation split")
        n_val = 0 if val_part is None else len(val_part)
        bs = int(config.batch_size)
        trainer = Trainer(
            models,
            config,
            intensity_scale,
            float(learning_rate),
            tv_weight,
            gradient_clip_val=gradient_clip_val,
            strategy=strategy,
        )
        run = TrainingRun(
            n_epochs, learning_rate, early_stop_patience, on_step=on_step, checkpoint=checkpoint
        )
        if resume is not None:
            models.import_weights(resume.weights)
            trainer.restore_optimizer(resume.iterations, resume.m, resume.v)
            run.resume(resume)
            set_learning_rate(trainer.optimizer, run.learning_rate)
        log = None if run.done else _open_log(logger, config.output_dir)
        run.log = log
        bar = _Progress(progress, n_epochs, len(batch_slices(n_train, bs)))
        start = time.perf_counter()

        def model_state() -> ModelState:
            iterations, m, v = trainer.optimizer_state()
            return ModelState(iterations, m, v, models.export_weights())

        try:
            for epoch in run.epochs():
                bar.epoch(epoch)
                batches = epoch_batches(n_train, bs, epoch, seed)
                for i, idx in enumerate(batches):
                    if accum_steps == 1:
                        terms = trainer.step(train_part.batch(idx))
                    else:
                        terms = trainer.accumulate(train_part.batch(idx), accum_steps)
                        if (i + 1) % accum_steps == 0 or i + 1 == len(batches):
                            trainer.apply_accumulated()
                    run.step(terms, len(idx))
                    bar.step(terms["total"])
                if n_val:
                    assert val_part is not None
                    for sl in batch_slices(n_val, bs):
                        idx = np.arange(sl.start, sl.stop)
                        run.validation(trainer.evaluate(val_part.batch(idx))["total"], len(idx))
                run.end_epoch(lambda lr: set_learning_rate(trainer.optimizer, lr), model_state)
                if log is not None:
                    log.save()
        finally:
            bar.close()
            if log is not None:
                log.close()
        return run.result(models.export_weights(), time.perf_counter() - start)
