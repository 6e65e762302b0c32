"""The TensorFlow backend through the backend-neutral interface (backends/base.py)."""

from __future__ import annotations

import numpy as np
import pytest

import backends.physics as oracle
from backends import graph
from backends.base import Backend, Batch
from backends.config import ModelConfig, TrainingConfig

pytestmark = pytest.mark.tensorflow

SCALE = 988.2118
CFG = ModelConfig(n_filters_scale=1, gridsize=2)


@pytest.fixture(scope="module")
def be():
    pytest.importorskip("tensorflow")
    import backends

    return backends.get("tensorflow")


@pytest.fixture(scope="module")
def handle(be):
    return be.build(CFG, oracle.default_probe(64), SCALE, seed=2)


def batch(seed: int = 0, size: int = 3) -> Batch:
    rng = np.random.default_rng(seed)
    X = rng.uniform(0, 1, (size, 64, 64, 4)).astype(np.float32)
    pos = rng.uniform(-3, 3, (size, 1, 2, 4)).astype(np.float32)
    return Batch(X=X, positions=pos, Y_I=np.ones_like(X))


def test_backend_protocol_and_environment(be):
    assert isinstance(be, Backend)
    assert be.name == "tensorflow"
    env = be.environment()
    for key in ("tensorflow", "keras", "numpy", "device", "op_determinism"):
        assert key in env
    from backends.base import OP_NAMES

    assert all(callable(getattr(be.ops, n)) for n in OP_NAMES)


def test_legacy_params_use_legacy_names(be):
    cfg = TrainingConfig(model=ModelConfig(N=128, probe_big=False), nepochs=7)
    params = be.legacy_params(cfg)
    assert params["N"] == 128 and params["nepochs"] == 7
    assert params["probe.big"] is False and params["object.big"] is True
    assert "probe_big" not in params
    assert params["backend"] == "tensorflow"


def test_forward_capture_has_every_stage(be, handle):
    b = batch()
    res = be.forward(handle, b, capture=True)
    assert list(res.activations) == [s.name for s in graph.stages(CFG)]
    plain = be.forward(handle, b)
    assert set(plain.outputs) == set(graph.MODEL_OUTPUTS)
    for name in graph.MODEL_OUTPUTS:
        np.testing.assert_array_equal(res.outputs[name], plain.outputs[name])
    np.testing.assert_array_equal(
        res.outputs["pred_amp_scaled"], res.activations["intensity_scaler_inv"]
    )
    # the model is fed s * X: the scaler stage undoes it up to exp(l) vs s rounding
    np.testing.assert_allclose(res.activations["intensity_scaler"], b.X, rtol=1e-6)
    acts = {**res.activations, "input": b.X * np.float32(SCALE), "input_positions": b.positions}
    for stage in graph.stages(CFG):
        out = be.run_stage(handle, stage.name, {k: acts[k] for k in stage.inputs})
        np.testing.assert_array_equal(out, res.activations[stage.name], err_msg=stage.name)


def test_build_with_weights_and_round_trip(be, handle):
    weights = be.export_weights(handle)
    assert {k: v.shape for k, v in weights.items()} == graph.weight_shapes(CFG)
    other = be.build(CFG, oracle.default_probe(64), SCALE, weights=weights, seed=5)
    b = batch(1)
    for k, v in be.forward(handle, b).outputs.items():
        np.testing.assert_array_equal(v, be.forward(other, b).outputs[k])
    fresh = be.build(CFG, oracle.default_probe(64), SCALE, seed=5)
    assert not np.array_equal(
        be.export_weights(fresh)["enc1.conv1.kernel"], weights["enc1.conv1.kernel"]
    )
    be.import_weights(fresh, weights)
    np.testing.assert_array_equal(
        be.export_weights(fresh)["enc1.conv1.kernel"], weights["enc1.conv1.kernel"]
    )
    with pytest.raises(ValueError):
        be.import_weights(fresh, {k: v for k, v in weights.items() if k != "enc1.conv1.bias"})


def test_loss_and_grads_and_train_steps(be):
    h = be.build(CFG, oracle.default_probe(64), SCALE, seed=1)
    tc = TrainingConfig(model=CFG)
    b = batch(2)
    lr = be.loss_and_grads(h, b, tc)
    assert set(lr.losses) == {"total", "nll", "mae", "realspace"}
    assert set(lr.grads) == set(graph.weight_shapes(CFG))
    steps = be.train_steps(h, [b], tc)
    assert steps.step_losses[0]["total"] == pytest.approx(lr.losses["total"], rel=1e-6)
    assert set(steps.weights) == set(lr.grads)


@pytest.fixture(scope="module")
def test_data():
    from backends.data import load_inference_data, resolve_data

    data = load_inference_data(resolve_data("builtin:lines-64-small:test"), gridsize=2, seed=0)
    return data.subset(np.arange(10))


def test_infer_stitches_patches(be, handle, test_data):
    res = be.infer(handle, test_data, batch_size=4, crop=20)
    assert res.patches.shape == (10, 64, 64, 1) and res.patches.dtype == np.complex64
    again = be.infer(handle, test_data, batch_size=10, crop=20)
    np.testing.assert_allclose(
        again.patches, res.patches, rtol=1e-5, atol=1e-6 * np.abs(res.patches).max()
    )
    forward = be.forward(handle, test_data.batch(np.arange(10))).outputs["trimmed_obj"]
    np.testing.assert_allclose(res.patches, forward, rtol=1e-5, atol=1e-6 * np.abs(forward).max())
    want = oracle.stitch(res.patches, test_data.global_offsets, crop=20)[..., 0]
    assert res.stitched.shape == want.shape and res.stitched.dtype == np.complex64
    assert np.max(np.abs(res.stitched - want)) <= 2e-6 * np.max(np.abs(want))
    np.testing.assert_array_equal(res.amplitude, np.abs(res.stitched))
    np.testing.assert_array_equal(res.phase, np.angle(res.stitched))


