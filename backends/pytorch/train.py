"""Losses, the Keras-form Adam optimiser and training (docs/model.md section 9).

The training kernels have the names, parameters and return types of
:mod:`backends.tensorflow.train`'s (docs/architecture.md, "Training kernels"):

* :func:`compute_losses`: the loss terms of physics.md section 10 with the Keras compile order
  ``[realspace, MAE, Poisson NLL]`` and weights; only terms with a non-zero weight enter the
  gradient graph (the others are still evaluated and reported); :func:`loss_floats`.
* :func:`train_step`, :func:`eval_step`, :func:`gradients`, :func:`set_learning_rate` and the
  :func:`deterministic` mode. Lightning runs the steps of :func:`fit`: its module calls
  :func:`compute_losses` and :func:`eval_step`, and Lightning takes the backward pass and the
  optimiser step.
* :class:`KerasAdam`: ``θ ← θ − lr·sqrt(1−β2^t)/(1−β1^t) · m/(sqrt(v)+ε)``, ε = 1e-7, with the
  moment updates written as Keras writes them (``m += (g − m)(1 − β1)``).
* :func:`train_steps`: one optimiser step per given batch, in order (training-parity checks).
* :func:`fit`: full training on Lightning (``lightning.pytorch.Trainer``): the last 5 % of groups
  validate, the rest are batched by :func:`backends.core.batches.epoch_batches`, Keras
  ``ReduceLROnPlateau`` / ``EarlyStopping`` semantics (:mod:`backends.training`), CSV or
  TensorBoard logging (:mod:`backends.core.training_log`),
  deterministic algorithms, a progress bar only on request in a terminal.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from backends.base import Batch, TrainResult
from backends.config.canonical import TrainingConfig
from backends.config.execution import TrainerSettings
from backends.core.batches import epoch_batches
from backends.core.checkpoint import CheckpointHook, TrainingState
from backends.core.inputs import scaled_input
from backends.core.losses import LOSS_TERMS, LossWeights
from backends.core.training_run import ModelState, TrainingRun
from backends.pytorch import devices, ops
from backends.pytorch.model import PtychoPINN
from backends.training import batch_slices

Tensor = torch.Tensor


# --------------------------------------------------------------------------- tensors


@dataclass
class TensorBatch:
    """Groups in the backend's layout (one batch, or a whole data part): ``x = s·X``
    (B, C, N, N) float32, positions (B, C, 1, 2), and the ground-truth amplitude ``Y_I``
    (B, C, N, N) or None."""

    x: Tensor
    positions: Tensor
    Y_I: Tensor | None = None

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def take(self, rows: np.ndarray | Tensor | slice) -> TensorBatch:
        """The rows ``rows`` (indices or a slice), in that order."""
        idx = torch.from_numpy(np.asarray(rows, np.int64)) if isinstance(rows, np.ndarray) else rows
        return TensorBatch(
            self.x[idx], self.positions[idx], None if self.Y_I is None else self.Y_I[idx]
        )


def to_tensor_batch(batch: Batch, intensity_scale: float) -> TensorBatch:
    """A reference-layout :class:`backends.base.Batch` as a :class:`TensorBatch`."""
    x = to_nchw(scaled_input(batch.X, intensity_scale))
    pos = to_nchw(np.asarray(batch.positions, dtype=np.float32))
    y = None if batch.Y_I is None else to_nchw(np.asarray(batch.Y_I, dtype=np.float32))
    return TensorBatch(x, pos, y)


def to_nchw(a: np.ndarray) -> Tensor:
    """(B, H, W, C) NumPy -> a private (B, C, H, W) tensor (positions (B, 1, 2, C) ->
    (B, C, 1, 2) by the same permutation)."""
    return devices.from_numpy(a.transpose(0, 3, 1, 2))


# --------------------------------------------------------------------------- losses


def compute_losses(
    model: PtychoPINN, batch: TensorBatch, weights: LossWeights
) -> tuple[Tensor, dict[str, Tensor]]:
    """Forward pass and loss terms; returns ``(total, terms)`` with ``total`` differentiable.

    Targets: ``Y_amp = s·X``, ``Y_int = (s·X)²``. ``total = w_rs·L_rs + w_mae·L_mae +
    w_nll·L_nll`` in that order. Terms with weight 0 are evaluated without gradient tracking.
    The real-space term is evaluated whenever the batch carries ``Y_I`` (0 otherwise); each of
    its sub-terms contributes only when its own weight is positive.
    """
    trimmed, pred_amp, pred_int = model(batch.x, batch.positions)
    y_amp = batch.x
    y_int = y_amp * y_amp

    def realspace() -> Tensor:
        value = torch.zeros((), dtype=torch.float32, device=trimmed.device)
        if batch.Y_I is None:
            if weights.realspace != 0:
                raise ValueError(
                    "realspace_weight > 0 needs the ground-truth amplitude Y_I in every batch"
                )
            return value
        z = trimmed
        if not model.config.probe_big:
            z = z * (1.0 - model.border_mask)
        if weights.tv > 0:
            value = value + ops.total_variation(z) * weights.tv
        if weights.realspace_mae > 0:
            target = ops.realspace_target(batch.Y_I, batch.positions)
            value = value + ops.complex_mae(target, z) * weights.realspace_mae
        return value

    terms: dict[str, Tensor] = {}
    weighted: list[Tensor] = []
    for name, weight, fn in (
        ("realspace", weights.realspace, realspace),
        ("mae", weights.mae, lambda: ops.mae(pred_amp, y_amp)),
        ("nll", weights.nll, lambda: ops.poisson_nll(pred_int, y_int)),
    ):
        if weight != 0:
            value = fn()
            weighted.append(value * weight)
        else:
            with torch.no_grad():
                value = fn()
            weighted.append(value.detach() * 0.0)
        terms[name] = value
    total = weighted[0] + weighted[1] + weighted[2]
    terms["total"] = total
    return total, terms


def loss_floats(terms: Mapping[str, Tensor]) -> dict[str, float]:
    """Loss terms as Python floats, in :data:`LOSS_TERMS` order."""
    return {k: float(terms[k].detach()) for k in LOSS_TERMS}


# --------------------------------------------------------------------------- optimiser


class _KerasAdamRule:
    """The update of :class:`KerasAdam` on ``param_groups`` and ``state`` (shared by the torch
    optimiser that Lightning drives and the plain one of :func:`train_steps`)."""

    param_groups: list[dict[str, Any]]
    state: Any
    iterations: int

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        t = torch.tensor(float(self.iterations + 1), dtype=torch.float32)
        for group in self.param_groups:
            lr = torch.tensor(group["lr"], dtype=torch.float32)
            b1 = torch.tensor(group["beta1"], dtype=torch.float32)
            b2 = torch.tensor(group["beta2"], dtype=torch.float32)
            alpha = lr * torch.sqrt(1 - torch.pow(b2, t)) / (1 - torch.pow(b1, t))
            one_minus_b1 = 1 - group["beta1"]
            one_minus_b2 = 1 - group["beta2"]
            eps = group["eps"]
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            for p in params:
                if not self.state[p]:
                    self.state[p]["m"] = torch.zeros_like(p)
                    self.state[p]["v"] = torch.zeros_like(p)
            grads = [p.grad for p in params]
            ms = [self.state[p]["m"] for p in params]
            vs = [self.state[p]["v"] for p in params]
            # the same element-wise operations, in the same order, as the commented form:
            # m += (g - m)(1 - b1)
            dm = torch._foreach_sub(grads, ms)
            torch._foreach_mul_(dm, one_minus_b1)
            torch._foreach_add_(ms, dm)
            # v += (g g - v)(1 - b2)
            dv = torch._foreach_mul(grads, grads)
            torch._foreach_sub_(dv, vs)
            torch._foreach_mul_(dv, one_minus_b2)
            torch._foreach_add_(vs, dv)
            # p -= (m alpha) / (sqrt(v) + eps)
            # the step size is formed on the CPU on every device, then moved to the weights
            num = torch._foreach_mul(ms, alpha.to(params[0].device))
            den = torch._foreach_sqrt(vs)
            torch._foreach_add_(den, eps)
            torch._foreach_div_(num, den)
            torch._foreach_sub_(params, num)
        self.iterations += 1
        return loss

    @property
    def lr(self) -> float:
        return float(self.param_groups[0]["lr"])


def _adam_defaults(
    lr: float, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-7
) -> dict[str, float]:
    if not lr > 0:
        raise ValueError(f"learning rate {lr!r} must be > 0")
    return dict(lr=lr, beta1=beta1, beta2=beta2, eps=eps)


class KerasAdam(_KerasAdamRule, torch.optim.Optimizer):
    """Adam in the Keras 3 form (model.md section 9), float32 throughout.

    ``m ← m + (g − m)(1 − β1)``; ``v ← v + (g² − v)(1 − β2)``;
    ``α = lr·sqrt(1 − β2^t)/(1 − β1^t)``; ``θ ← θ − (m·α)/(sqrt(v) + ε)``; ``t`` counts from 1.
    The learning rate is held in float32, as Keras holds it in a float32 variable.
    """

    def __init__(
        self,
        params: Any,
        lr: float = 1e-3,
        beta1: float = 0.9,
        beta2: float = 0.999,
        eps: float = 1e-7,
    ) -> None:
        torch.optim.Optimizer.__init__(self, params, _adam_defaults(lr, beta1, beta2, eps))
        self.iterations = 0


class PlainKerasAdam(_KerasAdamRule):
    """:class:`KerasAdam`'s update without torch's optimiser machinery, for step lists run
    outside Lightning: constructing a ``torch.optim.Optimizer`` first imports ``torch._dynamo``
    (over a second), which a parity run's few training steps would otherwise pay."""

    def __init__(self, params: Any, lr: float = 1e-3, **hyper: float) -> None:
        """The parameters and hyperparameters of :class:`KerasAdam` (``beta1``, ``beta2``,
        ``eps``)."""
        from collections import defaultdict

        group: dict[str, Any] = {"params": list(params), **_adam_defaults(lr, **hyper)}
        self.param_groups = [group]
        self.state: Any = defaultdict(dict)
        self.iterations = 0

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.param_groups[0]["params"]:
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad.zero_()


