"""Keras callback semantics, the Keras Adam step, shuffling and batching (model.md section 9)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from backends.training import (
    KerasEarlyStopping,
    KerasPlateau,
    batch_slices,
    epoch_permutation,
    keras_adam_update,
)

# ---------------------------------------------------------------- epoch permutation


def test_epoch_permutation_is_a_permutation_and_deterministic() -> None:
    p = epoch_permutation(100, 3, 7)
    assert sorted(p.tolist()) == list(range(100))
    np.testing.assert_array_equal(p, epoch_permutation(100, 3, 7))


def test_epoch_permutation_changes_with_epoch_and_seed() -> None:
    base = epoch_permutation(50, 0, 1)
    assert not np.array_equal(base, epoch_permutation(50, 1, 1))
    assert not np.array_equal(base, epoch_permutation(50, 0, 2))


def test_epoch_permutation_independent_of_history() -> None:
    # computing epoch 5 first or after epochs 0..4 gives the same order
    direct = epoch_permutation(30, 5, 11)
    for e in range(5):
        epoch_permutation(30, e, 11)
    np.testing.assert_array_equal(direct, epoch_permutation(30, 5, 11))


def test_epoch_permutation_rejects_negative() -> None:
    with pytest.raises(ValueError, match="n=-1"):
        epoch_permutation(-1, 0, 0)
    with pytest.raises(ValueError, match="epoch"):
        epoch_permutation(3, -1, 0)


# ---------------------------------------------------------------- batching


def test_batch_slices_keeps_last_partial_batch() -> None:
    slices = batch_slices(35, 16)
    assert [(s.start, s.stop) for s in slices] == [(0, 16), (16, 32), (32, 35)]


def test_batch_slices_exact_multiple_and_empty() -> None:
    assert [(s.start, s.stop) for s in batch_slices(32, 16)] == [(0, 16), (16, 32)]
    assert batch_slices(0, 16) == []
    with pytest.raises(ValueError, match="batch_size"):
        batch_slices(10, 0)


@given(n=st.integers(0, 500), bs=st.integers(1, 64))
def test_batch_slices_cover_every_index_once(n: int, bs: int) -> None:
    covered = [i for s in batch_slices(n, bs) for i in range(n)[s]]
    assert covered == list(range(n))
    assert len(batch_slices(n, bs)) == math.ceil(n / bs)


# ---------------------------------------------------------------- ReduceLROnPlateau


def test_plateau_lr_path_by_hand() -> None:
    # constant val_loss: epoch 0 sets best; then wait 1, 2 -> reduce (wait reset), 1, 2 -> reduce...
    plateau = KerasPlateau()
    lr = 1e-3
    path = [lr]
    for _ in range(12):
        lr = plateau.update(1.0, lr)
        path.append(lr)
    # epochs:        0     1     2       3     4       5     6        7     8      9..
    expected = [
        1e-3,
        1e-3,
        1e-3,
        5e-4,
        5e-4,
        2.5e-4,
        2.5e-4,
        1.25e-4,
        1.25e-4,
        1e-4,
        1e-4,
        1e-4,
        1e-4,
    ]
    assert path == pytest.approx(expected, rel=0, abs=1e-15)
    # at min_lr no further reduction, wait keeps counting
    assert plateau.wait >= 2


def test_plateau_absolute_min_delta() -> None:
    plateau = KerasPlateau(min_delta=1e-4)
    plateau.update(1.0, 1e-3)
    # 1.0 - 0.00005 is not an improvement by more than 1e-4 (absolute): counts as a bad epoch
    plateau.update(1.0 - 5e-5, 1e-3)
    assert plateau.wait == 1
    assert plateau.best == 1.0
    # 1.0 - 2e-4 improves on best - min_delta
    plateau.update(1.0 - 2e-4, 1e-3)
    assert plateau.wait == 0
    assert plateau.best == pytest.approx(1.0 - 2e-4)


def test_plateau_reduces_at_patience_not_after() -> None:
    """Keras reduces when wait >= patience; torch's built-in waits for bad epochs > patience."""
    plateau = KerasPlateau(patience=2)
    lr = plateau.update(1.0, 1e-3)  # best
    lr = plateau.update(1.0, lr)  # wait 1
    assert lr == 1e-3
    lr = plateau.update(1.0, lr)  # wait 2 -> reduce now (torch-style would reduce one epoch later)
    assert lr == 5e-4
    assert plateau.wait == 0


def test_plateau_torch_style_would_differ() -> None:
    """At a loss of 0.01 a drop of 5e-5 is an improvement under torch's default relative rule
    (threshold 0.01 * 1e-4 = 1e-6) but not under Keras' absolute min_delta of 1e-4."""
    plateau = KerasPlateau()
    plateau.update(0.01, 1e-3)
    plateau.update(0.01 - 5e-5, 1e-3)
    assert plateau.wait == 1  # absolute: not an improvement
    torch_rel_improves = (0.01 - 5e-5) < 0.01 * (1 - 1e-4)
    assert torch_rel_improves


def test_plateau_improvement_resets_wait() -> None:
    plateau = KerasPlateau()
    lr = 1e-3
    for value in (1.0, 1.0, 0.5, 0.5, 0.5):
        lr = plateau.update(value, lr)
    # 1.0 best; 1.0 wait 1; 0.5 best wait 0; 0.5 wait 1; 0.5 wait 2 -> reduce
    assert lr == 5e-4


