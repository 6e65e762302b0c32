"""Losses, the Keras-form Adam optimiser, per-step training and Lightning training of the
PyTorch backend (docs/physics.md 10, docs/model.md 9)."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest

from backends import physics
from backends.base import Batch
from backends.config import ModelConfig, TrainingConfig
from backends.training import keras_adam_update

pytestmark = pytest.mark.pytorch
SCALE = math.sqrt(1e9) / 32


def _batch(cfg: ModelConfig, B: int = 2, seed: int = 0) -> Batch:
    rng = np.random.default_rng(seed)
    C = cfg.channels
    X = rng.uniform(0, 0.4, size=(B, cfg.N, cfg.N, C)).astype(np.float32)
    pos = (rng.normal(size=(B, 1, 2, C)) * 2).astype(np.float32)
    pos -= pos.mean(axis=3, keepdims=True)
    return Batch(X, pos, rng.uniform(0.5, 1, size=X.shape).astype(np.float32))


# ----------------------------------------------------------------------------- optimiser


def test_keras_adam_matches_the_numpy_reference() -> None:
    torch = pytest.importorskip("torch")
    from backends.pytorch.train import KerasAdam

    rng = np.random.default_rng(1)
    theta0 = rng.normal(size=(5, 7)).astype(np.float32)
    p = torch.nn.Parameter(torch.from_numpy(theta0.copy()))
    opt = KerasAdam([p], lr=1e-3)
    ref, m, v = theta0.astype(np.float64), np.zeros((5, 7)), np.zeros((5, 7))
    for t in range(1, 8):
        g = (rng.normal(size=(5, 7)) * 10.0 ** rng.integers(-6, 2)).astype(np.float32)
        p.grad = torch.from_numpy(g.copy())
        opt.step()
        ref, m, v = keras_adam_update(ref, g.astype(np.float64), m, v, t, 1e-3)
        np.testing.assert_allclose(p.detach().numpy(), ref, rtol=1e-6, atol=1e-9)


def test_the_plain_optimiser_of_step_lists_updates_as_keras_adam_does() -> None:
    """train_steps' optimiser (no torch.optim machinery) against KerasAdam, bit for bit, with a
    learning rate changed half-way and a parameter without gradient on one step. Neither it nor
    the deterministic mode of the step lists imports torch._dynamo (constructing a torch
    optimiser and torch.use_deterministic_algorithms do: over a second)."""
    import subprocess
    import sys

    torch = pytest.importorskip("torch")
    from backends.pytorch.train import KerasAdam, PlainKerasAdam, set_learning_rate

    rng = np.random.default_rng(3)
    theta = [rng.normal(size=(4, 3)).astype(np.float32), rng.normal(size=5).astype(np.float32)]
    a = [torch.nn.Parameter(torch.from_numpy(t.copy())) for t in theta]
    b = [torch.nn.Parameter(torch.from_numpy(t.copy())) for t in theta]
    opts = (KerasAdam(a, lr=1e-3), PlainKerasAdam(b, lr=1e-3))
    for step in range(6):
        grads = [
            (rng.normal(size=t.shape) * 10.0 ** rng.integers(-5, 1)).astype(np.float32)
            for t in theta
        ]
        if step == 3:
            for opt in opts:
                set_learning_rate(opt, 5e-4)
        for params, opt in zip((a, b), opts):
            opt.zero_grad(set_to_none=True)
            for p, g in zip(params, grads):
                p.grad = None if step == 2 and p.ndim == 1 else torch.from_numpy(g.copy())
            opt.step()
        for p, q in zip(a, b):
            assert torch.equal(p, q)
    assert opts[0].iterations == opts[1].iterations == 6
    code = (
        "import sys, torch; from backends.pytorch.train import PlainKerasAdam, deterministic; "
        "p = torch.nn.Parameter(torch.zeros(2)); PlainKerasAdam([p]); "
        "ctx = deterministic(); ctx.__enter__(); on = torch.are_deterministic_algorithms_enabled(); "
        "ctx.__exit__(None, None, None); "
        "print(on, torch.are_deterministic_algorithms_enabled(), 'torch._dynamo' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    # deterministic kernels inside the block, the previous mode after it, no compiler loaded
    assert out.stdout.split() == ["True", "False", "False"]


def test_keras_adam_epsilon_placement_on_a_tiny_gradient() -> None:
    torch = pytest.importorskip("torch")
    from backends.pytorch.train import KerasAdam

    # model.md 9: with g = 1e-6 one Keras step moves a weight by about 0.24 lr
    # (lr·sqrt(1-β2)/(1-β1) · 0.1g / (sqrt(0.001)·g + 1e-7)); stock torch Adam moves it ~0.99 lr
    p = torch.nn.Parameter(torch.zeros(1))
    opt = KerasAdam([p], lr=1e-3)
    p.grad = torch.full((1,), 1e-6)
    opt.step()
    expected = 1e-3 * math.sqrt(1 - 0.999) / (1 - 0.9) * (0.1e-6 / (math.sqrt(0.001) * 1e-6 + 1e-7))
    moved = -float(p.detach())
    assert moved == pytest.approx(expected, rel=1e-5)
    assert moved == pytest.approx(0.24e-3, rel=0.02)


def test_clipped_train_step_at_a_set_learning_rate_matches_the_oracle(backend) -> None:
    """train_step with gradient_clip_val after set_learning_rate: every gradient times
    ``min(c / (‖g‖ + 1e-6), 1)``, then one Keras Adam step at the new rate."""
    from backends.pytorch.train import (
        KerasAdam,
        LossWeights,
        set_learning_rate,
        to_tensor_batch,
        train_step,
    )

    cfg = ModelConfig()
    config = TrainingConfig(model=cfg)
    handle = backend.build(cfg, physics.default_probe(64), SCALE, seed=5)
    batch = _batch(cfg, seed=3)
    before = backend.export_weights(handle)
    grads = backend.loss_and_grads(handle, batch, config).grads
    norm = math.sqrt(sum(float(np.sum(np.float64(g) ** 2)) for g in grads.values()))
    max_norm = norm / 4  # the clip is active: every gradient is scaled by about 1/4
    coef = min(max_norm / (norm + 1e-6), 1.0)
    module = handle.module
    module.train()
    opt = KerasAdam(module.parameters(), lr=1e-3)
    set_learning_rate(opt, 5e-4)
    terms = train_step(
        module, opt, to_tensor_batch(batch, SCALE), LossWeights.from_config(config), max_norm
    )
    assert float(terms["total"]) > 0
    # the first moment is (1 - β1) times the clipped gradients, whose joint norm is max_norm
    moments = [opt.state[p]["m"].double() for p in module.parameters() if p in opt.state]
    m_norm = math.sqrt(sum(float((m * m).sum()) for m in moments))
    assert m_norm == pytest.approx(0.1 * norm * coef, rel=1e-4)
    after = backend.export_weights(handle)
    for name, g in grads.items():
        expected, _, _ = keras_adam_update(
            np.float64(before[name]), np.float64(g) * coef, 0.0, 0.0, 1, 5e-4
        )
        np.testing.assert_allclose(after[name], expected, rtol=1e-4, atol=1e-6, err_msg=name)


# ----------------------------------------------------------------------------- losses


def test_loss_terms_and_weights(backend) -> None:
    cfg = ModelConfig()
    handle = backend.build(cfg, physics.default_probe(64), SCALE, seed=2)
    batch = _batch(cfg)
    out = backend.forward(handle, batch).outputs
    y_amp = batch.X * np.float32(SCALE)
    nll = physics.poisson_nll(out["pred_intensity"], y_amp.astype(np.float64) ** 2)
    mae = physics.mae(out["pred_amp_scaled"], y_amp)
    res = backend.loss_and_grads(handle, batch, TrainingConfig(model=cfg))
    assert res.losses["nll"] == pytest.approx(nll, rel=2e-5)
    assert res.losses["mae"] == pytest.approx(mae, rel=2e-6)
    assert res.losses["realspace"] == 0.0  # both real-space sub-weights are zero
    assert res.losses["total"] == res.losses["nll"]  # 0·rs + 0·mae + 1·nll
    weighted = TrainingConfig(model=cfg, mae_weight=0.5, nll_weight=0.25)
    res = backend.loss_and_grads(handle, batch, weighted)
    assert res.losses["total"] == pytest.approx(0.5 * mae + 0.25 * nll, rel=2e-5)


def test_realspace_term_matches_the_oracle(backend) -> None:
    cfg = ModelConfig(gridsize=2, probe_big=False)
    handle = backend.build(cfg, physics.default_probe(64), SCALE, seed=3)
    batch = _batch(cfg)
    trimmed = backend.forward(handle, batch).outputs["trimmed_obj"]
    config = TrainingConfig(model=cfg, realspace_weight=1.0, realspace_mae_weight=0.5)
    res = backend.loss_and_grads(handle, batch, config)
    z = trimmed * physics.center_mask(64)[None, :, :, None]  # probe_big=False masks by Q
    target = physics.realspace_target(batch.Y_I, batch.positions)
    expected = 0.5 * physics.complex_mae(target, z)
    assert res.losses["realspace"] == pytest.approx(expected, rel=1e-5)
    assert res.losses["total"] == pytest.approx(expected + res.losses["nll"], rel=1e-5)
    with pytest.raises(ValueError, match="Y_I"):
        backend.loss_and_grads(handle, Batch(batch.X, batch.positions, None), config)


def test_gradients_by_canonical_name_drive_the_first_adam_step(backend) -> None:
    from backends import graph

    cfg = ModelConfig(probe_big=False)
    handle = backend.build(cfg, physics.default_probe(64), SCALE, seed=4)
    batch = _batch(cfg)
    config = TrainingConfig(model=cfg)
    before = backend.export_weights(handle)
    grads = backend.loss_and_grads(handle, batch, config).grads
    assert {k: v.shape for k, v in grads.items()} == graph.weight_shapes(cfg)
    steps = backend.train_steps(handle, [batch], config, learning_rate=1e-3)
    assert len(steps.step_losses) == 1 and steps.learning_rates == [1e-3]
    for name, g in grads.items():
        expected, _, _ = keras_adam_update(
            before[name].astype(np.float64), g.astype(np.float64), 0.0, 0.0, 1, 1e-3
        )
        np.testing.assert_allclose(
            steps.weights[name], expected, rtol=1e-5, atol=1e-8, err_msg=name
        )


def test_train_steps_are_deterministic(backend) -> None:
    cfg = ModelConfig(gridsize=2, probe_big=False)
    w = backend.export_weights(backend.build(cfg, physics.default_probe(64), SCALE, seed=5))
    batches = [_batch(cfg, 2, seed=s) for s in range(3)]
    config = TrainingConfig(model=cfg)
    runs = []
    for _ in range(2):
        handle = backend.build(cfg, physics.default_probe(64), SCALE, weights=w)
        runs.append(backend.train_steps(handle, batches, config))
    assert runs[0].step_losses == runs[1].step_losses
    for k in w:
        np.testing.assert_array_equal(runs[0].weights[k], runs[1].weights[k])
    import torch

    assert not torch.are_deterministic_algorithms_enabled()  # restored afterwards


# ----------------------------------------------------------------------------- Lightning


@pytest.fixture(scope="module")
def small_data():
    from backends.data import load_training_data, resolve_data

    cfg = TrainingConfig(
        model=ModelConfig(), train_data_file=resolve_data("builtin:lines-64-small"), n_groups=21
    )
    train, _ = load_training_data(cfg)
    return train


@pytest.mark.slow
def test_lightning_training_history_logging_and_determinism(backend, small_data, tmp_path) -> None:
    cfg = ModelConfig(probe_big=False)
    w = backend.export_weights(backend.build(cfg, small_data.probe, SCALE, seed=6))
    config = TrainingConfig(model=cfg, batch_size=8, nepochs=2, output_dir=tmp_path / "a")
    steps: list[tuple[int, float]] = []
    handle = backend.build(cfg, small_data.probe, SCALE, weights=w)
    res = backend.train(
        handle, small_data, config, seed=3, on_step=lambda i, t: steps.append((i, t["total"]))
    )
    # 21 groups: floor(0.95·21) = 19 train (batches 8, 8, 3), 2 validate
    assert len(res.step_loss) == 6 and [i for i, _ in steps] == list(range(6))
    assert [v for _, v in steps] == res.step_loss
    assert len(res.history["loss"]) == 2 and len(res.history["val_loss"]) == 2
    assert res.history["lr"] == [1e-3, 1e-3]
    sizes = [8, 8, 3]
    for e in range(2):
        mean = sum(v * n for v, n in zip(res.step_loss[3 * e : 3 * e + 3], sizes)) / 19
        assert res.history["loss"][e] == pytest.approx(mean, rel=1e-12)
    assert res.stopped_epoch is None
    with open(next((tmp_path / "a").rglob("metrics.csv"))) as f:
        rows = list(csv.DictReader(f))
    assert [float(r["loss"]) for r in rows if r.get("loss")] == pytest.approx(res.history["loss"])
    again = backend.train(
        backend.build(cfg, small_data.probe, SCALE, weights=w),
        small_data,
        TrainingConfig(model=cfg, batch_size=8, nepochs=2, output_dir=tmp_path / "b"),
        seed=3,
    )
    assert again.step_loss == res.step_loss
    for k, v in res.weights.items():
        np.testing.assert_array_equal(again.weights[k], v)


@pytest.mark.slow
def test_lightning_applies_keras_plateau_and_early_stopping(
    backend, small_data, tmp_path, monkeypatch
) -> None:
    import backends.training as training

    seen: list[float] = []

    class Halving(training.KerasPlateau):
        def update(self, value: float, lr: float) -> float:
            seen.append(value)
            return lr * 0.5

    class StopAtSecond(training.KerasEarlyStopping):
        def update(self, value: float) -> bool:
            super().update(value)
            return self.epoch == 1

    monkeypatch.setattr(training, "KerasPlateau", Halving)
    monkeypatch.setattr(training, "KerasEarlyStopping", StopAtSecond)
    cfg = ModelConfig(probe_big=False)
    handle = backend.build(cfg, small_data.probe, SCALE, seed=7)
    config = TrainingConfig(model=cfg, batch_size=16, nepochs=5, output_dir=tmp_path)
    res = backend.train(handle, small_data, config, seed=0)
    assert res.stopped_epoch == 1
    assert len(res.history["loss"]) == 2
    assert res.history["lr"] == [1e-3, 5e-4]  # the lr in force during each epoch
    assert seen == res.history["val_loss"]


@pytest.mark.slow
def test_execution_settings_reach_the_trainer(backend, small_data, tmp_path, monkeypatch) -> None:
    """Named execution settings (docs/config.md (e)) replace the reference behaviour; the
    others keep it (Adam at 1e-3, early-stopping patience 3, CSV log)."""
    import backends.training as training

    patiences: list[int] = []

    class Recording(training.KerasEarlyStopping):
        def __init__(self, patience: int = 3, min_delta: float = 0.0) -> None:
            patiences.append(patience)
            super().__init__(patience, min_delta)

    monkeypatch.setattr(training, "KerasEarlyStopping", Recording)
    cfg = ModelConfig(probe_big=False)
    w = backend.export_weights(backend.build(cfg, small_data.probe, SCALE, seed=2))

    def run(out: str, execution=None):
        config = TrainingConfig(model=cfg, batch_size=16, nepochs=1, output_dir=tmp_path / out)
        handle = backend.build(cfg, small_data.probe, SCALE, weights=w)
        res = backend.train(handle, small_data, config, seed=0, execution=execution)
        return res, max(float(np.max(np.abs(res.weights[k] - w[k]))) for k in w)

    plain, moved = run("plain")
    assert plain.history["lr"] == [1e-3] and patiences == [3]
    assert (tmp_path / "plain" / "logs" / "pytorch" / "version_0" / "metrics.csv").is_file()
    # 19 training groups in batches of 16 and 3: two Keras-Adam steps. The first moves a weight
    # by at most lr; the second by at most 1.0014 lr (the bound of (0.09 g1 + 0.1 g2) /
    # sqrt(0.000999 g1^2 + 0.001 g2^2) times sqrt(1 - 0.999^2) / (1 - 0.9^2), reached at
    # g2 = 1.11 g1); weights whose gradient keeps its sign move by about 2 lr
    assert 1.5e-3 < moved <= 2.0014e-3 * (1 + 1e-5)

    named, _ = run(
        "named", {"learning_rate": 5e-4, "early_stop_patience": 7, "logger_backend": None}
    )
    assert named.history["lr"] == [5e-4] and patiences[-1] == 7
    assert not (tmp_path / "named" / "logs").exists()

    _, accumulated = run("accumulated", {"accum_steps": 2})
    assert accumulated <= 1e-3 * (1 + 1e-5)  # both batches feed one optimizer step

    _, clipped = run("clipped", {"gradient_clip_val": 1e-9})
    # a gradient of norm 1e-9 is far below Adam's epsilon (1e-7): the steps shrink ~100x
    assert clipped < 0.05 * moved

    with pytest.raises(ValueError, match="num_workers=2 is not supported by the PyTorch trainer"):
        run("refused", {"num_workers": 2})


def test_torch_loss_mode_mae_must_match_the_loss_weights(backend, small_data, tmp_path) -> None:
    """The loss is the weighted sum of physics.md 10: torch_loss_mode='mae' is honoured only
    when the weights say the same (no Poisson term), never silently ignored."""
    cfg = ModelConfig(probe_big=False)
    handle = backend.build(cfg, small_data.probe, SCALE, seed=0)
    config = TrainingConfig(
        model=cfg, batch_size=16, nepochs=1, output_dir=tmp_path, torch_loss_mode="mae"
    )
    with pytest.raises(
        ValueError, match=r"torch_loss_mode='mae'.*nll_weight=1\.0.*set nll_weight=0"
    ):
        backend.train(handle, small_data, config)
    with pytest.raises(ValueError, match="torch_loss_mode='mae'"):
        backend.train_steps(handle, [_batch(cfg)], config)
    consistent = TrainingConfig(
        model=cfg,
        batch_size=16,
        nepochs=1,
        output_dir=tmp_path,
        torch_loss_mode="mae",
        nll_weight=0.0,
        mae_weight=1.0,
    )
    (terms,) = backend.train_steps(handle, [_batch(cfg)], consistent).step_losses
    assert terms["total"] == pytest.approx(terms["mae"], rel=1e-6) and terms["nll"] != 0
