"""TensorFlow prediction: eager and traced calls of the model give the same numbers."""

from __future__ import annotations

import numpy as np
import pytest

import backends.physics as oracle
from backends.config import ModelConfig

pytestmark = pytest.mark.tensorflow

SCALE = 988.2118  # sqrt(1e9) / 32, docs/physics.md 5.2


@pytest.mark.parametrize("gridsize", [1, 2])
def test_eager_prediction_equals_the_traced_one(gridsize: int) -> None:
    pytest.importorskip("tensorflow")
    from backends.tensorflow import infer, model

    cfg = ModelConfig(n_filters_scale=1, gridsize=gridsize)
    models = model.build_model(cfg, oracle.default_probe(cfg.N), SCALE, seed=4)
    rng = np.random.default_rng(gridsize)
    groups, C = 5, cfg.channels
    X = rng.uniform(0, 1, (groups, cfg.N, cfg.N, C)).astype(np.float32)
    positions = rng.uniform(-3, 3, (groups, 1, 2, C)).astype(np.float32)
    traced = infer.predict_patches(
        models, X, positions, SCALE, batch_size=2, predictor=infer.Predictor(models)
    )
    eager = infer.predict_patches(
        models, X, positions, SCALE, batch_size=2, predictor=infer.Predictor(models, False)
    )
    default = infer.predict_patches(models, X, positions, SCALE, batch_size=4)  # 2 batches: eager
    assert traced.shape == (groups, cfg.N, cfg.N, 1)
    assert np.array_equal(eager, traced)
    assert np.array_equal(default, traced)
