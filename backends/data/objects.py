"""Synthetic object generators of docs/data.md section 10.1 (amplitude; optional phase)."""

from __future__ import annotations

import math

import numpy as np

OBJECT_KINDS = ("lines", "grf")
N_LINES = 400
GRF_BOX_LENGTH = 100.0
GRF_INDEX = -0.4


def line_pixels(r0: int, c0: int, r1: int, c1: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixels of the digital (Bresenham) line from ``(r0, c0)`` to ``(r1, c1)``, ends included.

    Steps one pixel along the major axis; the minor coordinate advances whenever the error
    term reaches zero (``d >= 0``), so the minor offset after ``i`` major steps is
    ``floor((2*d_minor*i + d_major) / (2*d_major))``. Returns ``(rows, cols)`` int64.
    """
    dr, dc = abs(r1 - r0), abs(c1 - c0)
    sr = 1 if r1 > r0 else -1
    sc = 1 if c1 > c0 else -1
    steep = dr > dc
    major, minor = (dr, dc) if steep else (dc, dr)
    i = np.arange(major + 1, dtype=np.int64)
    offset = np.zeros(1, dtype=np.int64) if major == 0 else (2 * minor * i + major) // (2 * major)
    if steep:
        rows, cols = r0 + sr * i, c0 + sc * offset
    else:
        rows, cols = r0 + sr * offset, c0 + sc * i
    rows[-1], cols[-1] = r1, c1
    return rows, cols


def lines(size: int, rng: np.random.RandomState) -> np.ndarray:
    """The ``lines`` amplitude object (size, size) float64 of data.md 10.1.

    400 random digital lines on a ``2*size`` canvas (endpoints r0, c0, r1, c1, each
    ``int(2*size*U)`` from one ``uniform()`` draw of ``rng``), blurred as
    ``g1 + 2*g5 + 5*g10`` and cropped to the centre.
    """
    if size < 1:
        raise ValueError(f"object size={size!r} is not allowed; it must be >= 1")
    big = 2 * size
    canvas = np.zeros((big, big), dtype=np.float64)
    ends = (big * rng.uniform(size=(N_LINES, 4))).astype(np.int64)
    for r0, c0, r1, c1 in ends.tolist():
        rr, cc = line_pixels(r0, c0, r1, c1)
        canvas[rr, cc] = 1.0
    from scipy.ndimage import gaussian_filter  # imported where used: 0.3 s

    img = (
        gaussian_filter(canvas, 1.0, mode="reflect", truncate=4.0)
        + 2 * gaussian_filter(canvas, 5.0, mode="reflect", truncate=4.0)
        + 5 * gaussian_filter(canvas, 10.0, mode="reflect", truncate=4.0)
    )
    lo, hi = size // 2, big - math.ceil(size / 2)
    return img[lo:hi, lo:hi].copy()


def grf(size: int, rng: np.random.RandomState) -> np.ndarray:
    """Gaussian-random-field amplitude object (size, size) float64 in [0, 1] before smoothing.

    Field of side ``n = size/2`` with power spectrum ``P(k) ~ k^-0.4`` (box length 100) made by
    shaping complex white noise in Fourier space (P(0) = 0, real part of the inverse FFT),
    min-max normalised, resampled bilinearly to ``size`` (edge-aligned), then blurred (sigma 1).
    """
    if size < 4 or size % 2:
        raise ValueError(f"grf object size={size!r} is not allowed; it must be even and >= 4")
    n = size // 2
    k1 = 2 * np.pi * np.fft.fftfreq(n, d=GRF_BOX_LENGTH / n)
    kmag = np.hypot(k1[:, None], k1[None, :])
    power = np.zeros_like(kmag)
    nonzero = kmag > 0
    power[nonzero] = kmag[nonzero] ** GRF_INDEX
    noise = rng.normal(size=(n, n)) + 1j * rng.normal(size=(n, n))
    field = np.fft.ifft2(noise * np.sqrt(power)).real
    span = field.max() - field.min()
    field = (field - field.min()) / span if span > 0 else np.zeros_like(field)
    samples = np.linspace(0.0, n, size) * (n - 1) / n  # sample points on the edge-aligned grid
    rr, cc = np.meshgrid(samples, samples, indexing="ij")
    from scipy.ndimage import gaussian_filter, map_coordinates

    resampled = map_coordinates(field, [rr, cc], order=1, mode="nearest")
    return gaussian_filter(resampled, 1.0, mode="reflect", truncate=4.0)


def phase_from_amplitude(amplitude: np.ndarray) -> np.ndarray:
    """Legacy ``set_phi`` phase: ``pi * tanh((A - max(A)/2) / (3 * mean(A)))``."""
    A = np.asarray(amplitude, dtype=np.float64)
    mean = A.mean()
    if not mean > 0:
        return np.zeros_like(A)
    return np.pi * np.tanh((A - A.max() / 2) / (3 * mean))


PHASE_SEED_OFFSET = 1000
"""The phase map of a phase object is a ``lines`` field from ``RandomState(seed + 1000)``."""


def phase_map(size: int, seed: int, max_phase: float) -> np.ndarray:
    """A structured phase (size, size) float64 spanning exactly ``[-max_phase, +max_phase]``.

    An independent ``lines`` field ``g`` (data.md 10.1) from ``RandomState(seed + 1000)``,
    min-max mapped: ``phi = max_phase * (2 (g - min g) / (max g - min g) - 1)``. Its structures
    are unrelated to the amplitude's, so an exchange of amplitude and phase is visible.
    """
    if not (math.isfinite(max_phase) and max_phase > 0):
        raise ValueError(f"max_phase={max_phase!r} is not allowed; it must be > 0 and finite")
    g = lines(size, np.random.RandomState(seed + PHASE_SEED_OFFSET))
    span = float(g.max() - g.min())
    if span <= 0:
        return np.zeros_like(g)
    return max_phase * (2.0 * (g - g.min()) / span - 1.0)


def phase_object(size: int, seed: int, max_phase: float) -> np.ndarray:
    """A complex64 (size, size) object with ``lines`` amplitude (``RandomState(seed)``) and the
    independent :func:`phase_map` phase of range ``[-max_phase, max_phase]``."""
    amp = lines(size, np.random.RandomState(seed))
    return (amp * np.exp(1j * phase_map(size, seed, max_phase))).astype(np.complex64)


def make_object(kind: str, size: int, seed: int, *, set_phi: bool = False) -> np.ndarray:
    """A complex64 (size, size) object: ``kind`` amplitude from ``RandomState(seed)``.

    Phase 0, or the ``set_phi`` phase of data.md 10.1.
    """
    rng = np.random.RandomState(seed)
    if kind == "lines":
        amp = lines(size, rng)
    elif kind == "grf":
        amp = grf(size, rng)
    else:
        raise ValueError(f"unknown object kind {kind!r}; choose one of: {', '.join(OBJECT_KINDS)}")
    if set_phi:
        return (amp * np.exp(1j * phase_from_amplitude(amp))).astype(np.complex64)
    return amp.astype(np.complex64)