def test_plateau_cooldown() -> None:
    plateau = KerasPlateau(patience=1, cooldown=2)
    lr = plateau.update(1.0, 1e-3)
    lr = plateau.update(1.0, lr)  # wait 1 >= 1 -> 5e-4, cooldown 2
    assert lr == 5e-4
    lr = plateau.update(1.0, lr)  # cooldown 2 -> 1: in cooldown, no count
    lr = plateau.update(1.0, lr)  # cooldown 1 -> 0: counts, wait 1 -> reduce
    assert lr == 2.5e-4


def test_plateau_rejects_bad_factor() -> None:
    with pytest.raises(ValueError, match="factor"):
        KerasPlateau(factor=1.5)


# ---------------------------------------------------------------- EarlyStopping


def test_early_stopping_patience_three() -> None:
    stop = KerasEarlyStopping()
    decisions = [stop.update(v) for v in (1.0, 0.9, 0.9, 0.95, 0.91)]
    # 1.0 best, 0.9 best, then three epochs without a strict improvement -> stop on the third
    assert decisions == [False, False, False, False, True]


def test_early_stopping_min_delta_zero_requires_strict_decrease() -> None:
    stop = KerasEarlyStopping(patience=1)
    assert stop.update(1.0) is False
    assert stop.update(1.0) is True  # equal is not an improvement


def test_early_stopping_never_stops_on_first_epoch() -> None:
    stop = KerasEarlyStopping(patience=0)
    assert stop.update(float("nan")) is False  # epoch 0
    assert stop.update(float("nan")) is True


# ---------------------------------------------------------------- Adam


def test_keras_adam_first_step_by_hand() -> None:
    g = np.array([1e-6, 0.5, -2.0])
    p, m, v = keras_adam_update(np.zeros(3), g, np.zeros(3), np.zeros(3), 1, 1e-3)
    # step 1: m = 0.1 g, v = 0.001 g^2, alpha = lr sqrt(0.001)/0.1
    alpha = 1e-3 * math.sqrt(0.001) / 0.1
    expected = -alpha * (0.1 * g) / (np.sqrt(0.001 * g * g) + 1e-7)
    np.testing.assert_allclose(p, expected, rtol=1e-12)
    np.testing.assert_allclose(m, 0.1 * g)
    np.testing.assert_allclose(v, 0.001 * g * g)
    # model.md section 9: with a 1e-6 gradient one Keras step moves the weight by ~0.24 lr
    assert abs(p[0]) / 1e-3 == pytest.approx(0.24, abs=0.01)
    # a large gradient moves it by ~lr
    assert abs(p[1]) / 1e-3 == pytest.approx(1.0, abs=1e-3)


def test_keras_adam_differs_from_torch_form_for_tiny_grads() -> None:
    g = np.array([1e-6])
    p_keras, _, _ = keras_adam_update(np.zeros(1), g, np.zeros(1), np.zeros(1), 1, 1e-3)
    # torch: lr/(1-b1) * m / (sqrt(v)/sqrt(1-b2) + 1e-8)
    m, v = 0.1 * g, 0.001 * g * g
    p_torch = -1e-3 / 0.1 * m / (np.sqrt(v) / math.sqrt(0.001) + 1e-8)
    assert abs(p_torch[0]) / 1e-3 == pytest.approx(0.99, abs=0.01)
    assert abs(p_keras[0]) < 0.3 * abs(p_torch[0])


def test_keras_adam_does_not_modify_inputs_and_rejects_t0() -> None:
    p0, m0, v0 = np.ones(2), np.zeros(2), np.zeros(2)
    keras_adam_update(p0, np.ones(2), m0, v0, 1, 1e-3)
    assert (p0 == 1).all() and (m0 == 0).all() and (v0 == 0).all()
    with pytest.raises(ValueError, match="t=0"):
        keras_adam_update(p0, np.ones(2), m0, v0, 0, 1e-3)


@given(
    g=st.lists(st.floats(-10, 10, allow_nan=False), min_size=1, max_size=5),
    steps=st.integers(1, 6),
)
def test_keras_adam_constant_gradient_closed_form(g: list[float], steps: int) -> None:
    """With a constant gradient, m_t = g(1-b1^t) and v_t = g^2(1-b2^t), so step t moves the
    weight by exactly lr * g / (|g| + eps / sqrt(1-b2^t))."""
    grad = np.array(g)
    p, m, v = np.zeros_like(grad), np.zeros_like(grad), np.zeros_like(grad)
    expected = np.zeros_like(grad)
    for t in range(1, steps + 1):
        p, m, v = keras_adam_update(p, grad, m, v, t, 1e-3)
        expected -= 1e-3 * grad / (np.abs(grad) + 1e-7 / math.sqrt(1 - 0.999**t))
    np.testing.assert_allclose(m, grad * (1 - 0.9**steps), rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(v, grad**2 * (1 - 0.999**steps), rtol=1e-10, atol=1e-300)
    np.testing.assert_allclose(p, expected, rtol=1e-9, atol=1e-18)
