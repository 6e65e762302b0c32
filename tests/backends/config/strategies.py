"""Hypothesis strategies over the valid canonical configuration space."""

from __future__ import annotations

import string
import warnings
from pathlib import Path

from hypothesis import strategies as st

from backends.config import InferenceConfig, ModelConfig, TrainingConfig

MODEL_TYPES = ("pinn", "supervised")
ACTIVATIONS = ("sigmoid", "swish", "softplus", "relu")
COMBINE_MODES = ("polar", "legacy_rect")
BACKENDS = ("tensorflow", "pytorch")
LOSS_MODES = ("poisson", "mae")

paths = st.text(string.ascii_letters + string.digits + "_-./:", min_size=1, max_size=24).map(Path)
optional_paths = st.none() | paths
positive_floats = st.floats(min_value=1e-6, max_value=1e12, allow_nan=False, allow_infinity=False)
unit_floats = st.sampled_from([0.0, 1.0]) | st.floats(min_value=0.0, max_value=1.0)
counts = st.integers(min_value=1, max_value=10**6)
optional_counts = st.none() | counts
seeds = st.none() | st.integers(min_value=0, max_value=2**32 - 1)


def _model(**kwargs: object) -> ModelConfig:
    with warnings.catch_warnings():  # N outside {64, 128, 256} warns; it is still valid
        warnings.simplefilter("ignore", UserWarning)
        return ModelConfig(**kwargs)  # type: ignore[arg-type]


model_configs = st.builds(
    _model,
    N=st.sampled_from([64, 128, 256]) | st.integers(min_value=1, max_value=2048),
    gridsize=st.integers(min_value=1, max_value=6),
    n_filters_scale=st.integers(min_value=1, max_value=8),
    model_type=st.sampled_from(MODEL_TYPES),
    amp_activation=st.sampled_from(ACTIVATIONS),
    object_big=st.booleans(),
    probe_big=st.booleans(),
    probe_mask=st.booleans(),
    pad_object=st.booleans(),
    probe_scale=st.sampled_from([1.0, 4.0, 10.0]) | positive_floats,
    gaussian_smoothing_sigma=st.just(0.0)
    | st.floats(min_value=0.0, max_value=100.0, allow_nan=False),
    combine_mode=st.sampled_from(COMBINE_MODES),
)


@st.composite
def realspace_weights(draw: st.DrawFn) -> tuple[float, float]:
    """(realspace_mae_weight, realspace_weight) obeying "the first > 0 needs the second > 0"."""
    mae = draw(st.just(0.0) | st.floats(min_value=0.0, max_value=10.0))
    low = 1e-6 if mae > 0 else 0.0
    return mae, draw(st.just(max(low, 0.0)) | st.floats(min_value=low, max_value=10.0))


@st.composite
def training_configs(draw: st.DrawFn) -> TrainingConfig:
    """Any valid TrainingConfig with a train_data_file (the bridge requires one)."""
    rs_mae, rs = draw(realspace_weights())
    return TrainingConfig(
        model=draw(model_configs),
        train_data_file=draw(paths),
        test_data_file=draw(optional_paths),
        batch_size=2 ** draw(st.integers(min_value=0, max_value=12)),
        nepochs=draw(st.integers(min_value=1, max_value=10_000)),
        mae_weight=draw(unit_floats),
        nll_weight=draw(unit_floats),
        realspace_mae_weight=rs_mae,
        realspace_weight=rs,
        nphotons=draw(st.sampled_from([1e5, 1e9, 1e6]) | positive_floats),
        n_groups=draw(counts),
        n_images=draw(optional_counts),
        n_subsample=draw(optional_counts),
        subsample_seed=draw(seeds),
        neighbor_count=draw(st.integers(min_value=1, max_value=64)),
        enable_oversampling=draw(st.booleans()),
        neighbor_pool_size=draw(optional_counts),
        positions_provided=draw(st.booleans()),
        probe_trainable=draw(st.booleans()),
        intensity_scale_trainable=draw(st.booleans()),
        sequential_sampling=draw(st.booleans()),
        output_dir=draw(paths),
        backend=draw(st.sampled_from(BACKENDS)),
        torch_loss_mode=draw(st.sampled_from(LOSS_MODES)),
    )


@st.composite
def inference_configs(draw: st.DrawFn) -> InferenceConfig:
    """Any valid InferenceConfig (model_path resolution aside)."""
    n_groups = draw(optional_counts)
    with warnings.catch_warnings():  # n_images without n_groups is the deprecated alias
        warnings.simplefilter("ignore", DeprecationWarning)
        return _inference(draw, n_groups)


def _inference(draw: st.DrawFn, n_groups: int | None) -> InferenceConfig:
    return InferenceConfig(
        model=draw(model_configs),
        model_path=draw(paths),
        test_data_file=draw(paths),
        n_groups=n_groups,
        n_images=draw(optional_counts),
        n_subsample=draw(optional_counts),
        subsample_seed=draw(seeds),
        neighbor_count=draw(st.integers(min_value=1, max_value=64)),
        enable_oversampling=draw(st.booleans()),
        neighbor_pool_size=draw(optional_counts),
        debug=draw(st.booleans()),
        output_dir=draw(paths),
        backend=draw(st.sampled_from(BACKENDS)),
    )
