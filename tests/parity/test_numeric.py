"""The tensor comparison: counts, worst elements and messages against hand-derived values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from parity import numeric
from parity.numeric import compare, mask_from
from parity.tolerances import Tolerance

DEFAULT = Tolerance()
SCALED = Tolerance(rtol=1e-5, atol=0.0, mode="scaled", key="canvas")
EXACT = Tolerance(rtol=0.0, atol=0.0, mode="exact", key="exact")


def test_one_element_over_the_tolerance_is_named_with_its_index() -> None:
    ref = np.zeros((4, 64, 64), np.float32)
    cand = ref.copy()
    cand[0, 12, 7] = 2.1e-5  # allowed: atol 1e-5 + rtol * 0
    cand[1, 2, 3] = 9e-6  # within atol
    cmp = compare(cand, ref, DEFAULT)
    assert not cmp.ok
    assert cmp.mismatched == 1 and cmp.total == 16384
    assert cmp.max_abs_index == (0, 12, 7)
    assert cmp.max_abs == pytest.approx(2.1e-5, rel=1e-6)
    assert cmp.allowed == pytest.approx(1e-5)
    assert cmp.margin == pytest.approx((1e-5 - 2.1e-5) / 1e-5, rel=1e-5)
    msg = cmp.message()
    assert msg.startswith("Mismatched elements: 1 / 16384 (0.0%)")
    assert "greatest absolute difference 2.1e-05 at index (0, 12, 7) (up to 1e-05 allowed)" in msg
    assert "greatest relative difference inf at index (0, 12, 7)" in msg


def test_relative_part_of_the_tolerance() -> None:
    ref = np.full(10, 100.0, np.float32)
    cand = ref.copy()
    cand[3] += np.float32(1e-4)  # allowed 1e-5 + 1.3e-6 * 100 = 1.4e-4
    cand[7] += np.float32(2e-4)
    cmp = compare(cand, ref, DEFAULT)
    assert cmp.mismatched == 1
    assert cmp.worst_index == (7,)
    assert cmp.allowed == pytest.approx(1e-5 + 1.3e-6 * 100, rel=1e-6)


def test_scaled_mode_is_relative_to_the_largest_reference_value() -> None:
    ref = np.array([1000.0, 1e-3, 0.0], np.float64)
    cand = ref + np.array([0.0, 5e-3, 9e-3])  # allowed 1e-5 * 1000 = 1e-2 everywhere
    cmp = compare(cand, ref, SCALED)
    assert cmp.ok and cmp.scale == 1000.0
    cand[2] = 0.011
    cmp = compare(cand, ref, SCALED)
    assert not cmp.ok and cmp.mismatched == 1 and cmp.worst_index == (2,)
    assert "of max|ref| = 1e+03" in cmp.message()


def test_complex_differences_use_the_modulus() -> None:
    ref = np.array([3 + 4j, 1j], np.complex64)
    cand = ref + np.array([3e-6 + 4e-6j, 0], np.complex64)  # |d| = 5e-6 <= 1e-5 + 1.3e-6*5
    assert compare(cand, ref, DEFAULT).ok
    cand[1] += 2e-5
    cmp = compare(cand, ref, DEFAULT)
    assert cmp.mismatched == 1 and cmp.max_abs_index == (1,)


def test_nan_is_a_mismatch_unless_equal_nan() -> None:
    ref = np.array([1.0, np.nan, 3.0])
    cand = np.array([1.0, np.nan, 3.0])
    cmp = compare(cand, ref, DEFAULT)
    assert not cmp.ok and math.isnan(cmp.max_abs) and cmp.margin == -math.inf
    assert compare(cand, ref, Tolerance(equal_nan=True)).ok


def test_exact_mode_and_integer_arrays() -> None:
    a = np.arange(10, dtype=np.int64)
    assert compare(a, a.copy(), EXACT).ok
    b = a.copy()
    b[4] += 1
    cmp = compare(b, a, EXACT)
    assert not cmp.ok and cmp.mismatched == 1 and cmp.max_abs_index == (4,)
    assert compare(np.float32(1.0) + np.float32(1e-7), np.float32(1.0), EXACT).ok is False


def test_shape_mismatch_fails_with_both_shapes() -> None:
    cmp = compare(np.zeros((2, 3)), np.zeros((3, 2)), DEFAULT)
    assert not cmp.ok and "(2, 3)" in cmp.message() and "(3, 2)" in cmp.message()


def test_cyclic_differences_wrap_around_pi() -> None:
    tol = Tolerance(rtol=0.0, atol=1e-3, cyclic=True)
    ref = np.array([math.pi - 1e-4, 0.5])
    cand = np.array([-math.pi + 1e-4, 0.5])  # 2e-4 apart on the circle
    cmp = compare(cand, ref, tol)
    assert cmp.ok and cmp.max_abs == pytest.approx(2e-4, abs=1e-9)


def test_masked_elements_are_ignored_and_counted() -> None:
    ref = np.array([1.0, 1.0, 1.0])
    cand = np.array([1.0, 5.0, 1.0])
    where = np.array([True, False, True])
    cmp = compare(cand, ref, DEFAULT, where=where)
    assert cmp.ok and cmp.masked == 1
    mask = mask_from(np.array([1.0, 0.005, 0.5]), 0.01)
    assert mask is not None and mask.tolist() == [True, False, True]


def test_real_against_complex_is_compared_as_complex_with_a_note() -> None:
    cmp = compare(np.ones(4, np.float32), np.ones(4, np.complex64), DEFAULT)
    assert cmp.ok and "compared as complex" in cmp.message()


def test_histogram_counts_every_element() -> None:
    ref = np.zeros(1000)
    cand = np.zeros(1000)
    cand[:10] = 1e-6
    cmp = compare(cand, ref, DEFAULT, histogram=True)
    assert cmp.histogram is not None
    assert sum(cmp.histogram["counts"]) == 10 and cmp.histogram["zeros"] == 990


@given(
    arrays=hnp.arrays(
        np.float32,
        st.integers(1, 3000),
        elements=st.floats(-1e3, 1e3, width=32, allow_nan=False),
    ),
    perturb=st.floats(-1e-3, 1e-3),
    chunk=st.sampled_from([7, 64, 1 << 18]),
)
def test_mismatch_count_agrees_with_a_direct_computation(
    arrays: np.ndarray, perturb: float, chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(numeric, "CHUNK", chunk)
    ref = arrays
    cand = (ref + np.float32(perturb) * np.linspace(0, 1, ref.size, dtype=np.float32)).astype(
        np.float32
    )
    cmp = compare(cand, ref, DEFAULT)
    diff = np.abs(cand.astype(np.float32) - ref)
    expected = int(np.count_nonzero(diff > np.float32(1e-5) + np.float32(1.3e-6) * np.abs(ref)))
    assert cmp.mismatched == expected
    assert cmp.ok == (expected == 0)
    assert cmp.max_abs == pytest.approx(float(diff.max()), rel=1e-6, abs=1e-12)
    assert compare(ref, ref.copy(), DEFAULT).ok
