"""PyTorch ops (float32 / complex64) against the float64 oracle and hand-derived values.

Needs PyTorch only: this module never imports TensorFlow (checked below in a subprocess).

Tolerances, each relative to the largest magnitude of the reference (``scale``):

| op | tolerance | reason |
|---|---|---|
| translate, extract, stitch, smoothing | 2e-6 · scale | float32 weights and four products summed in float32 (≤ a few ulp) |
| merge | 2e-5 · max|canvas| | uncovered pixels are divided by 0.001 (×1000), physics.md 8.1 says compare to the maximum |
| diffract | 1e-5 · max A | float32 FFT (physics.md 3) |
| combine, illuminate | 1e-6 · scale | one float32 product / trig call per element |
| losses | rtol 1e-5 | float32 reduction over up to ~10⁴ elements |
| integer shifts, pad/trim, layout moves | exact | no arithmetic besides multiplying by 1 and adding 0 |
"""

from __future__ import annotations

import inspect
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from backends import physics
from backends.base import OP_NAMES, Ops

pytestmark = pytest.mark.pytorch


@pytest.fixture(scope="module")
def ops():
    pytest.importorskip("torch")
    from backends.pytorch.ops import NUMPY_OPS

    return NUMPY_OPS


def _close(actual: np.ndarray, expected: np.ndarray, rel: float) -> None:
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    scale = max(float(np.max(np.abs(expected))) if expected.size else 0.0, 1e-30)
    err = float(np.max(np.abs(actual - expected))) if expected.size else 0.0
    assert err <= rel * scale, f"max error {err:.3e} > {rel:.1e} * {scale:.3e}"


def _field(rng: np.random.Generator, shape: tuple[int, ...], complex_: bool) -> np.ndarray:
    x = rng.normal(size=shape).astype(np.float32)
    if complex_:
        return (x + 1j * rng.normal(size=shape)).astype(np.complex64)
    return x


# ----------------------------------------------------------------------------- surface


@pytest.mark.parametrize("name", OP_NAMES)
def test_every_op_has_the_protocol_signature(ops, name: str) -> None:
    fn = getattr(ops, name)
    protocol = list(inspect.signature(getattr(Ops, name)).parameters)[1:]
    assert list(inspect.signature(fn).parameters) == protocol


