"""The backend-neutral interface that the TensorFlow and PyTorch backends implement.

Everything crosses this boundary as NumPy arrays in the reference layout (docs/physics.md
section 0): images NHWC ``(B, N, N, C)``, positions ``(B, 1, 2, C)``, complex as complex64,
weights under the canonical names of :mod:`backends.graph` with Keras (HWIO) kernel layout.
A backend converts at the boundary; nothing above it knows about NCHW.

The life cycle follows ONNX's backend interface: :meth:`Backend.build` (or
:meth:`Backend.load_bundle`) prepares a :class:`ModelHandle`, then ``forward``, ``loss_and_grads``,
``train_steps``, ``train`` and ``infer`` run it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from backends.config.canonical import ModelConfig, TrainingConfig
from backends.core.checkpoint import CheckpointHook, TrainingState
from backends.core.hooks import KernelPatch

Arrays = dict[str, np.ndarray]


@dataclass(frozen=True)
class Batch:
    """One batch of model inputs and targets, reference layout.

    ``X`` is the normalised diffraction ``X_full`` (B, N, N, C) float32 (the model is fed
    ``intensity_scale * X``); ``positions`` is ``coords_start_relative`` (B, 1, 2, C) float32;
    ``Y_I`` the ground-truth amplitude (B, N, N, C) float32 or None (needed only by the
    real-space loss).
    """

    X: np.ndarray
    positions: np.ndarray
    Y_I: np.ndarray | None = None


@dataclass
class ForwardResult:
    """Named outputs (``trimmed_obj``, ``pred_amp_scaled``, ``pred_intensity``) and, when
    captured, every stage activation of :func:`backends.graph.stages` by stage name."""

    outputs: Arrays
    activations: Arrays = field(default_factory=dict)


@dataclass
class LossResult:
    """Loss terms (``total``, ``nll``, ``mae``, ``realspace``: floats) and gradients of
    ``total`` by canonical weight name (reference layout)."""

    losses: dict[str, float]
    grads: Arrays


@dataclass
class StepsResult:
    """Per-step losses (one dict of terms per optimizer step) and the final weights."""

    step_losses: list[dict[str, float]]
    weights: Arrays
    learning_rates: list[float] = field(default_factory=list)


@dataclass
class TrainResult:
    """A full training run: ``history`` has per-epoch lists ``loss``, ``val_loss`` (may be
    empty), ``lr`` and the loss terms; ``step_loss`` is the loss of every optimizer step (those
    before a resume included); ``weights`` the final weights; ``stopped_epoch`` the epoch
    EarlyStopping ended on (or None); ``step_terms`` the loss terms of the steps this run
    took."""

    history: dict[str, list[float]]
    step_loss: list[float]
    weights: Arrays
    stopped_epoch: int | None = None
    seconds: float = 0.0
    step_terms: list[dict[str, float]] = field(default_factory=list)


@dataclass
class LoadedBundle:
    """A bundle as a backend's persistence module reads it: the framework's model object, a
    copy of the params snapshot, the intensity scale, and the backend's native configuration
    the model was rebuilt from (PyTorch: its model/training configs; TensorFlow: None)."""

    model: Any
    params: dict[str, Any]
    intensity_scale: float
    native_configs: Any = None


@dataclass
class InferenceResult:
    """Per-group object patches ``trimmed_obj`` (G, N, N, 1) complex64 and the stitched object
    (S, S) complex64 with its ``amplitude`` and ``phase`` (float32)."""

    patches: np.ndarray
    stitched: np.ndarray
    amplitude: np.ndarray
    phase: np.ndarray


@runtime_checkable
class ModelHandle(Protocol):
    """A built model of one backend."""

    backend: str
    config: ModelConfig
    intensity_scale: float
    probe: np.ndarray  # (N, N) complex64, raw (normalised inside the model)


@runtime_checkable
class Ops(Protocol):
    """Every physics operation of docs/physics.md, NumPy in and NumPy out, reference layout.

    The float64 oracle :mod:`backends.physics` has the same functions under the same names.
    """

    def combine_complex(
        self, amp: np.ndarray, phi: np.ndarray, mode: str = "polar"
    ) -> np.ndarray: ...
    def default_probe(self, N: int, default_probe_scale: float = 0.7) -> np.ndarray: ...
    def probe_mask(self, N: int) -> np.ndarray: ...
    def center_mask(self, N: int) -> np.ndarray: ...
    def normalize_probe(self, probe: np.ndarray, probe_scale: float) -> np.ndarray: ...
    def illuminate(
        self, obj: np.ndarray, probe: np.ndarray, sigma: float = 0.0, mask: bool = False
    ) -> np.ndarray: ...
    def diffract(self, psi: np.ndarray) -> np.ndarray: ...
    def translate(self, images: np.ndarray, shifts: np.ndarray) -> np.ndarray: ...
    def extract_patches(self, canvas: np.ndarray, positions: np.ndarray, N: int) -> np.ndarray: ...
    def merge_patches(self, patches: np.ndarray, positions: np.ndarray, M: int) -> np.ndarray: ...
    def pad_to(self, x: np.ndarray, M: int) -> np.ndarray: ...
    def trim(self, canvas: np.ndarray, N: int) -> np.ndarray: ...
    def flat_to_channel(self, x: np.ndarray, C: int) -> np.ndarray: ...
    def channel_to_flat(self, x: np.ndarray) -> np.ndarray: ...
    def gaussian_smooth(self, x: np.ndarray, sigma: float) -> np.ndarray: ...
    def stitch(self, patches: np.ndarray, offsets: np.ndarray, crop: int = 20) -> np.ndarray: ...
    def poisson_nll(self, pred_intensity: np.ndarray, target_intensity: np.ndarray) -> float: ...
    def mae(self, pred: np.ndarray, target: np.ndarray) -> float: ...
    def total_variation(self, z: np.ndarray) -> float: ...
    def complex_mae(self, target: np.ndarray, z: np.ndarray) -> float: ...


OP_NAMES: tuple[str, ...] = tuple(
    name for name in Ops.__dict__ if not name.startswith("_") and callable(Ops.__dict__[name])
)
"""The op names every backend's ``ops`` namespace and the oracle provide."""