def test_bundle_round_trip_through_the_backend(be, handle, tmp_path):
    cfg = TrainingConfig(model=CFG)
    path = be.save_bundle(handle, tmp_path, cfg)
    loaded, params = be.load_bundle(path)
    assert loaded.backend == "tensorflow" and loaded.config == CFG
    assert loaded.intensity_scale == SCALE and params["gridsize"] == 2
    b = batch(4)
    for k, v in be.forward(handle, b, capture=True).activations.items():
        np.testing.assert_array_equal(
            v, be.forward(loaded, b, capture=True).activations[k], err_msg=k
        )


@pytest.mark.parametrize(
    ("setting", "says"),
    [
        ({"deterministic": False}, "deterministic=False is not supported"),
    ],
)
def test_execution_settings_it_cannot_honour_are_refused(be, handle, setting, says):
    """The settings the TensorFlow loop does not implement are refused with the reason."""
    with pytest.raises(ValueError, match=says):
        be.train(handle, None, TrainingConfig(model=ModelConfig()), execution=setting)


def test_execution_settings_reach_the_loop(be, handle, monkeypatch):
    """learning_rate, gradient_clip_val, early_stop_patience, accum_steps, the logger and the
    progress bar are applied."""
    import backends.tensorflow.train as tf_train

    seen: dict = {}
    monkeypatch.setattr(tf_train, "fit", lambda *a, **kw: seen.update(kw))
    settings = {
        "learning_rate": 5e-4,
        "gradient_clip_val": 0.5,
        "early_stop_patience": 7,
        "enable_progress_bar": True,
        "logger_backend": "none",
        "accelerator": "cpu",
        "accum_steps": 3,
    }
    be.train(handle, None, TrainingConfig(model=ModelConfig()), execution=settings)
    assert seen["learning_rate"] == 5e-4 and seen["gradient_clip_val"] == 0.5
    assert seen["accum_steps"] == 3
    assert seen["early_stop_patience"] == 7 and seen["progress"] is True
    assert seen["logger"] is None


def test_gradient_clipping_step_matches_the_oracle(be):
    """One clipped step equals ``clip_grad_norm_`` then the Keras Adam update in float64."""
    from backends.tensorflow.train import Trainer
    from backends.training import keras_adam_update

    cfg = TrainingConfig(model=CFG)
    model = be.build(CFG, oracle.default_probe(64), SCALE, seed=4)
    b = batch(5, 2)
    before = be.export_weights(model)
    grads = be.loss_and_grads(model, b, cfg).grads
    total = np.sqrt(sum(float(np.sum(np.float64(g) ** 2)) for g in grads.values()))
    max_norm = total / 4  # the clip is active: every gradient is scaled by about 1/4
    coef = min(max_norm / (total + 1e-6), 1.0)
    trainer = Trainer(
        model.models,
        cfg,
        SCALE,
        learning_rate=1e-3,
        compiled=False,
        gradient_clip_val=max_norm,
    )
    trainer.step(b)
    after = be.export_weights(model)
    for name, g in grads.items():
        expected, _, _ = keras_adam_update(
            np.float64(before[name]), np.float64(g) * coef, 0.0, 0.0, 1, 1e-3
        )
        np.testing.assert_allclose(after[name], expected, rtol=1e-4, atol=1e-6, err_msg=name)


def test_accumulated_step_matches_the_oracle(be):
    """accum_steps=2: one Adam step on the sum of the gradients of total/2 over two batches."""
    from backends.tensorflow.train import Trainer
    from backends.training import keras_adam_update

    cfg = TrainingConfig(model=CFG)
    model = be.build(CFG, oracle.default_probe(64), SCALE, seed=6)
    batches = [batch(7, 2), batch(8, 1)]
    before = be.export_weights(model)
    per_batch = [be.loss_and_grads(model, b, cfg).grads for b in batches]
    trainer = Trainer(model.models, cfg, SCALE, learning_rate=1e-3, compiled=False)
    terms = [trainer.accumulate(b, 2) for b in batches]
    assert be.export_weights(model)["enc1.conv1.kernel"].tobytes() == (
        before["enc1.conv1.kernel"].tobytes()
    )
    trainer.apply_accumulated()
    assert int(trainer.optimizer.iterations.numpy()) == 1
    assert terms[0]["total"] == pytest.approx(
        be.loss_and_grads(
            be.build(CFG, oracle.default_probe(64), SCALE, weights=before), batches[0], cfg
        ).losses["total"],
        rel=1e-6,
    )
    after = be.export_weights(model)
    for name in before:
        g = sum(np.float64(grads[name]) / 2 for grads in per_batch)
        expected, _, _ = keras_adam_update(np.float64(before[name]), g, 0.0, 0.0, 1, 1e-3)
        np.testing.assert_allclose(after[name], expected, rtol=1e-4, atol=1e-6, err_msg=name)
