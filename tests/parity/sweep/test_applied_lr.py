"""The learning rate each Adam step applied, measured from weight changes and gradients, against
Adam written independently (bias-corrected moments, the textbook form) in float32."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from parity.numeric import applied_learning_rates


def _adam(weights, grads, rates, eps=1e-7, b1=0.9, b2=0.999):
    """Snapshots of float32 weights through Adam steps with per-step learning rates; the Keras
    epsilon sits outside the bias-corrected sqrt(v): eps_hat = eps / sqrt(1 - b2^t)."""
    snaps = [weights]
    m = {k: np.zeros_like(v, dtype=np.float64) for k, v in weights.items()}
    s = {k: np.zeros_like(v, dtype=np.float64) for k, v in weights.items()}
    current = dict(weights)
    for t, (g, lr) in enumerate(zip(grads, rates), start=1):
        nxt = {}
        for k in current:
            m[k] = b1 * m[k] + (1 - b1) * g[k]
            s[k] = b2 * s[k] + (1 - b2) * g[k] ** 2
            m_hat, s_hat = m[k] / (1 - b1**t), s[k] / (1 - b2**t)
            step = lr * m_hat / (np.sqrt(s_hat) + eps / np.sqrt(1 - b2**t))
            nxt[k] = (current[k] - step).astype(np.float32)
        snaps.append(nxt)
        current = nxt
    return snaps


@given(
    seed=st.integers(0, 2**31),
    steps=st.integers(1, 4),
    lr=st.floats(1e-5, 1e-2),
    scale=st.floats(1e-6, 1.0),
)
def test_recovers_each_steps_rate(seed: int, steps: int, lr: float, scale: float) -> None:
    rng = np.random.default_rng(seed)
    weights = {
        "a.kernel": rng.uniform(-0.3, 0.3, (3, 3, 4, 8)).astype(np.float32),
        "a.bias": rng.uniform(-0.05, 0.05, 8).astype(np.float32),
    }
    grads = [{k: rng.normal(0.0, scale, v.shape) for k, v in weights.items()} for _ in range(steps)]
    rates = [lr] * steps
    got = applied_learning_rates(_adam(weights, grads, rates), grads)
    assert len(got) == steps
    np.testing.assert_allclose(got, rates, rtol=2e-3)


def test_a_step_at_another_rate_is_seen_at_that_step() -> None:
    rng = np.random.default_rng(0)
    weights = {"k": rng.uniform(-0.3, 0.3, (64, 64)).astype(np.float32)}
    grads = [{"k": rng.normal(0.0, 1e-2, (64, 64))} for _ in range(3)]
    got = applied_learning_rates(_adam(weights, grads, [1e-3, 3e-4, 1e-3]), grads)
    np.testing.assert_allclose(got, [1e-3, 3e-4, 1e-3], rtol=2e-3)