StepCallback = Callable[[int, Mapping[str, float]], None]
"""Called after each optimizer step with the global step index and the loss terms."""


@runtime_checkable
class Runtime(Protocol):
    """What an application needs from a backend: prepare a model (build it or load a bundle),
    then run it (train, infer, save)."""

    name: str

    def environment(self) -> dict[str, Any]:
        """Framework versions, device, threads, determinism flags."""
        ...

    def legacy_params(self, config: TrainingConfig) -> dict[str, Any]:
        """The legacy params snapshot this backend's own configuration path produces."""
        ...

    def build(
        self,
        config: ModelConfig,
        probe: np.ndarray,
        intensity_scale: float,
        weights: Mapping[str, np.ndarray] | None = None,
        seed: int = 0,
    ) -> ModelHandle:
        """Build the network (Glorot-uniform kernels, zero biases from ``seed``), or with
        ``weights`` (canonical names, reference layout, every weight exactly once)."""
        ...

    def train(
        self,
        model: ModelHandle,
        train_data: Any,
        config: TrainingConfig,
        seed: int = 0,
        epochs: int | None = None,
        on_step: StepCallback | None = None,
        progress: bool = False,
        execution: Mapping[str, Any] | None = None,
        checkpoint: CheckpointHook | None = None,
        resume: TrainingState | None = None,
    ) -> TrainResult:
        """Full training (model.md section 9) on a ``backends.data`` container. ``execution``:
        execution settings by field name (docs/config.md (e); PyTorch only, see
        :mod:`backends.config.execution`). ``checkpoint`` is asked after each epoch whether to
        save the training state; ``resume`` continues from one (:mod:`backends.core.checkpoint`)."""
        ...

    def infer(
        self, model: ModelHandle, data: Any, batch_size: int = 64, crop: int = 20
    ) -> InferenceResult:
        """Object patches of every group and the stitched object (physics.md section 8.2)."""
        ...

    def save_bundle(self, model: ModelHandle, bundle_dir: Path, config: TrainingConfig) -> Path:
        """Write ``<bundle_dir>/wts.h5.zip`` (docs/persistence.md section 3); returns its path."""
        ...

    def load_bundle(self, path: Path) -> tuple[ModelHandle, dict[str, Any]]:
        """Load a bundle of this backend; returns the model and a copy of the params snapshot."""
        ...


@runtime_checkable
class Introspection(Protocol):
    """What the parity harness needs beyond the runtime: the physics ops, activations and
    single-stage re-feeds, loss and gradients, optimiser steps from given weights, weights by
    canonical name, and one hook that replaces named kernels (injected defects)."""

    ops: Ops

    def export_weights(self, model: ModelHandle) -> Arrays:
        """All weights by canonical name, reference layout."""
        ...

    def import_weights(self, model: ModelHandle, weights: Mapping[str, np.ndarray]) -> None:
        """Replace all weights; a missing, extra or misshapen name raises ValueError."""
        ...

    def forward(self, model: ModelHandle, batch: Batch, capture: bool = False) -> ForwardResult:
        """Run the training graph on ``intensity_scale * batch.X``."""
        ...

    def run_stage(
        self, model: ModelHandle, stage: str, feeds: Mapping[str, np.ndarray]
    ) -> np.ndarray:
        """Run one stage of :func:`backends.graph.stages` on the given inputs (single-step mode)."""
        ...

    def loss_and_grads(
        self, model: ModelHandle, batch: Batch, config: TrainingConfig
    ) -> LossResult:
        """Loss terms (docs/physics.md section 10) and gradients by canonical weight name."""
        ...

    def train_steps(
        self,
        model: ModelHandle,
        batches: Sequence[Batch],
        config: TrainingConfig,
        learning_rate: float = 1e-3,
        workers: int = 1,
    ) -> StepsResult:
        """One Adam step (Keras form, model.md section 9) per batch, in order, no shuffling;
        ``workers`` > 1 splits every batch over that many data-parallel workers
        (:mod:`backends.core.parallel`)."""
        ...

    def override_kernels(self, patches: Sequence[KernelPatch]) -> AbstractContextManager[None]:
        """A context in which the named public functions of the backend's kernel modules
        (``ops``, ``train``, ``weights``, ``bridge``, ...) are replaced; all are restored on
        exit. A private or unknown name raises ValueError."""
        ...


@runtime_checkable
class Backend(Runtime, Introspection, Protocol):
    """One framework's implementation: the runtime contract and the harness's introspection."""
