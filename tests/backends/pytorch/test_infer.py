"""PyTorch prediction: the Predictor and predict_patches give the model's ``trimmed_obj``
batch by batch, as the full forward pass does."""

from __future__ import annotations

import math

import numpy as np
import pytest

from backends import graph, physics
from backends.base import Batch
from backends.config import ModelConfig

pytestmark = pytest.mark.pytorch

SCALE = math.sqrt(1e9) / 32  # physics.md 5.2, N = 64


def _groups(cfg: ModelConfig, groups: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    C = cfg.channels
    X = rng.uniform(0, 0.4, (groups, cfg.N, cfg.N, C)).astype(np.float32)
    positions = rng.uniform(-3, 3, (groups, 1, 2, C)).astype(np.float32)
    return X, positions


@pytest.mark.parametrize("gridsize", [1, 2])
def test_predicted_patches_equal_the_forward_pass(backend, gridsize: int) -> None:
    from backends.pytorch import infer

    cfg = ModelConfig(n_filters_scale=1, gridsize=gridsize)
    handle = backend.build(cfg, physics.default_probe(cfg.N), SCALE, seed=3)
    X, positions = _groups(cfg, 3, gridsize)
    forward = backend.forward(handle, Batch(X, positions, X)).outputs["trimmed_obj"]

    patches = infer.predict_patches(handle.module, X, positions, SCALE, batch_size=3)
    assert patches.shape == (3, cfg.N, cfg.N, 1)
    assert patches.dtype == np.complex64
    np.testing.assert_allclose(patches, forward, rtol=0, atol=1e-5 * np.abs(forward).max())

    # batches of 2 + 1 through one Predictor agree to float32 rounding (kernel choice)
    predictor = infer.Predictor(handle.module)
    batched = infer.predict_patches(
        handle.module, X, positions, SCALE, batch_size=2, predictor=predictor
    )
    np.testing.assert_allclose(batched, patches, rtol=0, atol=1e-5 * np.abs(patches).max())


def test_no_groups_give_no_patches(backend) -> None:
    from backends.pytorch import infer

    cfg = ModelConfig(n_filters_scale=1)
    handle = backend.build(cfg, physics.default_probe(cfg.N), SCALE)
    X, positions = _groups(cfg, 0, 0)
    patches = infer.predict_patches(handle.module, X, positions, SCALE)
    assert patches.shape == (0, cfg.N, cfg.N, 1)
    assert patches.dtype == np.complex64


def test_canvas_follows_offset_and_jitter() -> None:
    pytest.importorskip("torch")
    from backends.pytorch.model import build_model

    cfg = ModelConfig(n_filters_scale=1, gridsize=2)
    probe = physics.default_probe(cfg.N)
    default = build_model(cfg, probe, SCALE)
    wider = build_model(cfg, probe, SCALE, offset=8, max_position_jitter=12)
    assert (default.offset, default.max_position_jitter) == (4, 10)
    assert wider.M == graph.padded_size(cfg, 8, 12) > default.M


@pytest.mark.parametrize("kind", graph.HEAD_ACTIVATIONS)
def test_head_activation_values(kind: str) -> None:
    torch = pytest.importorskip("torch")
    from backends.pytorch.layers import head_activation

    x = np.linspace(-4, 4, 17)
    want = {
        "sigmoid": 1 / (1 + np.exp(-x)),
        "swish": x / (1 + np.exp(-x)),
        "softplus": np.log1p(np.exp(x)),
        "relu": np.maximum(x, 0),
        "pi_tanh": np.pi * np.tanh(x),
    }[kind]
    got = head_activation(kind)(torch.tensor(x, dtype=torch.float32)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


def test_unknown_head_activation_names_the_choices() -> None:
    pytest.importorskip("torch")
    from backends.pytorch.layers import head_activation

    with pytest.raises(ValueError, match="Unknown activation 'tanh'; choose one of: sigmoid"):
        head_activation("tanh")
