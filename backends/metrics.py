"""Reconstruction quality against ground truth, framework-free (NumPy and SciPy only).

:func:`reconstruction_metrics` compares a complex reconstruction with the true object after
removing the global phase offset (a reconstruction is defined up to a constant phase):
``recon <- recon * exp(-i * angle(sum(recon * conj(truth))))``, and with the amplitude scaled
by the least-squares factor onto the truth (the amplitude is defined up to the probe
normalisation). It reports, for amplitude
and phase, the mean absolute error, PSNR and SSIM, and for both the Fourier ring correlation
curve with the resolution at the 0.5 and 1/7 thresholds.

Conventions (fixed here so both backends are measured identically):

* phase differences are wrapped to (-pi, pi]; the phase image compared is
  ``truth_phase + wrap(recon_phase - truth_phase)``, so a wrap at +-pi is not an error;
* PSNR ``= 10 log10(L^2 / MSE)`` with the data range ``L`` of the truth image (peak-to-peak;
  if the truth is flat: its absolute maximum, then 1 for amplitude and 2 pi for phase);
  identical images give ``inf``;
* SSIM: Wang et al. 2004 with a Gaussian window (sigma 1.5, truncated at radius 5, i.e. 11 x
  11), K1 = 0.01, K2 = 0.03, the same ``L``, population (co)variances, averaged over the
  pixels whose window lies inside the image;
* FRC: rings of width one frequency step ``1/min(H, W)`` (cycles per pixel) from 0 to Nyquist;
  the resolution at a threshold is where the curve first falls below it (linear
  interpolation between rings), reported as a frequency and as a period in pixels; a curve
  that never falls below it is limited by sampling (Nyquist, 2 pixels; ``crossed`` False).

:func:`align_to_truth` cuts out of ``objectGuess`` the region a stitched reconstruction covers
(docs/physics.md section 8.2 geometry).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import ndimage

__all__ = [
    "FRC_THRESHOLDS",
    "SSIM_SIGMA",
    "align_phase",
    "align_to_truth",
    "amplitude_scale",
    "covered_box",
    "frc_curve",
    "frc_resolution",
    "json_safe",
    "psnr",
    "reconstruction_metrics",
    "ssim",
    "wrap_phase",
]

SSIM_SIGMA = 1.5
SSIM_RADIUS = 5
SSIM_K1 = 0.01
SSIM_K2 = 0.03
FRC_THRESHOLDS = {"0.5": 0.5, "1/7": 1.0 / 7.0}
_EMPTY_RING = 1e-24


def _as_2d(x: Any, name: str) -> np.ndarray:
    a = np.asarray(x)
    a = a.reshape([s for s in a.shape if s != 1]) if a.ndim > 2 else a
    if a.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D image (extra axes of size 1 allowed), got shape {np.shape(x)}"
        )
    return a


def wrap_phase(phi: np.ndarray) -> np.ndarray:
    """Angles wrapped to (-pi, pi]."""
    return np.angle(np.exp(1j * np.asarray(phi, dtype=np.float64)))


def align_phase(recon: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, float]:
    """``recon`` with the global phase offset to ``truth`` removed, and that offset (radians)."""
    offset = float(np.angle(np.sum(recon * np.conj(truth))))
    return recon * np.exp(-1j * offset), offset


def _data_range(truth: np.ndarray, fallback: float) -> float:
    rng = float(np.max(truth) - np.min(truth))
    if rng > 0:
        return rng
    peak = float(np.max(np.abs(truth)))
    return peak if peak > 0 else fallback


def psnr(image: np.ndarray, truth: np.ndarray, data_range: float) -> float:
    """Peak signal-to-noise ratio in dB; ``inf`` for identical images."""
    mse = float(np.mean((np.asarray(image, np.float64) - np.asarray(truth, np.float64)) ** 2))
    if mse == 0.0:
        return math.inf
    return 10.0 * math.log10(data_range**2 / mse)


def ssim(image: np.ndarray, truth: np.ndarray, data_range: float) -> float:
    """Mean structural similarity with a Gaussian window (conventions in the module doc)."""
    x = np.asarray(image, np.float64)
    y = np.asarray(truth, np.float64)
    if x.shape != y.shape:
        raise ValueError(f"ssim: shapes differ {x.shape} vs {y.shape}")
    if min(x.shape) < 2 * SSIM_RADIUS + 1:
        raise ValueError(
            f"ssim needs images of at least {2 * SSIM_RADIUS + 1} pixels per side, got {x.shape}"
        )

    def blur(a: np.ndarray) -> np.ndarray:
        return ndimage.gaussian_filter(
            a, SSIM_SIGMA, truncate=SSIM_RADIUS / SSIM_SIGMA, mode="reflect"
        )

    mx, my = blur(x), blur(y)
    vx = blur(x * x) - mx * mx
    vy = blur(y * y) - my * my
    cxy = blur(x * y) - mx * my
    c1 = (SSIM_K1 * data_range) ** 2
    c2 = (SSIM_K2 * data_range) ** 2
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    r = SSIM_RADIUS
    return float(np.mean(s[r:-r, r:-r]))


def frc_curve(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fourier ring correlation of two images: ``(frequencies, curve)``, frequencies in cycles
    per pixel from 0 to 0.5. A ring with no power (below 1e-24 of the image's total) in either
    image counts as correlated (1); with power in only one as uncorrelated (0)."""
    a = np.asarray(a)
    b = np.asarray(b)
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(
            f"frc: two 2-D images of equal shape are needed, got {a.shape} and {b.shape}"
        )
    H, W = a.shape
    step = 1.0 / min(H, W)
    fy = np.fft.fftfreq(H)[:, None]
    fx = np.fft.fftfreq(W)[None, :]
    ring = np.rint(np.sqrt(fx * fx + fy * fy) / step).astype(np.int64)
    n_rings = min(H, W) // 2 + 1
    Fa = np.fft.fft2(a)
    Fb = np.fft.fft2(b)
    inside = ring < n_rings
    idx = ring[inside]
    cross = np.bincount(idx, (Fa * np.conj(Fb)).real[inside], n_rings)
    pa = np.bincount(idx, (np.abs(Fa) ** 2)[inside], n_rings)
    pb = np.bincount(idx, (np.abs(Fb) ** 2)[inside], n_rings)
    # a ring whose power is at round-off level relative to the whole image counts as empty
    empty_a = pa <= _EMPTY_RING * pa.sum()
    empty_b = pb <= _EMPTY_RING * pb.sum()
    denom = np.sqrt(pa * pb)
    live = ~(empty_a | empty_b)
    curve = np.zeros(n_rings)
    curve[live] = cross[live] / denom[live]
    curve[empty_a & empty_b] = 1.0
    return np.arange(n_rings) * step, curve


