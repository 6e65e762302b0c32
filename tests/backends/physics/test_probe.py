"""Default probe, masks and probe normalisation against the check values of physics.md 2.1-2.3."""

from __future__ import annotations

import numpy as np
import pytest

from backends import physics

DISK_COUNTS = {64: 376, 128: 1500, 256: 5980}
MASK_COUNTS = {64: 812, 128: 3228, 256: 12892}


def _disk_by_hand(N: int) -> np.ndarray:
    sigma = N / (0.7 * np.pi**2)
    n = np.arange(N)
    window = np.exp(-0.5 * ((n - (N - 1) / 2) / sigma) ** 2)
    return np.outer(window, window) > 0.5


@pytest.mark.parametrize("N", sorted(DISK_COUNTS))
def test_disk_pixel_count(N: int) -> None:
    assert int(_disk_by_hand(N).sum()) == DISK_COUNTS[N]


@pytest.mark.parametrize("N", sorted(DISK_COUNTS))
def test_default_probe_sum_and_peak(N: int) -> None:
    probe = physics.default_probe(N)
    assert probe.shape == (N, N)
    assert np.iscomplexobj(probe)
    assert np.all(probe.imag == 0)
    total = probe.real.sum()
    assert total == pytest.approx(DISK_COUNTS[N] + N * N * 1e-9, rel=1e-13, abs=0)
    assert probe.real.max() == pytest.approx(1 + 1e-9, rel=0, abs=1e-13)
    assert probe.real.min() >= 1e-9 - 1e-18


@pytest.mark.parametrize("N", [64, 128])
def test_default_probe_is_centred_between_pixels(N: int) -> None:
    p = physics.default_probe(N).real
    np.testing.assert_allclose(p, p[::-1, ::-1], rtol=0, atol=1e-15)
    np.testing.assert_allclose(p, p.T, rtol=0, atol=1e-15)
    # the disk (values > 1/2 after smoothing sit inside it) spans a radius of about 0.1704 N
    rows = np.nonzero(p[:, N // 2] > 0.5)[0]
    radius = (rows.max() - rows.min() + 1) / 2
    assert radius == pytest.approx(0.1704 * N, abs=1.0)


def test_default_probe_scale_changes_the_disk() -> None:
    wide = physics.default_probe(64, default_probe_scale=0.5).real.sum()
    narrow = physics.default_probe(64, default_probe_scale=0.7).real.sum()
    assert wide > narrow


@pytest.mark.parametrize("N", sorted(MASK_COUNTS))
def test_probe_mask_counts_and_centre(N: int) -> None:
    m = physics.probe_mask(N)
    assert m.shape == (N, N)
    assert int(m.sum()) == MASK_COUNTS[N]
    # centred on the pixel corner (N/2 - 1/2, N/2 - 1/2): symmetric under both flips
    np.testing.assert_array_equal(m, m[::-1, :])
    np.testing.assert_array_equal(m, m[:, ::-1])
    # radius N//4 along the central row: columns N/2 - N/4 .. N/2 + N/4 - 1 are inside
    row = m[N // 2]
    assert row[N // 2 - N // 4] == 1 and row[N // 2 - N // 4 - 1] == 0
    assert row[N // 2 + N // 4 - 1] == 1 and row[N // 2 + N // 4] == 0


@pytest.mark.parametrize("N", [8, 64, 128])
def test_center_mask(N: int) -> None:
    q = physics.center_mask(N)
    assert q.sum() == (N // 2) ** 2
    assert np.all(q[N // 4 : 3 * N // 4, N // 4 : 3 * N // 4] == 1)
    assert q[N // 4 - 1].sum() == 0 and q[3 * N // 4].sum() == 0
    assert q[:, N // 4 - 1].sum() == 0 and q[:, 3 * N // 4].sum() == 0


def test_normalised_default_probe_check_values() -> None:
    raw = physics.default_probe(64)
    assert physics.probe_divisor(raw, 4.0) == pytest.approx(0.3672, abs=5e-5)
    p = physics.normalize_probe(raw, 4.0)
    assert np.abs(p).max() == pytest.approx(2.723, abs=5e-4)
    assert np.sum(np.abs(p) ** 2) == pytest.approx(2505, abs=0.5)
    assert np.sum(np.abs(p) ** 2) > (64 / 2) ** 2


def test_normalisation_always_uses_the_mask() -> None:
    N = 16
    flat = np.ones((N, N), dtype=np.complex64)
    inside = physics.probe_mask(N).sum()
    # mean |M * P| counts the masked pixels as zeros: divisor = scale * inside / N**2
    expected = flat / (2.0 * inside / N**2)
    np.testing.assert_allclose(physics.normalize_probe(flat, 2.0), expected, rtol=1e-15)


def test_normalisation_keeps_phase_and_returns_complex128() -> None:
    N = 16
    raw = np.exp(1j * np.linspace(0, 3, N * N)).reshape(N, N).astype(np.complex64)
    p = physics.normalize_probe(raw, 4.0)
    assert p.dtype == np.complex128
    np.testing.assert_allclose(np.angle(p), np.angle(raw.astype(np.complex128)), atol=1e-12)


@pytest.mark.parametrize("bad", [0.0, -1.0])
def test_normalisation_rejects_bad_scale(bad: float) -> None:
    with pytest.raises(ValueError, match="probe_scale"):
        physics.normalize_probe(np.ones((8, 8)), bad)


def test_normalisation_rejects_bad_shape_and_empty_probe() -> None:
    with pytest.raises(ValueError, match=r"\(N, N\)"):
        physics.normalize_probe(np.ones((8, 8, 2)), 4.0)
    with pytest.raises(ValueError, match="zero"):
        physics.normalize_probe(np.zeros((8, 8)), 4.0)
