"""The model-ready container and the training/inference loaders (docs/data.md sections 3, 4, 8, 9)."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from backends.base import Batch
from backends.config import InferenceConfig, TrainingConfig, validate_training_config
from backends.data.builtins import resolve_data
from backends.data.grouping import check_counts, group, subsample
from backends.data.npz import RawData, load_npz

DEFAULT_NPHOTONS = 1e9
INFERENCE_SEED = 45
DEFAULT_SUBSAMPLE_SEED = 42
ARRAY_FIELDS = (
    "X",
    "Y",
    "Y_I",
    "Y_phi",
    "coords_nominal",
    "coords_true",
    "global_offsets",
    "local_offsets",
    "nn_indices",
    "probe",
)
"""The array fields of :class:`PtychoData` that every container has."""


@dataclass(eq=False)
class PtychoData:
    """Grouped, normalised data ready for a model (data.md section 8), reference layout.

    ``X`` (G, N, N, C) float32 = X_full; ``Y`` complex64 ground truth (ones when absent, see
    ``has_ground_truth``); ``Y_I``/``Y_phi`` float32; ``coords_nominal`` = ``coords_true`` =
    coords_start_relative (G, 1, 2, C) float32; ``global_offsets`` (G, 1, 2, 1) and
    ``local_offsets`` (G, 1, 2, C) float64; ``nn_indices`` (G, C) int64; ``probe`` (N, N)
    complex64 raw; ``norm_Y_I`` float32 = sqrt(nphotons / mean sum X^2); ``nphotons`` the value
    in force (configured, or the file's ``_metadata`` override).
    """

    X: np.ndarray
    Y: np.ndarray
    Y_I: np.ndarray
    Y_phi: np.ndarray
    coords_nominal: np.ndarray
    coords_true: np.ndarray
    global_offsets: np.ndarray
    local_offsets: np.ndarray
    nn_indices: np.ndarray
    probe: np.ndarray
    norm_Y_I: np.float32
    nphotons: float
    objectGuess: np.ndarray | None = None
    has_ground_truth: bool = True
    sample_indices: np.ndarray | None = None
    YY_full: None = None

    @property
    def N(self) -> int:
        """Pattern side."""
        return int(self.X.shape[1])

    @property
    def C(self) -> int:
        """Patterns per group (gridsize squared)."""
        return int(self.X.shape[-1])

    @property
    def coords(self) -> np.ndarray:
        """Alias of ``coords_nominal``."""
        return self.coords_nominal

    def __len__(self) -> int:
        return int(self.X.shape[0])

    @classmethod
    def from_grouped(
        cls,
        grouped: dict[str, Any],
        probe: np.ndarray,
        *,
        nphotons: float = DEFAULT_NPHOTONS,
        N: int | None = None,
    ) -> PtychoData:
        """Build from the grouped dictionary of :func:`backends.data.group`.

        ``N`` is the model's patch size, checked against the diffraction side. Accepts the
        canonical coordinate pair (``coords_offsets``/``coords_relative``), the start pair, or
        both.
        """
        X = np.ascontiguousarray(grouped["X_full"], dtype=np.float32)
        if X.ndim != 4:
            raise ValueError(f"X_full must be (G, N, N, C); got shape {X.shape}")
        side = X.shape[1]
        if N is not None and side != N:
            raise ValueError(
                f"the model's N={N} differs from the diffraction side {side} of the data "
                f"(X shape {X.shape}); use data with {N}x{N} patterns or set N={side}"
            )
        probe = np.ascontiguousarray(probe, dtype=np.complex64)
        if probe.shape != (side, side):
            raise ValueError(f"probe must be (N, N) = {(side, side)}; got shape {probe.shape}")
        Y = grouped.get("Y")
        has_truth = Y is not None
        if Y is None:
            Y = np.ones(X.shape, dtype=np.complex64)
        Y = np.ascontiguousarray(Y, dtype=np.complex64)
        if Y.ndim != 4 or Y.shape[-1] != X.shape[-1]:
            raise ValueError(
                f"channel mismatch: X has shape {X.shape} ({X.shape[-1]} channels) but Y has "
                f"shape {Y.shape}"
            )
        if Y.shape != X.shape:
            raise ValueError(f"Y shape {Y.shape} does not match X shape {X.shape}")
        relative = grouped.get("coords_relative")
        start_relative = grouped.get("coords_start_relative")
        offsets = grouped.get("coords_offsets")
        start_offsets = grouped.get("coords_start_offsets")
        if relative is None and start_relative is None:
            raise KeyError("grouped data needs 'coords_relative' or 'coords_start_relative'")
        if offsets is None and start_offsets is None:
            raise KeyError("grouped data needs 'coords_offsets' or 'coords_start_offsets'")
        nominal_src = start_relative if start_relative is not None else relative
        local = relative if relative is not None else start_relative
        global_ = offsets if offsets is not None else start_offsets
        nominal = np.ascontiguousarray(nominal_src, dtype=np.float32)
        G, C = X.shape[0], X.shape[-1]
        if nominal.shape != (G, 1, 2, C):
            raise ValueError(
                f"relative coordinates must be (G, 1, 2, C) = {(G, 1, 2, C)}; got {nominal.shape}"
            )
        energy = float(np.mean(np.sum(X.astype(np.float64) ** 2, axis=(1, 2))))
        norm = np.float32(math.sqrt(nphotons / energy)) if energy > 0 else np.float32(np.inf)
        nn = np.asarray(grouped["nn_indices"], dtype=np.int64)
        obj = grouped.get("objectGuess")
        return cls(
            X=X,
            Y=Y,
            Y_I=np.abs(Y).astype(np.float32),
            Y_phi=np.angle(Y).astype(np.float32),
            coords_nominal=nominal,
            coords_true=nominal.copy(),
            global_offsets=np.ascontiguousarray(global_, dtype=np.float64),
            local_offsets=np.ascontiguousarray(local, dtype=np.float64),
            nn_indices=nn,
            probe=probe,
            norm_Y_I=norm,
            nphotons=float(nphotons),
            objectGuess=None if obj is None else np.asarray(obj, dtype=np.complex64),
            has_ground_truth=has_truth,
            sample_indices=grouped.get("sample_indices"),
        )

    def subset(self, indices: Any) -> PtychoData:
        """The groups ``indices`` (an index array, list or slice), in that order."""
        idx = indices if isinstance(indices, slice) else np.asarray(indices, dtype=np.int64)
        return replace(
            self,
            X=self.X[idx],
            Y=self.Y[idx],
            Y_I=self.Y_I[idx],
            Y_phi=self.Y_phi[idx],
            coords_nominal=self.coords_nominal[idx],
            coords_true=self.coords_true[idx],
            global_offsets=self.global_offsets[idx],
            local_offsets=self.local_offsets[idx],
            nn_indices=self.nn_indices[idx],
        )

    def batch(self, indices: Any) -> Batch:
        """One model batch: ``X`` float32, ``positions`` = coords_nominal float32, ``Y_I``."""
        idx = indices if isinstance(indices, slice) else np.asarray(indices, dtype=np.int64)
        return Batch(
            X=np.ascontiguousarray(self.X[idx]),
            positions=np.ascontiguousarray(self.coords_nominal[idx]),
            Y_I=np.ascontiguousarray(self.Y_I[idx]),
        )


def validation_split(
    container: PtychoData, fraction: float = 0.05
) -> tuple[PtychoData, PtychoData | None]:
    """Keras ``validation_split``: the last ``G - floor(G * (1 - fraction))`` groups validate.

    No shuffling before the split; returns ``(train_part, val_part)``, ``val_part`` None when
    it would be empty.
    """
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"validation fraction={fraction!r} is not allowed; it must be in [0, 1)")
    G = len(container)
    split_at = math.floor(G * (1.0 - fraction))
    train = container.subset(slice(0, split_at))
    if split_at >= G:
        return train, None
    return train, container.subset(slice(split_at, G))


def train_test_split(container: PtychoData, train_frac: float) -> tuple[PtychoData, PtychoData]:
    """Legacy ``create_split``: the first ``int(G * train_frac)`` groups train, the rest test."""
    if not 0.0 < train_frac <= 1.0:
        raise ValueError(f"train_frac={train_frac!r} is not allowed; it must be in (0, 1]")
    cut = int(len(container) * train_frac)
    return container.subset(slice(0, cut)), container.subset(slice(cut, len(container)))


def _effective_nphotons(raw: RawData, configured: float) -> float:
    override = raw.nphotons
    return configured if override is None else override


def load_training_data(config: TrainingConfig) -> tuple[PtychoData, PtychoData | None]:
    """Training and (optional) test containers for a training run (data.md sections 3-4).

    One stream ``RandomState(subsample_seed or 42)`` drives training subsampling, training
    grouping and test grouping, never reseeded. The training file's ``_metadata`` nphotons,
    if any, overrides ``config.nphotons`` and is stored in ``.nphotons`` of both containers.
    """
    validate_training_config(config)
    if config.train_data_file is None:
        raise ValueError("train_data_file is required to load training data")
    raw = load_npz(resolve_data(config.train_data_file))
    assert config.n_groups is not None
    check_counts(
        n_subsample=config.n_subsample,
        n_groups=config.n_groups,
        neighbor_count=config.neighbor_count,
    )
    seed = DEFAULT_SUBSAMPLE_SEED if config.subsample_seed is None else config.subsample_seed
    rng = np.random.RandomState(seed)
    nphotons = _effective_nphotons(raw, config.nphotons)
    train_raw = subsample(raw, n_subsample=config.n_subsample, n_groups=config.n_groups, rng=rng)
    settings: dict[str, Any] = {
        "gridsize": config.model.gridsize,
        "n_groups": config.n_groups,
        "neighbor_count": config.neighbor_count,
        "sequential_sampling": config.sequential_sampling,
        "enable_oversampling": config.enable_oversampling,
        "neighbor_pool_size": config.neighbor_pool_size,
        "seed": None,
    }
    grouped = group(train_raw, rng=rng, **settings)
    train = PtychoData.from_grouped(
        grouped, train_raw.probeGuess, nphotons=nphotons, N=config.model.N
    )
    test = None
    if config.test_data_file is not None:
        test_raw = load_npz(resolve_data(config.test_data_file))
        grouped = group(test_raw, rng=rng, **settings)
        test = PtychoData.from_grouped(
            grouped, test_raw.probeGuess, nphotons=nphotons, N=config.model.N
        )
    return train, test


def load_inference_data(
    path: str | os.PathLike[str] | None,
    config: InferenceConfig | None = None,
    *,
    gridsize: int | None = None,
    n_groups: int | None = None,
    seed: int | None = None,
    neighbor_count: int | None = None,
    nphotons: float | None = None,
) -> PtychoData:
    """The container for inference on one file (data.md section 4, "Project inference").

    Subsampling as section 3 (nothing when neither n_groups nor n_subsample is set); groups
    ``min(n_groups, cap)`` with ``cap = P`` (C = 1) or ``max(1, P // C)``; random mode on
    ``RandomState(45)`` unless ``seed`` is given; K = neighbor_count (default 4). Arguments
    left as None come from ``config`` when given. ``nphotons``: the argument, else the file's
    ``_metadata`` value, else 1e9.
    """
    if path is None:
        if config is None:
            raise ValueError("load_inference_data needs a data path or an InferenceConfig")
        path = config.test_data_file
    if gridsize is None:
        if config is None:
            raise ValueError("load_inference_data needs gridsize (or an InferenceConfig)")
        gridsize = config.model.gridsize
    if n_groups is None and config is not None:
        n_groups = config.n_groups
    n_subsample = config.n_subsample if config is not None else None
    subsample_seed = config.subsample_seed if config is not None else None
    if neighbor_count is None:
        neighbor_count = config.neighbor_count if config is not None else 4
    raw = load_npz(resolve_data(path))
    check_counts(n_subsample=n_subsample, n_groups=n_groups, neighbor_count=neighbor_count)
    sub_rng = np.random.RandomState(
        DEFAULT_SUBSAMPLE_SEED if subsample_seed is None else subsample_seed
    )
    used = subsample(raw, n_subsample=n_subsample, n_groups=n_groups, rng=sub_rng)
    P = used.n_patterns
    C = gridsize * gridsize
    cap = P if C == 1 else max(1, P // C)
    if n_groups is not None:
        groups = min(n_groups, cap)
    elif n_subsample is not None:
        groups = min(n_subsample, cap)
    else:
        groups = cap
    rng = np.random.RandomState(INFERENCE_SEED if seed is None else seed)
    grouped = group(
        used,
        gridsize=gridsize,
        n_groups=groups,
        neighbor_count=neighbor_count,
        rng=rng,
        enable_oversampling=config.enable_oversampling if config is not None else False,
        neighbor_pool_size=config.neighbor_pool_size if config is not None else None,
    )
    if nphotons is None:
        nphotons = _effective_nphotons(raw, DEFAULT_NPHOTONS)
    return PtychoData.from_grouped(
        grouped,
        used.probeGuess,
        nphotons=nphotons,
        N=config.model.N if config is not None else None,
    )
