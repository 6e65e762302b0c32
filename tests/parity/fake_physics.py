"""A compact float64 implementation of the physics ops (docs/physics.md), written from the spec
for the harness's own tests: it plays the oracle, and the fake backends use it (in float32).

Not a replacement for :mod:`backends.physics`; it keeps the harness's tests independent of the
modules the harness measures.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

TranslateFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


def combine_complex(amp: np.ndarray, phi: np.ndarray, mode: str = "polar") -> np.ndarray:
    a = np.asarray(amp, np.float64)
    p = np.asarray(phi, np.float64)
    if mode == "legacy_rect":
        return a + 1j * p
    return a * np.cos(p) + 1j * a * np.sin(p)


def default_probe(N: int, default_probe_scale: float = 0.7) -> np.ndarray:
    from scipy.ndimage import gaussian_filter
    from scipy.signal.windows import gaussian

    sigma_w = N / (default_probe_scale * math.pi**2)
    line = gaussian(N, std=sigma_w, sym=True)
    disk = (np.outer(line, line) > 0.5).astype(np.float64)
    return (gaussian_filter(disk, sigma=1) + 1e-9).astype(np.complex128)


def probe_mask(N: int) -> np.ndarray:
    i, j = np.mgrid[0:N, 0:N]
    d = np.sqrt((i - N / 2 + 0.5) ** 2 + (j - N / 2 + 0.5) ** 2)
    return (d < N // 4).astype(np.float64)


def center_mask(N: int) -> np.ndarray:
    q = np.zeros((N, N))
    q[N // 4 : 3 * N // 4, N // 4 : 3 * N // 4] = 1.0
    return q


def normalize_probe(probe: np.ndarray, probe_scale: float) -> np.ndarray:
    p = np.asarray(probe, np.complex128)
    return p / (probe_scale * np.mean(np.abs(probe_mask(p.shape[0]) * p)))


def gaussian_smooth(x: np.ndarray, sigma: float) -> np.ndarray:
    k = np.array([-1.0, 0.0, 1.0])
    w = np.exp(-(k**2) / (2 * sigma**2))
    w /= w.sum()
    xp = np.pad(np.asarray(x), ((0, 0), (1, 1), (1, 1), (0, 0)), mode="reflect")
    H, W = xp.shape[1] - 2, xp.shape[2] - 2
    rows = w[0] * xp[:, 0:H] + w[1] * xp[:, 1 : H + 1] + w[2] * xp[:, 2 : H + 2]
    return w[0] * rows[:, :, 0:W] + w[1] * rows[:, :, 1 : W + 1] + w[2] * rows[:, :, 2 : W + 2]


def illuminate(
    obj: np.ndarray, probe: np.ndarray, sigma: float = 0.0, mask: bool = False
) -> np.ndarray:
    p = np.asarray(probe, np.complex128)
    psi = np.asarray(obj, np.complex128) * p[None, :, :, None]
    if sigma > 0:
        psi = gaussian_smooth(psi, sigma)
    if mask:
        psi = psi * probe_mask(p.shape[0])[None, :, :, None]
    return psi


def diffract(psi: np.ndarray, shift: bool = True) -> np.ndarray:
    z = np.asarray(psi, np.complex128)
    N = z.shape[1]
    F = np.fft.fft2(z, axes=(1, 2))
    intensity = np.real(np.conj(F) * F) / (N * N)
    if shift:
        intensity = np.fft.fftshift(intensity, axes=(1, 2))
    return np.sqrt(intensity)


def _axis_weights(n: int, shift: float, offset: float = 0.0) -> tuple[np.ndarray, ...]:
    coord = (np.arange(n, dtype=np.float32) - np.float32(shift)).astype(np.float64) + offset
    i0 = np.floor(coord).astype(np.int64)
    w1 = coord - i0
    w0 = 1.0 - w1
    w0 = np.where((i0 >= 0) & (i0 <= n - 1), w0, 0.0)
    w1 = np.where((i0 + 1 >= 0) & (i0 + 1 <= n - 1), w1, 0.0)
    return np.clip(i0, 0, n - 1), np.clip(i0 + 1, 0, n - 1), w0, w1


def translate(images: np.ndarray, shifts: np.ndarray, offset: float = 0.0) -> np.ndarray:
    """(T_t u)(x, y) = u_bilin(x - tx, y - ty), per-corner zero fill; ``offset`` adds a constant
    to the sample coordinate (0 in the spec)."""
    img = np.asarray(images)
    out_dtype = np.complex128 if np.iscomplexobj(img) else np.float64
    img = img.astype(out_dtype)
    B, H, W, _ = img.shape
    t = np.asarray(shifts, np.float64).reshape(B, 2)
    out = np.empty_like(img)
    for b in range(B):
        ya, yb, wy0, wy1 = _axis_weights(H, t[b, 1], offset)
        xa, xb, wx0, wx1 = _axis_weights(W, t[b, 0], offset)
        rows = wy0[:, None, None] * img[b, ya] + wy1[:, None, None] * img[b, yb]
        out[b] = wx0[None, :, None] * rows[:, xa] + wx1[None, :, None] * rows[:, xb]
    return out


def pad_to(x: np.ndarray, M: int) -> np.ndarray:
    N = x.shape[1]
    p = (M - N) // 2
    return np.pad(np.asarray(x), ((0, 0), (p, p), (p, p), (0, 0)))


def trim(canvas: np.ndarray, N: int) -> np.ndarray:
    M = canvas.shape[1]
    p = (M - N) // 2
    return np.asarray(canvas)[:, p : p + N, p : p + N, :]


def flat_to_channel(x: np.ndarray, C: int) -> np.ndarray:
    a = np.asarray(x)
    BC, N, _, _ = a.shape
    return a.reshape(BC // C, C, N, N).transpose(0, 2, 3, 1)


def channel_to_flat(x: np.ndarray) -> np.ndarray:
    a = np.asarray(x)
    B, N, _, C = a.shape
    return a.transpose(0, 3, 1, 2).reshape(B * C, N, N, 1)


def extract_with(
    canvas: np.ndarray, positions: np.ndarray, N: int, translate_fn: TranslateFn
) -> np.ndarray:
    cv = np.asarray(canvas)
    pos = np.asarray(positions, np.float64)
    B, C = pos.shape[0], pos.shape[3]
    out = []
    for b in range(B):
        for c in range(C):
            moved = translate_fn(cv[b : b + 1], pos[b : b + 1, 0, :, c])
            out.append(trim(moved, N)[0])
    return np.stack(out)


def merge_with(
    patches: np.ndarray,
    positions: np.ndarray,
    M: int,
    translate_fn: TranslateFn,
    clamp: bool = False,
) -> np.ndarray:
    pt = np.asarray(patches, np.complex128)
    pos = np.asarray(positions, np.float64)
    B, N, _, C = pt.shape
    q = pad_to(center_mask(N)[None, :, :, None], M)
    canvas = np.empty((B, M, M, 1), np.complex128)
    for b in range(B):
        num = np.zeros((1, M, M, 1), np.complex128)
        den = np.zeros((1, M, M, 1))
        for c in range(C):
            shift = -pos[b : b + 1, 0, :, c]
            num += translate_fn(pad_to(pt[b : b + 1, :, :, c : c + 1], M), shift)
            den += translate_fn(q, shift).real
        canvas[b] = (num / (np.maximum(den, 1.0) if clamp else den + 0.001))[0]
    return canvas


def extract_patches(canvas: np.ndarray, positions: np.ndarray, N: int) -> np.ndarray:
    return extract_with(canvas, positions, N, translate)


def merge_patches(patches: np.ndarray, positions: np.ndarray, M: int) -> np.ndarray:
    return merge_with(patches, positions, M, translate)


def stitch(patches: np.ndarray, offsets: np.ndarray, crop: int = 20) -> np.ndarray:
    pt = np.asarray(patches, np.complex128)
    P, N = pt.shape[0], pt.shape[1]
    lo = N // 2 - crop // 2
    cropped = pt[:, lo : lo + crop, lo : lo + crop, :]
    off = np.asarray(offsets).reshape(P, 2).astype(np.float32)
    d = (off - off.mean(axis=0, dtype=np.float32)).astype(np.float32)
    pad = math.ceil(float(np.max(np.abs(d)))) if P else 0
    pad += pad % 2
    S = crop + 2 * pad
    total = np.zeros((S, S, 1), np.complex128)
    weight = np.zeros((S, S, 1))
    ones = np.ones((1, S, S, 1))
    for p in range(P):
        padded = np.pad(cropped[p : p + 1], ((0, 0), (pad, pad), (pad, pad), (0, 0)))
        total += translate(padded, d[p : p + 1])[0]
        mask = np.zeros_like(ones)
        mask[:, pad : pad + crop, pad : pad + crop] = 1
        weight += translate(mask, d[p : p + 1])[0].real
    return total / (weight + 1e-9)


def poisson_nll(pred_intensity: np.ndarray, target_intensity: np.ndarray) -> float:
    pred = np.asarray(pred_intensity, np.float64)
    target = np.asarray(target_intensity, np.float64)
    return float(np.mean(pred - target * np.log(np.maximum(pred, 1e-12))))


def mae(pred: np.ndarray, target: np.ndarray) -> float:
    return float(np.mean(np.abs(np.asarray(pred, np.float64) - np.asarray(target, np.float64))))


def total_variation(z: np.ndarray) -> float:
    a = np.asarray(z, np.complex128)
    total = 0.0
    for part in (a.real, a.imag):
        total += float(np.sum(np.diff(part, axis=2) ** 2) + np.sum(np.diff(part, axis=1) ** 2))
    return total


def complex_mae(target: np.ndarray, z: np.ndarray) -> float:
    return float(np.mean(np.abs(np.asarray(z, np.complex128) - np.asarray(target, np.complex128))))


def intensity_scale(nphotons: float, N: int) -> float:
    return math.sqrt(nphotons) / (N / 2)
