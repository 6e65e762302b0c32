"""The equivalence test of the convergence check, against hand-computed values."""

from __future__ import annotations

import math

import pytest

from parity.checks.convergence import tost_welch


def test_identical_samples_are_equivalent_within_any_margin() -> None:
    eq = tost_welch([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], margin=0.5, alpha=0.05)
    assert eq.diff == 0.0
    # se = sqrt(1/3 + 1/3), df = (2/3)^2 / (2 * (1/3)^2 / 2) = 4, t_{0.95,4} = 2.131847
    half = 2.131847 * math.sqrt(2 / 3)
    assert eq.low == pytest.approx(-half, rel=1e-5) and eq.high == pytest.approx(half, rel=1e-5)
    assert eq.bound > 0.5  # three noisy seeds cannot prove a margin of 0.5
    assert tost_welch([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], margin=2.0, alpha=0.05).bound < 2.0


def test_shifted_distribution_is_not_equivalent() -> None:
    a = [10.0, 10.1, 9.9, 10.05, 9.95]
    b = [11.0, 11.1, 10.9, 11.05, 10.95]
    eq = tost_welch(a, b, margin=0.5, alpha=0.05)
    assert eq.diff == pytest.approx(1.0)
    assert eq.low > 0.5 and eq.p_tost > 0.05


def test_zero_variance_uses_the_difference_itself() -> None:
    eq = tost_welch([1.0, 1.0], [1.2, 1.2], margin=0.5, alpha=0.05)
    assert eq.low == eq.high == pytest.approx(0.2) and eq.p_tost == 0.0