def frc_resolution(freqs: np.ndarray, curve: np.ndarray, threshold: float) -> dict[str, Any]:
    """Where ``curve`` first falls below ``threshold`` (after the zero-frequency ring)."""
    for k in range(1, len(curve)):
        if curve[k] < threshold:
            c0, c1 = float(curve[k - 1]), float(curve[k])
            frac = (c0 - threshold) / (c0 - c1) if c0 != c1 else 0.0
            f = float(freqs[k - 1] + frac * (freqs[k] - freqs[k - 1]))
            return {
                "frequency": f,
                "resolution_px": (1.0 / f) if f > 0 else math.inf,
                "crossed": True,
            }
    f = float(freqs[-1])
    return {"frequency": f, "resolution_px": 1.0 / f if f > 0 else math.inf, "crossed": False}


def _image_metrics(
    image: np.ndarray, truth: np.ndarray, fallback_range: float, wrapped: bool
) -> dict[str, Any]:
    diff = wrap_phase(image - truth) if wrapped else image - truth
    compared = truth + diff
    L = _data_range(truth, fallback_range)
    freqs, curve = frc_curve(compared, truth)
    return {
        "mae": float(np.mean(np.abs(diff))),
        "psnr": psnr(compared, truth, L),
        "ssim": ssim(compared, truth, L),
        "data_range": L,
        "frc": {
            "frequency": freqs.tolist(),
            "curve": curve.tolist(),
            **{
                f"threshold_{name}": frc_resolution(freqs, curve, t)
                for name, t in FRC_THRESHOLDS.items()
            },
        },
    }


def amplitude_scale(amplitude: np.ndarray, truth_amplitude: np.ndarray) -> float:
    """The least-squares factor ``a`` minimising ``sum((a * amplitude - truth)^2)``.

    A PINN reconstruction fixes the amplitude only up to the probe normalisation
    (docs/physics.md 2.3), so amplitude metrics compare ``a * |recon|`` with ``|truth|``; a
    reconstruction that is zero everywhere keeps ``a = 1``.
    """
    denominator = float(np.sum(amplitude * amplitude))
    if denominator <= 0.0:
        return 1.0
    return float(np.sum(amplitude * truth_amplitude) / denominator)


def reconstruction_metrics(recon: Any, truth: Any, *, crop: int | None = None) -> dict[str, Any]:
    """Amplitude and phase MAE, PSNR, SSIM and FRC of ``recon`` against ``truth`` (both complex
    2-D, equal shapes) after removing the global phase offset; ``crop`` pixels are removed from
    every border first. The returned dict has ``amplitude`` and ``phase`` sub-dicts, the
    ``phase_offset`` removed (radians) and the compared ``shape``."""
    r = _as_2d(recon, "recon").astype(np.complex128)
    t = _as_2d(truth, "truth").astype(np.complex128)
    if r.shape != t.shape:
        raise ValueError(
            f"recon {r.shape} and truth {t.shape} differ in shape; crop the truth to the "
            "reconstructed region first (align_to_truth)"
        )
    if crop:
        if crop < 0 or 2 * crop >= min(r.shape):
            raise ValueError(f"crop={crop} leaves nothing of a {r.shape} image")
        r = r[crop:-crop, crop:-crop]
        t = t[crop:-crop, crop:-crop]
    if not (np.all(np.isfinite(r)) and np.all(np.isfinite(t))):
        raise ValueError("recon and truth must be finite (found NaN or infinity)")
    aligned, offset = align_phase(r, t)
    amplitude = np.abs(aligned)
    scale = amplitude_scale(amplitude, np.abs(t))
    return {
        "shape": list(r.shape),
        "phase_offset": offset,
        "amplitude_scale": scale,
        "amplitude": _image_metrics(scale * amplitude, np.abs(t), 1.0, wrapped=False),
        "phase": _image_metrics(np.angle(aligned), np.angle(t), 2 * math.pi, wrapped=True),
    }


