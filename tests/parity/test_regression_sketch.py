"""The regression guard on slim baselines: sketches see rolls, transposes, flips and sign
changes, and let float32 rounding through."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parity import sketch
from parity.checks.regression import compare_baseline
from parity.tolerances import Registry
from parity.trace import Trace, TraceWriter, slim, summarize
from tests.parity.helpers import fake_scenario

RTOL = 1e-5  # the [regression] entry of parity/tolerances.toml (scaled mode)


def _object(complex_valued: bool = False) -> np.ndarray:
    """A smooth, asymmetric (B, N, N, 1) tensor: an off-centre blob on a ramp."""
    yy, xx = np.mgrid[:64, :64].astype(np.float64)
    blob = np.exp(-((yy - 25.0) ** 2 + (xx - 38.0) ** 2) / 150.0) * (1.0 + 0.01 * xx)
    stack = np.stack([blob, 0.5 * blob.T + 0.2 * blob])[..., None]
    if complex_valued:
        return (stack * np.exp(1j * (0.03 * yy - 0.02 * xx))[None, ..., None]).astype(np.complex64)
    return stack.astype(np.float32)


def _rounding_noise(x: np.ndarray, seed: int = 0) -> np.ndarray:
    """``x`` with a random half of its elements moved to the next float32 (one ulp)."""
    rng = np.random.default_rng(seed)
    flat = x.view(np.float32).copy()  # complex64: real and imaginary parts are float32s
    pick = rng.random(flat.shape) < 0.5
    flat[pick] = np.nextafter(flat[pick], np.float32(np.inf))
    return flat.view(x.dtype)


SHAPE_ERRORS = {
    "rolled one pixel": lambda x: np.roll(x, 1, axis=2),
    "transposed": lambda x: np.swapaxes(x, 1, 2),
    "flipped": lambda x: x[:, ::-1],
    "sign changed": lambda x: -x,
}


def _verdict(now: np.ndarray, base: np.ndarray) -> dict:
    return sketch.compare(summarize(now), summarize(base), rtol=RTOL, atol=0.0, mode="scaled")


@pytest.mark.parametrize("complex_valued", [False, True])
@pytest.mark.parametrize("error", sorted(SHAPE_ERRORS))
def test_shape_errors_fail_although_norm_and_max_are_unchanged(
    error: str, complex_valued: bool
) -> None:
    base = _object(complex_valued)
    now = SHAPE_ERRORS[error](base)
    before, after = summarize(base), summarize(now)
    assert after["l2"] == pytest.approx(before["l2"], rel=1e-6)  # what the old guard compared
    assert after["max_abs"] == pytest.approx(before["max_abs"], rel=1e-6)
    got = _verdict(now, base)
    assert not got["ok"], got["evidence"]
    # the estimate tracks the true relative change within the chi-square bounds
    true = np.linalg.norm((now - base).astype(np.complex128)) / np.linalg.norm(base)
    assert sketch.Q_LO <= got["rel_change"] / true <= sketch.Q_HI


@pytest.mark.parametrize("complex_valued", [False, True])
def test_float32_rounding_passes(complex_valued: bool) -> None:
    base = _object(complex_valued)
    now = _rounding_noise(base)
    assert not np.array_equal(now, base)
    got = _verdict(now, base)
    assert got["ok"], got["evidence"]
    assert got["ratio"] < 0.05


def test_quantiles_are_those_of_chi_square() -> None:
    stats = pytest.importorskip("scipy.stats")
    k = sketch.PROJECTIONS
    assert math.isclose(sketch.Q_HI, math.sqrt(stats.chi2(k).ppf(1 - 1e-6) / k), abs_tol=1e-4)
    assert math.isclose(sketch.Q_LO, math.sqrt(stats.chi2(k).ppf(1e-6) / k), abs_tol=1e-4)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), fraction=st.floats(0.0, 1.0))
def test_any_change_within_the_element_tolerance_passes(seed: int, fraction: float) -> None:
    """Uniform noise up to ``fraction`` of the element bound ``rtol max|b|`` everywhere."""
    rng = np.random.default_rng(seed)
    base = rng.standard_normal((4, 16, 16, 2))
    bound = RTOL * np.abs(base).max()
    now = base + fraction * bound * rng.choice([-1.0, 1.0], base.shape)
    assert _verdict(now, base)["ok"]


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_a_change_far_above_the_bound_fails(seed: int) -> None:
    """A change with ``||d|| = 7 L`` (above ``Q_HI / Q_LO = 6.3``) is always seen."""
    rng = np.random.default_rng(seed)
    base = rng.standard_normal((4, 16, 16, 2))
    bound_l2 = math.sqrt(base.size) * RTOL * np.abs(base).max()
    d = rng.standard_normal(base.shape)
    now = base + 7.0 * bound_l2 * d / np.linalg.norm(d)
    assert not _verdict(now, base)["ok"]


def test_block_means_by_hand() -> None:
    x = np.arange(16, dtype=np.float64).reshape(4, 4)
    assert sketch.thumb_grid((4, 4), limit=4) == [2, 2]
    np.testing.assert_array_equal(sketch.block_means(x, [2, 2]), [[2.5, 4.5], [10.5, 12.5]])
    assert sketch.thumb_grid((2, 64, 64, 1)) == [2, 8, 8, 1]
    assert sketch.thumb_grid((3,), limit=1) == [1]


def test_projections_are_fixed_and_linear() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal(200_000), rng.standard_normal(200_000)  # several chunks
    np.testing.assert_allclose(
        sketch.projections(2 * a - b), 2 * sketch.projections(a) - sketch.projections(b)
    )
    np.testing.assert_array_equal(sketch.projections(a), sketch.projections(a.copy()))
    z = a + 1j * b
    np.testing.assert_allclose(
        sketch.projections(z), sketch.projections(a) + 1j * sketch.projections(b)
    )


def test_nonfinite_elements_are_counted() -> None:
    base = _object()
    now = base.copy()
    now[0, 3, 3, 0] = np.nan
    got = _verdict(now, base)
    assert not got["ok"] and "non-finite" in got["evidence"]


# ------------------------------------------------------------------ through traces and baselines


def _trace(path: Path, obj: np.ndarray) -> Path:
    with TraceWriter(path, "fake-reference", fake_scenario(checks=["forward", "regression"])) as w:
        w.put("forward/outputs", "trimmed_obj", obj)
        w.put("forward/outputs", "small", np.arange(4, dtype=np.float32))
        w.record_section("forward", status="ok", seconds=0.1)
    return path


def _regression(tmp_path: Path, now: np.ndarray, base: np.ndarray) -> list:
    baseline = slim(_trace(tmp_path / "full.h5", base), tmp_path / "base.h5", max_elements=100)
    current = _trace(tmp_path / "now.h5", now)
    with Trace(current) as c, Trace(baseline) as b:
        assert b.is_summary("forward/outputs", "trimmed_obj")
        findings = list(compare_baseline(c, b, Registry.load()))
    return [f for f in findings if f.tensor.endswith("trimmed_obj") or f.verdict != "pass"]


@pytest.mark.parametrize("error", sorted(SHAPE_ERRORS))
def test_regression_check_fails_shape_errors_against_a_slim_baseline(
    tmp_path: Path, error: str
) -> None:
    base = _object(complex_valued=True)
    failing = [
        f for f in _regression(tmp_path, SHAPE_ERRORS[error](base), base) if f.verdict == "fail"
    ]
    assert [f.tensor for f in failing] == ["forward/outputs/trimmed_obj"]
    assert "projections" in failing[0].evidence and failing[0].measured > 1


def test_regression_check_passes_rounding_against_a_slim_baseline(tmp_path: Path) -> None:
    base = _object(complex_valued=True)
    assert all(f.verdict == "pass" for f in _regression(tmp_path, _rounding_noise(base), base))


def test_old_baseline_without_sketch_says_to_re_record(tmp_path: Path) -> None:
    import json

    import h5py

    base = _object()
    baseline = slim(_trace(tmp_path / "full.h5", base), tmp_path / "base.h5", max_elements=100)
    with h5py.File(baseline, "r+") as f:
        ds = f["tensors/forward/outputs/trimmed_obj"]
        summary = json.loads(ds.attrs["parity_summary"])
        del summary["sketch"]
        ds.attrs["parity_summary"] = json.dumps(summary)
    current = _trace(tmp_path / "now.h5", base * np.float32(1.5))
    with Trace(current) as c, Trace(baseline) as b:
        failing = [f for f in compare_baseline(c, b, Registry.load()) if f.verdict == "fail"]
    assert failing and "re-record" in failing[0].evidence