def set_learning_rate(optimizer: _KerasAdamRule, learning_rate: float) -> None:
    """Set the learning rate of every parameter group (Keras: assign to
    ``optimizer.learning_rate``; it is rounded to float32 where the update uses it)."""
    for group in optimizer.param_groups:
        group["lr"] = float(learning_rate)


# --------------------------------------------------------------------------- weights, state


def _canonical_parameters(model: PtychoPINN) -> dict[str, Tensor]:
    """Every trainable parameter by canonical weight name (``<layer>.kernel`` / ``.bias``)."""
    out: dict[str, Tensor] = {}
    for name, conv in model.conv_layers().items():
        out[f"{name}.kernel"] = conv.weight
        if conv.bias is not None:
            out[f"{name}.bias"] = conv.bias
    return out


def export_weights(model: PtychoPINN) -> dict[str, np.ndarray]:
    """All weights by canonical name in the reference layout (private copies)."""
    from backends.weights import from_torch

    return {
        name: from_torch(name, p.detach().cpu().numpy().copy())
        for name, p in _canonical_parameters(model).items()
    }


def _optimizer_state(
    model: PtychoPINN, opt: KerasAdam
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The Adam moments ``m``, ``v`` by canonical name, reference layout (zeros before the
    first step, as Keras holds them)."""
    from backends.weights import from_torch

    m: dict[str, np.ndarray] = {}
    v: dict[str, np.ndarray] = {}
    for name, p in _canonical_parameters(model).items():
        slots = opt.state.get(p) or {}
        for out, key in ((m, "m"), (v, "v")):
            t = slots.get(key)
            value = np.zeros(tuple(p.shape), np.float32) if t is None else devices.to_numpy(t)
            out[name] = from_torch(name, value.copy())
    return m, v


def _restore_optimizer(
    model: PtychoPINN,
    opt: KerasAdam,
    iterations: int,
    m: Mapping[str, np.ndarray],
    v: Mapping[str, np.ndarray],
) -> None:
    """Set the step count and the Adam moments (names and layout as :func:`_optimizer_state`)."""
    from backends.weights import to_torch

    params = _canonical_parameters(model)
    if set(m) != set(params):
        raise ValueError(
            f"the checkpoint's optimiser moments name {sorted(set(m) ^ set(params))} "
            "differently from this model; resume with the configuration it was written with"
        )
    for name, p in params.items():
        for key, source in (("m", m), ("v", v)):
            value = devices.from_numpy(to_torch(name, np.asarray(source[name])), np.float32)
            if tuple(value.shape) != tuple(p.shape):
                raise ValueError(
                    f"optimiser moment {name!r} has shape {tuple(value.shape)} in the "
                    f"checkpoint, {tuple(p.shape)} in the model"
                )
            opt.state[p][key] = value.to(p.device)
    opt.iterations = int(iterations)


# --------------------------------------------------------------------------- gradients, steps


def gradients(
    model: PtychoPINN, batch: TensorBatch, weights: LossWeights
) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """Loss terms of ``batch`` and the gradients of ``total`` by parameter name (torch layout,
    zeros where a parameter gets none); the model's own gradients are left cleared."""
    model.zero_grad(set_to_none=True)
    total, terms = compute_losses(model, batch, weights)
    total.backward()
    grads = {
        name: (p.grad.detach().clone() if p.grad is not None else torch.zeros_like(p))
        for name, p in model.named_parameters()
    }
    model.zero_grad(set_to_none=True)
    return {k: v.detach() for k, v in terms.items()}, grads


def train_step(
    model: PtychoPINN,
    optimizer: KerasAdam | PlainKerasAdam,
    batch: TensorBatch,
    weights: LossWeights,
    gradient_clip_val: float | None = None,
) -> dict[str, Tensor]:
    """One optimiser step on ``batch``: the gradients of ``total`` (their joint norm clipped to
    ``gradient_clip_val`` if given, as Lightning clips), then ``optimizer``'s update. Returns
    the loss terms before the update."""
    optimizer.zero_grad(set_to_none=True)
    total, terms = compute_losses(model, batch, weights)
    total.backward()
    if gradient_clip_val is not None:
        torch.nn.utils.clip_grad_norm_(model.parameters(), gradient_clip_val)
    optimizer.step()
    return {k: v.detach() for k, v in terms.items()}


def eval_step(model: PtychoPINN, batch: TensorBatch, weights: LossWeights) -> dict[str, Tensor]:
    """Loss terms of ``batch`` without updating anything."""
    _, terms = compute_losses(model, batch, weights)
    return terms


def train_steps(
    model: PtychoPINN,
    batches: Sequence[TensorBatch],
    weights: LossWeights,
    learning_rate: float = 1e-3,
    *,
    rank: int = 0,
    workers: int = 1,
) -> tuple[list[dict[str, float]], list[float]]:
    """One Keras-Adam step per batch, in order, from a fresh optimiser state.

    Returns the per-step loss terms (evaluated before each update) and learning rates.
    ``workers`` > 1: this process is worker ``rank`` of a DDP run
    (:mod:`backends.pytorch.parallel`) and the steps go through the Lightning trainer of
    :func:`fit`, each worker on its shard of every batch.
    """
    if workers > 1:
        return _steps_in_lightning(model, batches, weights, learning_rate, rank, workers)
    opt = PlainKerasAdam(model.parameters(), lr=float(learning_rate))
    step_losses: list[dict[str, float]] = []
    lrs: list[float] = []
    with deterministic():
        model.train()
        for batch in batches:
            step_losses.append(loss_floats(train_step(model, opt, batch, weights)))
            lrs.append(float(learning_rate))
    return step_losses, lrs


@contextlib.contextmanager
def deterministic() -> Iterator[None]:
    """``torch.use_deterministic_algorithms(True)`` for the duration, then the previous mode
    (Lightning's ``deterministic=True`` sets the same flag)."""
    import torch.utils.deterministic as det

    previous = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    fill = getattr(det, "fill_uninitialized_memory", None)
    _use_deterministic_algorithms(True)
    # filling fresh buffers with NaN only detects reads of uninitialised memory; it costs a
    # pass over every new tensor and changes no result
    if fill is not None:
        setattr(det, "fill_uninitialized_memory", False)  # noqa: B010
    try:
        yield
    finally:
        _use_deterministic_algorithms(previous, warn_only=warn_only)
        if fill is not None:
            setattr(det, "fill_uninitialized_memory", fill)  # noqa: B010


def _use_deterministic_algorithms(mode: bool, warn_only: bool = False) -> None:
    """``torch.use_deterministic_algorithms`` without its import of the compiler: the public
    function also sets ``torch._inductor.config.deterministic``, and importing the compiler
    (``torch._inductor``, ``torch._dynamo``) costs over a second that a parity run's few eager
    steps would pay. Eager kernels read only the flag set here; once the compiler is loaded
    (Lightning loads it), the public function sets both."""
    if "torch._inductor.config" in sys.modules:
        torch.use_deterministic_algorithms(mode, warn_only=warn_only)
    else:
        torch._C._set_deterministic_algorithms(mode, warn_only=warn_only)


# --------------------------------------------------------------------------- full training


def tensor_set(container: Any, intensity_scale: float, need_y: bool) -> TensorBatch:
    """``s·X``, ``coords_nominal`` and (if needed) ``Y_I`` of a data container, channels-first."""
    x = to_nchw(scaled_input(container.X, intensity_scale))
    pos = to_nchw(np.asarray(container.coords_nominal, dtype=np.float32))
    y = None
    if need_y:
        y_arr = getattr(container, "Y_I", None)
        if y_arr is None:
            raise ValueError("the real-space loss needs Y_I in the training data container")
        y = to_nchw(np.asarray(y_arr, np.float32))
    return TensorBatch(x, pos, y)


class _EpochBatches:
    """Training batches of one epoch (:func:`backends.core.batches.epoch_batches`); iterating
    starts the next epoch (Lightning iterates once per epoch)."""

    def __init__(self, data: TensorBatch, batch_size: int, seed: int, first_epoch: int = 0) -> None:
        self.data = data
        self.batch_size = batch_size
        self.seed = seed
        self.epoch = first_epoch
        self.steps = len(batch_slices(len(data), batch_size))

    def __len__(self) -> int:
        return self.steps

    def __iter__(self) -> Iterator[TensorBatch]:
        rows = epoch_batches(len(self.data), self.batch_size, self.epoch, self.seed)
        self.epoch += 1
        for r in rows:
            yield self.data.take(torch.from_numpy(r).to(self.data.x.device))


class _OrderedBatches:
    """Validation batches in container order."""

    def __init__(self, data: TensorBatch, batch_size: int) -> None:
        self.data = data
        self.slices = batch_slices(len(data), batch_size)

    def __len__(self) -> int:
        return len(self.slices)

    def __iter__(self) -> Iterator[TensorBatch]:
        for sl in self.slices:
            yield self.data.take(sl)


@contextlib.contextmanager
def _quiet_lightning() -> Iterator[None]:
    """Lightning's informational messages (devices, logging hints) at WARNING for the duration."""
    names = ("lightning.pytorch", "lightning.fabric")
    levels = {n: logging.getLogger(n).level for n in names}
    for n in names:
        logging.getLogger(n).setLevel(logging.WARNING)
    try:
        yield
    finally:
        for n, level in levels.items():
            logging.getLogger(n).setLevel(level)


def _lightning_module_class() -> type:
    import lightning.pytorch as pl

    class PINNModule(pl.LightningModule):
        """Lightning wrapper: Keras-Adam, weighted loss; the run's bookkeeping (history,
        learning rate, Keras callback semantics, checkpoints) is :class:`TrainingRun`'s."""

        def __init__(
            self,
            model: PtychoPINN,
            weights: LossWeights,
            learning_rate: float,
            on_step: Callable[[int, Mapping[str, float]], None] | None,
            early_stop_patience: int,
            checkpoint: CheckpointHook | None = None,
            resume: TrainingState | None = None,
            n_epochs: int = 0,
            rank: int = 0,
            workers: int = 1,
        ) -> None:
            super().__init__()
            self.model = model
            self.loss_weights = weights
            self.rank = rank
            self.workers = workers
            self.resume = resume
            self.run = TrainingRun(
                n_epochs,
                learning_rate,
                early_stop_patience,
                on_step=on_step,
                checkpoint=checkpoint,
                saves_checkpoints=rank == 0,
            )
            if resume is not None:
                self.run.resume(resume)

        def configure_optimizers(self) -> KerasAdam:
            opt = KerasAdam(self.model.parameters(), lr=self.run.learning_rate)
            if self.resume is not None:
                _restore_optimizer(
                    self.model, opt, self.resume.iterations, self.resume.m, self.resume.v
                )
            return opt

        def on_train_start(self) -> None:
            self.run.log = self.logger

        def training_step(self, batch: TensorBatch, batch_idx: int) -> Tensor:
            if self.workers > 1:
                total, values = self._shard_step(batch)
            else:
                # Lightning takes the backward pass and the optimiser step of train_step
                total, terms = compute_losses(self.model, batch, self.loss_weights)
                values = loss_floats(terms)
            self.run.step(values, len(batch))
            return total

        def _shard_step(self, batch: TensorBatch) -> tuple[Tensor, dict[str, float]]:
            """This worker's shard of the global batch (:mod:`backends.core.parallel`): the
            loss to back-propagate, scaled so that DDP's average of the workers' gradients is
            the gradient of the global batch mean, and the global batch's loss terms."""
            import torch.distributed as dist

            from backends.core.parallel import shards

            shard = shards(len(batch), self.workers)[self.rank]
            total, terms = compute_losses(self.model, batch.take(shard.rows), self.loss_weights)
            local = torch.tensor(
                [float(terms[k].detach()) * shard.share for k in LOSS_TERMS], dtype=torch.float64
            )
            dist.all_reduce(local)
            values = {k: float(v) for k, v in zip(LOSS_TERMS, local.tolist())}
            return total * (shard.share * self.workers), values

        def validation_step(self, batch: TensorBatch, batch_idx: int) -> None:
            terms = eval_step(self.model, batch, self.loss_weights)
            self.run.validation(float(terms["total"]), len(batch))

        def on_train_epoch_end(self) -> None:
            opt: Any = self.optimizers()
            optimizer: KerasAdam = opt.optimizer if hasattr(opt, "optimizer") else opt

            def model_state() -> ModelState:
                m, v = _optimizer_state(self.model, optimizer)
                return ModelState(optimizer.iterations, m, v, export_weights(self.model))

            if self.run.end_epoch(lambda lr: set_learning_rate(optimizer, lr), model_state):
                self.trainer.should_stop = True

        def transfer_batch_to_device(self, batch: Any, device: Any, dataloader_idx: int) -> Any:
            return batch

    return PINNModule


def _run_logger(kind: str | None, output_dir: Path) -> Any:
    """Lightning's ``CSVLogger`` / ``TensorBoardLogger`` (or False: no log) in the next
    ``<output_dir>/logs/pytorch/version_<N>`` (:mod:`backends.core.training_log`)."""
    from backends.core.training_log import backend_log_dir, require_logger, run_log_dir

    require_logger(kind, "pytorch")
    if kind is None:
        return False
    from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

    _, version = run_log_dir(output_dir, "pytorch")
    root = str(backend_log_dir(output_dir, "pytorch").parent)
    if kind == "csv":
        return CSVLogger(save_dir=root, name="pytorch", version=version)
    return TensorBoardLogger(
        save_dir=root, name="pytorch", version=version, default_hp_metric=False
    )


def fit(
    model: PtychoPINN,
    train_part: TensorBatch,
    val_part: TensorBatch | None,
    config: TrainingConfig,
    *,
    seed: int = 0,
    epochs: int | None = None,
    on_step: Callable[[int, Mapping[str, float]], None] | None = None,
    progress: bool = False,
    output_dir: Path | None = None,
    logger: bool = True,
    settings: TrainerSettings | None = None,
    checkpoint: CheckpointHook | None = None,
    resume: TrainingState | None = None,
    rank: int = 0,
    workers: int = 1,
) -> TrainResult:
    """Train ``model`` in place with Lightning (model.md section 9). ``settings``: the
    execution settings a user named (:mod:`backends.config.execution`); None keeps the
    reference behaviour. ``checkpoint`` is asked after every epoch whether to save the training
    state (this project's format, :mod:`backends.core.checkpoint`; Lightning writes none);
    ``resume`` continues from a saved state at its next epoch. ``workers`` > 1: this process
    is worker ``rank`` of a DDP run its launcher started (:mod:`backends.pytorch.parallel`)."""

    settings = settings or TrainerSettings()
    if len(train_part) == 0:
        raise ValueError("no training groups left after the validation split")
    n_epochs = int(config.nepochs if epochs is None else epochs)
    if n_epochs <= 0:
        raise ValueError(f"epochs={n_epochs} must be > 0")
    weights = LossWeights.from_config(config)
    has_val = val_part is not None and len(val_part) > 0
    module = _lightning_module_class()(
        model,
        weights,
        settings.learning_rate,
        on_step,
        settings.early_stop_patience,
        checkpoint,
        resume,
        n_epochs,
        rank,
        workers,
    )
    run: TrainingRun = module.run
    if resume is not None:
        from backends.weights import check_weights, to_torch

        check_weights(resume.weights, model.config)
        with torch.no_grad():
            for name, p in _canonical_parameters(model).items():
                p.copy_(devices.from_numpy(to_torch(name, resume.weights[name])))
        if run.done:
            return run.result(export_weights(model))
    first = run.epoch
    out = Path(config.output_dir if output_dir is None else output_dir)
    wants_bar = progress if settings.progress_bar is None else settings.progress_bar
    show_bar = bool(wants_bar) and sys.stderr.isatty()
    run_logger = _run_logger(settings.logger if logger else None, out)
    train_batches = _EpochBatches(train_part, config.batch_size, seed, first)
    val_batches = _OrderedBatches(val_part, config.batch_size) if has_val else None  # type: ignore[arg-type]
    seconds = _run_lightning(
        module,
        train_batches,
        val_batches,
        settings,
        epochs=n_epochs - first,
        logger=run_logger,
        progress_bar=show_bar,
        root=out,
        workers=workers,
    )
    epochs_done = len(run.history["loss"])
    if train_batches.epoch != epochs_done:
        raise RuntimeError(
            f"the training batches were iterated up to epoch {train_batches.epoch} in "
            f"{epochs_done} epochs; each epoch must draw exactly one permutation"
        )
    return run.result(export_weights(model), seconds)


def _run_lightning(
    module: Any,
    train_batches: Any,
    val_batches: Any,
    settings: TrainerSettings,
    *,
    epochs: int,
    logger: Any,
    progress_bar: bool,
    root: Path,
    workers: int = 1,
) -> float:
    """``Trainer.fit`` of ``module`` for ``epochs`` epochs; returns the wall time. With
    ``workers`` > 1 the trainer joins the DDP process group (``gloo``) its launcher set up
    through the environment (``MASTER_ADDR``, ``MASTER_PORT``, ``WORLD_SIZE``,
    ``LOCAL_RANK``)."""
    import lightning.pytorch as pl

    strategy: Any = "auto"
    if workers > 1:
        from lightning.pytorch.strategies import DDPStrategy

        strategy = DDPStrategy(process_group_backend="gloo")
    determinism = deterministic() if settings.deterministic else contextlib.nullcontext()
    with determinism, _quiet_lightning(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning, module="lightning")
        warnings.filterwarnings("ignore", category=UserWarning, module="lightning_utilities")
        warnings.filterwarnings("ignore", message=".*treespec.*")
        trainer = pl.Trainer(
            accelerator=devices.lightning_accelerator(),
            devices=workers,
            num_nodes=1,
            strategy=strategy,
            max_epochs=epochs,
            logger=logger,
            enable_checkpointing=False,
            enable_progress_bar=progress_bar,
            enable_model_summary=False,
            num_sanity_val_steps=0,
            deterministic=settings.deterministic,
            gradient_clip_val=settings.gradient_clip_val,
            accumulate_grad_batches=settings.accum_steps,
            log_every_n_steps=1_000_000,
            default_root_dir=str(root),
            limit_val_batches=1.0 if val_batches is not None else 0,
        )
        start = time.perf_counter()
        trainer.fit(module, train_dataloaders=train_batches, val_dataloaders=val_batches)
    return time.perf_counter() - start


class _FixedBatches:
    """The given batches, in order, once per epoch."""

    def __init__(self, batches: Sequence[TensorBatch]) -> None:
        self.batches = list(batches)

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self) -> Iterator[TensorBatch]:
        return iter(self.batches)


def _steps_in_lightning(
    model: PtychoPINN,
    batches: Sequence[TensorBatch],
    weights: LossWeights,
    learning_rate: float,
    rank: int,
    workers: int,
) -> tuple[list[dict[str, float]], list[float]]:
    """:func:`train_steps` through the Lightning trainer of :func:`fit` (one epoch over the
    batches, no validation, no early stopping)."""
    module = _lightning_module_class()(
        model, weights, learning_rate, None, 10**9, None, None, 1, rank, workers
    )
    with tempfile.TemporaryDirectory(prefix="ptychopinn-steps-") as root:
        _run_lightning(
            module,
            _FixedBatches(batches),
            None,
            TrainerSettings(learning_rate=learning_rate),
            epochs=1,
            logger=False,
            progress_bar=False,
            root=Path(root),
            workers=workers,
        )
    step_terms = module.run.step_terms
    return list(step_terms), [float(learning_rate)] * len(step_terms)