def test_the_backend_imports_without_tensorflow() -> None:
    pytest.importorskip("torch")
    code = (
        "import sys; import backends.pytorch.adapter, backends.pytorch.ops, "
        "backends.pytorch.train, backends.pytorch.persistence, backends.pytorch.infer; "
        "sys.exit(1 if any(m in sys.modules for m in ('tensorflow', 'keras')) else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


# ----------------------------------------------------------------------------- translation


def _shift_with_zero_fill(image: np.ndarray, tx: int, ty: int) -> np.ndarray:
    """``out[i, j] = image[i - ty, j - tx]`` inside the frame, 0 outside (independent loop)."""
    out = np.zeros_like(image)
    H, W = image.shape[:2]
    for i in range(H):
        for j in range(W):
            if 0 <= i - ty < H and 0 <= j - tx < W:
                out[i, j] = image[i - ty, j - tx]
    return out


@given(
    st.integers(1, 3),
    st.integers(1, 12),
    st.integers(1, 12),
    st.integers(1, 2),
    st.booleans(),
    st.integers(0, 2**31 - 1),
)
def test_integer_shifts_are_exact(ops, B, H, W, C, complex_, seed) -> None:
    rng = np.random.default_rng(seed)
    images = _field(rng, (B, H, W, C), complex_)
    shifts = rng.integers(-14, 15, size=(B, 2))
    out = ops.translate(images, shifts.astype(np.float32))
    for b in range(B):
        expected = _shift_with_zero_fill(images[b], int(shifts[b, 0]), int(shifts[b, 1]))
        np.testing.assert_array_equal(out[b], expected)


def test_sub_pixel_hand_values() -> None:
    pytest.importorskip("torch")
    from backends.pytorch.ops import NUMPY_OPS

    img = np.arange(1.0, 10.0, dtype=np.float32).reshape(1, 3, 3, 1)
    out = NUMPY_OPS.translate(img, np.array([[0.25, 0.5]], np.float32))[0, :, :, 0]
    # pixel (y=1, x=1) samples (x=0.75, y=0.5): 0.125·1 + 0.375·2 + 0.125·4 + 0.375·5
    assert out[1, 1] == pytest.approx(0.125 * 1 + 0.375 * 2 + 0.125 * 4 + 0.375 * 5, rel=1e-6)
    # pixel (0, 0) samples (-0.25, -0.5): only the corner (0, 0) is inside, weight 0.75·0.5
    assert out[0, 0] == pytest.approx(0.75 * 0.5 * 1.0, rel=1e-6)


def test_nearest_interpolation_is_refused() -> None:
    torch = pytest.importorskip("torch")
    from backends.pytorch import ops as tops

    with pytest.raises(ValueError, match="bilinear"):
        tops.translate(torch.zeros(1, 1, 4, 4), torch.zeros(1, 2), interpolation="nearest")


@given(
    st.integers(1, 3),
    st.integers(2, 24),
    st.integers(2, 24),
    st.integers(1, 3),
    st.booleans(),
    st.floats(-30.0, 30.0),
    st.integers(0, 2**31 - 1),
)
def test_translate_matches_the_oracle(ops, B, H, W, C, complex_, span, seed) -> None:
    rng = np.random.default_rng(seed)
    images = _field(rng, (B, H, W, C), complex_)
    shifts = (rng.uniform(-1, 1, size=(B, 2)) * span).astype(np.float32)
    _close(ops.translate(images, shifts), physics.translate(images, shifts), 2e-6)


def test_sample_coordinate_is_formed_in_float32(ops) -> None:
    # near coordinate 100 a float64 coordinate would move the weights by ~4e-6 (physics.md 7.1)
    img = np.zeros((1, 1, 128, 1), np.float32)
    img[0, 0, 100:102, 0] = [1.0, 2.0]
    shift = np.array([[np.float32(-0.3000001), 0.0]], np.float32)
    out = ops.translate(img, shift)[0, 0, 100, 0]
    coord = np.float32(np.float32(100.0) - shift[0, 0])  # the float32 sample coordinate
    w = np.float64(coord) - 100.0
    assert out == pytest.approx((1 - w) * 1.0 + w * 2.0, rel=1e-6)
    _close(ops.translate(img, shift), physics.translate(img, shift), 1e-6)


# ----------------------------------------------------------------------------- geometry


@st.composite
def canvas_cases(draw: st.DrawFn):
    N = draw(st.sampled_from([8, 12, 16]))
    margin = draw(st.integers(0, 6))
    B = draw(st.integers(1, 3))
    C = draw(st.sampled_from([1, 4]))
    span = draw(st.floats(0.0, 8.0))
    seed = draw(st.integers(0, 2**31 - 1))
    return N, N + 2 * margin, B, C, span, seed


@given(canvas_cases(), st.booleans())
def test_extract_patches_matches_the_oracle(ops, case, complex_) -> None:
    N, M, B, C, span, seed = case
    rng = np.random.default_rng(seed)
    canvas = _field(rng, (B, M, M, 1), complex_)
    positions = (rng.uniform(-1, 1, size=(B, 1, 2, C)) * span).astype(np.float32)
    out = ops.extract_patches(canvas, positions, N)
    assert out.shape == (B * C, N, N, 1)
    _close(out, physics.extract_patches(canvas, positions, N), 2e-6)


@given(canvas_cases(), st.booleans())
def test_merge_patches_matches_the_oracle(ops, case, complex_) -> None:
    N, M, B, C, span, seed = case
    rng = np.random.default_rng(seed)
    patches = _field(rng, (B, N, N, C), complex_)
    positions = (rng.uniform(-1, 1, size=(B, 1, 2, C)) * span).astype(np.float32)
    out = ops.merge_patches(patches, positions, M)
    assert out.shape == (B, M, M, 1)
    _close(out, physics.merge_patches(patches, positions, M), 2e-5)


def test_merge_keeps_the_upstream_denominator(ops) -> None:
    # one patch at r = 0: centre divided by 1.001, border by 0.001 (no clamp, no mask)
    N, M = 8, 12
    patches = np.ones((1, N, N, 1), np.float32)
    out = ops.merge_patches(patches, np.zeros((1, 1, 2, 1), np.float32), M)[0, :, :, 0]
    p = (M - N) // 2
    assert out[p + N // 2, p + N // 2] == pytest.approx(1 / 1.001, rel=1e-6)
    assert out[p, p] == pytest.approx(1 / 0.001, rel=1e-5)
    assert out[0, 0] == 0.0


def test_translation_signs_extract_plus_merge_minus(ops) -> None:
    # the patch centre samples the canvas at M/2 + (pos - centroid) = M/2 - r (physics.md 7.2):
    # with r = +3 a peak at column M/2 - 3 lands on the patch centre
    N, M = 8, 16
    canvas = np.zeros((1, M, M, 1), np.float32)
    canvas[0, M // 2, M // 2 - 3, 0] = 1.0
    pos = np.array([[[[3.0], [0.0]]]], np.float32)
    patch = ops.extract_patches(canvas, pos, N)[0, :, :, 0]
    assert patch[N // 2, N // 2] == 1.0
    # merging the patch back with the same r puts the peak where it came from
    merged = ops.merge_patches(patch[None, :, :, None], pos, M)[0, :, :, 0]
    assert np.unravel_index(np.argmax(merged), merged.shape) == (M // 2, M // 2 - 3)


@given(st.integers(1, 3), st.sampled_from([8, 16]), st.integers(0, 5), st.integers(1, 4))
def test_pad_trim_and_layout_moves_are_exact(ops, B, N, margin, C) -> None:
    rng = np.random.default_rng(B * 100 + N + margin * 7 + C)
    x = _field(rng, (B, N, N, C), True)
    M = N + 2 * margin
    padded = ops.pad_to(x, M)
    np.testing.assert_array_equal(padded, physics.pad_to(x, M))
    np.testing.assert_array_equal(ops.trim(padded, N), x)
    flat = ops.channel_to_flat(x)
    assert flat.shape == (B * C, N, N, 1)
    for b in range(B):
        for c in range(C):  # flat index b·C + c (physics.md 0)
            np.testing.assert_array_equal(flat[b * C + c, :, :, 0], x[b, :, :, c])
    np.testing.assert_array_equal(ops.flat_to_channel(flat, C), x)


def test_odd_margin_is_refused(ops) -> None:
    with pytest.raises(ValueError, match="even"):
        ops.pad_to(np.zeros((1, 8, 8, 1), np.float32), 11)
    with pytest.raises(ValueError, match="even"):
        ops.trim(np.zeros((1, 11, 11, 1), np.float32), 8)


# ----------------------------------------------------------------------------- probe and field


@pytest.mark.parametrize(
    ("N", "disk", "mask_count"), [(64, 376, 812), (128, 1500, 3228), (256, 5980, 12892)]
)
def test_probe_check_values(ops, N: int, disk: int, mask_count: int) -> None:
    probe = ops.default_probe(N)
    assert probe.shape == (N, N) and probe.dtype == np.complex64
    # physics.md 2.1: sum = disk count + N²·1e-9 (reflect mode conserves the sum), peak 1 + 1e-9
    assert float(np.sum(probe.real, dtype=np.float64)) == pytest.approx(
        disk + N * N * 1e-9, rel=1e-6
    )
    assert float(np.max(probe.real)) == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose(probe, physics.default_probe(N), rtol=0, atol=1e-7)
    mask = ops.probe_mask(N)
    assert int(np.sum(mask.real)) == mask_count
    np.testing.assert_array_equal(mask.real, physics.probe_mask(N))
    q = ops.center_mask(N)
    assert int(q.sum()) == (N // 2) ** 2
    np.testing.assert_array_equal(q, physics.center_mask(N))


def test_normalised_default_probe_values(ops) -> None:
    p = ops.normalize_probe(ops.default_probe(64), 4.0)
    # physics.md 2.3: peak ≈ 2.723, Σ|P|² ≈ 2505
    assert float(np.max(np.abs(p))) == pytest.approx(2.723, abs=1e-3)
    assert float(np.sum(np.abs(p) ** 2)) == pytest.approx(2505, rel=1e-3)
    _close(p, physics.normalize_probe(ops.default_probe(64), 4.0), 1e-6)


@given(st.integers(0, 2**31 - 1), st.sampled_from(["polar", "legacy_rect"]))
def test_combine_complex_matches_the_oracle(ops, seed, mode) -> None:
    rng = np.random.default_rng(seed)
    amp = rng.uniform(0, 2, size=(2, 6, 6, 3)).astype(np.float32)
    phi = rng.uniform(-np.pi, np.pi, size=(2, 6, 6, 3)).astype(np.float32)
    out = ops.combine_complex(amp, phi, mode)
    assert out.dtype == np.complex64
    _close(out, physics.combine_complex(amp, phi, mode), 1e-6)
    if mode == "legacy_rect":
        np.testing.assert_array_equal(out.real, amp)
        np.testing.assert_array_equal(out.imag, phi)


@given(
    st.integers(0, 2**31 - 1),
    st.sampled_from([0.0, 0.5, 1.3]),
    st.booleans(),
    st.sampled_from([8, 16]),
)
def test_illuminate_matches_the_oracle(ops, seed, sigma, mask, N) -> None:
    rng = np.random.default_rng(seed)
    obj = _field(rng, (3, N, N, 1), True)
    probe = _field(rng, (N, N), True)
    out = ops.illuminate(obj, probe, sigma, mask)
    _close(out, physics.illuminate(obj, probe, sigma, mask), 2e-6)


@given(st.integers(0, 2**31 - 1), st.floats(0.1, 3.0), st.booleans())
def test_gaussian_smooth_matches_the_oracle(ops, seed, sigma, complex_) -> None:
    rng = np.random.default_rng(seed)
    x = _field(rng, (2, 9, 7, 2), complex_)
    _close(ops.gaussian_smooth(x, sigma), physics.gaussian_smooth(x, sigma), 2e-6)


def test_smoothing_reflects_without_the_edge_pixel(ops) -> None:
    # REFLECT pads [a b c] as b | a b c | b; a constant stays constant, a ramp's edge differs
    x = np.zeros((1, 3, 3, 1), np.float32)
    x[0, :, 0, 0] = 1.0
    w = np.exp(-1 / (2 * 0.8**2))
    w = np.array([w, 1.0, w]) / (1 + 2 * w)
    out = ops.gaussian_smooth(x, 0.8)[0, 1, :, 0]
    # column 0 sees columns (1, 0, 1) = (0, 1, 0); column 1 sees (0, 1, 2) = (1, 0, 0)
    np.testing.assert_allclose(out[:2], [w[1], w[0]], rtol=1e-6)


# ----------------------------------------------------------------------------- diffraction


@given(st.integers(0, 2**31 - 1), st.sampled_from([8, 16, 64]), st.integers(1, 3))
def test_diffract_matches_the_oracle_and_conserves_energy(ops, seed, N, B) -> None:
    rng = np.random.default_rng(seed)
    psi = _field(rng, (B, N, N, 1), True)
    amp = ops.diffract(psi)
    assert amp.dtype == np.float32 and amp.shape == psi.shape
    _close(amp, physics.diffract(psi), 1e-5)
    energy_in = np.sum(np.abs(psi.astype(np.complex128)) ** 2, axis=(1, 2, 3))
    energy_out = np.sum(amp.astype(np.float64) ** 2, axis=(1, 2, 3))
    np.testing.assert_allclose(energy_out, energy_in, rtol=1e-5)


def test_diffraction_of_a_constant_field_peaks_at_the_centre(ops) -> None:
    N = 16
    psi = np.ones((1, N, N, 1), np.complex64)
    amp = ops.diffract(psi)[0, :, :, 0]
    # |FFT2(1)|² / N² = N² at zero frequency, moved to index N/2 by fftshift
    assert amp[N // 2, N // 2] == pytest.approx(N, rel=1e-6)
    assert float(np.sum(amp) - amp[N // 2, N // 2]) == pytest.approx(0.0, abs=1e-4)


# ----------------------------------------------------------------------------- stitching


@given(
    st.integers(1, 40),
    st.sampled_from([8, 16]),
    st.sampled_from([4, 8]),
    st.floats(0.0, 15.0),
    st.integers(0, 2**31 - 1),
)
def test_stitch_matches_the_oracle(ops, P, N, crop, span, seed) -> None:
    rng = np.random.default_rng(seed)
    patches = _field(rng, (P, N, N, 1), True)
    offsets = rng.uniform(0, span + 1e-9, size=(P, 1, 2, 1)) + 100.0
    out = ops.stitch(patches, offsets, crop)
    expected = physics.stitch(patches, offsets, crop)
    assert out.shape == expected.shape
    _close(out, expected, 2e-6)


def test_stitch_of_identical_patches_returns_the_patch(ops) -> None:
    rng = np.random.default_rng(3)
    patch = _field(rng, (1, 16, 16, 1), True)
    out = ops.stitch(np.repeat(patch, 3, axis=0), np.full((3, 1, 2, 1), 50.0), 8)
    # all offsets equal: d = 0, pad = 0, S = sum of 3 copies / (3 + 1e-9)
    np.testing.assert_allclose(out[..., 0], patch[0, 4:12, 4:12, 0], rtol=2e-6)


def test_stitch_does_not_depend_on_the_chunking(ops, monkeypatch) -> None:
    from backends.pytorch import ops as tops

    rng = np.random.default_rng(5)
    patches = _field(rng, (300, 16, 16, 1), True)
    offsets = rng.uniform(0, 30, size=(300, 1, 2, 1))
    a = ops.stitch(patches, offsets, 8)
    monkeypatch.setattr(tops, "STITCH_CHUNK", 7)
    b = ops.stitch(patches, offsets, 8)
    _close(b, a, 2e-6)


# ----------------------------------------------------------------------------- losses


@given(st.integers(0, 2**31 - 1))
def test_losses_match_the_oracle(ops, seed) -> None:
    rng = np.random.default_rng(seed)
    pred = rng.uniform(0, 100, size=(2, 8, 8, 4)).astype(np.float32)
    pred[0, 0, 0, 0] = 0.0  # the 1e-12 floor keeps the loss finite
    target = rng.poisson(50, size=pred.shape).astype(np.float32)
    nll = ops.poisson_nll(pred, target)
    assert np.isfinite(nll)
    assert nll == pytest.approx(physics.poisson_nll(pred, target), rel=1e-5)
    assert ops.mae(pred, target) == pytest.approx(physics.mae(pred, target), rel=1e-5)
    z = _field(rng, (2, 8, 8, 1), True)
    t = rng.uniform(0, 1, size=(2, 8, 8, 1)).astype(np.float32)
    assert ops.total_variation(z) == pytest.approx(physics.total_variation(z), rel=1e-5)
    assert ops.complex_mae(t, z) == pytest.approx(physics.complex_mae(t, z), rel=1e-5)


def test_poisson_nll_by_hand(ops) -> None:
    pred = np.array([[[[2.0, 0.0]]]], np.float32)
    target = np.array([[[[3.0, 1.0]]]], np.float32)
    # (2 - 3 ln 2 + 0 - 1·ln 1e-12) / 2, no log-factorial term
    expected = (2.0 - 3.0 * np.log(2.0) - np.log(1e-12)) / 2.0
    assert ops.poisson_nll(pred, target) == pytest.approx(expected, rel=1e-6)


def test_total_variation_by_hand(ops) -> None:
    z = np.zeros((1, 2, 2, 1), np.complex64)
    z[0, 0, 0, 0] = 1 + 2j
    # forward differences: two neighbours each of Re (1) and Im (2): 2·1² + 2·2² = 10
    assert ops.total_variation(z) == pytest.approx(10.0)