def covered_box(mask: Any) -> tuple[slice, slice]:
    """The largest axis-aligned rectangle of True pixels of a 2-D ``mask`` (the first one in
    row-major order on ties), found with the row-histogram method. Raises ValueError when
    nothing is covered."""
    m = np.asarray(mask, dtype=bool)
    if m.ndim != 2 or not m.any():
        raise ValueError("the coverage mask is empty: nothing of the reconstruction is covered")
    H, W = m.shape
    heights = np.zeros(W + 1, dtype=np.int64)  # a zero sentinel closes every bar
    best = (0, 0, 0, 0, 0)  # area, r0, r1, c0, c1
    for r in range(H):
        heights[:W] = np.where(m[r], heights[:W] + 1, 0)
        stack: list[int] = []
        for c in range(W + 1):
            while stack and heights[stack[-1]] >= heights[c]:
                top = stack.pop()
                h = int(heights[top])
                left = stack[-1] + 1 if stack else 0
                area = h * (c - left)
                if area > best[0]:
                    best = (area, r - h + 1, r + 1, left, c)
            stack.append(c)
    _, r0, r1, c0, c1 = best
    return slice(r0, r1), slice(c0, c1)


def align_to_truth(
    recon_stitched: Any, objectGuess: Any, global_offsets: Any, *, coverage: Any = None
) -> tuple[np.ndarray, np.ndarray]:
    """Cut the ground truth matching a stitched reconstruction; returns ``(recon, truth)``.

    A stitched image (S, S) from :func:`backends.physics.stitch` has its pixel ``(i, j)`` at
    object coordinates ``(cy - S/2 + i, cx - S/2 + j)``, where ``(cx, cy)`` is the float32 mean
    of the global offsets (``[x, y]``, object pixels; physics.md 7.3 and 8.2). The truth is
    sampled there (bilinear, exact for integer positions), and both images are cut to the
    rows and columns that fall inside ``objectGuess``. With ``coverage`` (an (S, S) weight or
    mask, e.g. the stitch of all-ones patches) they are further cut to a box of pixels with
    coverage above 0.5 (the largest such rectangle, :func:`covered_box`).
    """
    rec = _as_2d(recon_stitched, "recon_stitched")
    obj = np.asarray(objectGuess)
    if obj.ndim != 2:
        raise ValueError(f"objectGuess must be 2-D, got shape {obj.shape}")
    off = np.asarray(global_offsets, dtype=np.float64)
    if off.size % 2 or off.size == 0:
        raise ValueError(f"global_offsets must hold [x, y] pairs, got shape {off.shape}")
    centre = (
        off.reshape(-1, 2).astype(np.float32).astype(np.float64).mean(axis=0).astype(np.float32)
    )
    cx, cy = float(centre[0]), float(centre[1])
    S_h, S_w = rec.shape
    rows = cy - S_h / 2 + np.arange(S_h)
    cols = cx - S_w / 2 + np.arange(S_w)
    H, W = obj.shape
    row_ok = (rows >= 0) & (rows <= H - 1)
    col_ok = (cols >= 0) & (cols <= W - 1)
    if not row_ok.any() or not col_ok.any():
        raise ValueError(
            "the stitched reconstruction does not overlap objectGuess; check that the global "
            "offsets are in object pixel coordinates"
        )
    rows, cols = rows[row_ok], cols[col_ok]
    rec = rec[np.ix_(row_ok, col_ok)]
    if coverage is not None:
        cov = _as_2d(coverage, "coverage")
        if cov.shape != (S_h, S_w):
            raise ValueError(
                f"coverage {cov.shape} must have the shape of the reconstruction {(S_h, S_w)}"
            )
        rs, cs = covered_box(np.abs(cov[np.ix_(row_ok, col_ok)]) > 0.5)
        rows, cols, rec = rows[rs], cols[cs], rec[rs, cs]
    rr, cc = np.meshgrid(rows, cols, indexing="ij")
    coords = np.stack([rr, cc])
    obj128 = obj.astype(np.complex128)
    real = ndimage.map_coordinates(obj128.real, coords, order=1, mode="nearest")
    imag = ndimage.map_coordinates(obj128.imag, coords, order=1, mode="nearest")
    return rec, real + 1j * imag


def json_safe(obj: Any) -> Any:
    """``obj`` with non-finite floats replaced by the strings ``"inf"``, ``"-inf"``, ``"nan"``
    (strict JSON has no such numbers) and NumPy scalars and arrays converted to Python."""
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return json_safe(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return "nan" if math.isnan(obj) else ("inf" if obj > 0 else "-inf")
    return obj
