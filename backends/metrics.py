"""Reconstruction quality against ground truth, as ptychography papers measure it.

:func:`reconstruction_metrics` first removes what a reconstruction cannot determine, in this
order, then measures what is left (amplitude and phase separately):

1. **sub-pixel registration**: the translation of the reconstruction against the truth by
   upsampled phase cross-correlation of the complex images (``skimage.registration.
   phase_cross_correlation``, 1/20 pixel), applied as a Fourier shift; both images are then
   cut by the shift's ceiling on every side (the wrapped-around border). A shift above
   ``max_shift`` pixels (default an eighth of the image) is reported but not applied;
2. **phase ramp**: a linear phase ``b_x x + b_y y`` (a reconstruction is defined up to one,
   e.g. from a sub-pixel probe offset) estimated as the amplitude-weighted mean phase gradient
   of ``recon * conj(truth)``; exact for a plane, insensitive to wraps;
3. **global phase offset**: ``angle(sum(recon * conj(truth)))``;
4. **amplitude scale**: the least-squares factor onto the true amplitude (the amplitude is
   defined up to the probe normalisation).

Then, for amplitude and phase: mean absolute error, PSNR (``skimage.metrics.
peak_signal_noise_ratio``, data range ``L`` of the truth image), SSIM (``skimage.metrics.
structural_similarity``: Gaussian window sigma 1.5, K1 0.01, K2 0.03, population covariances),
and the Fourier ring correlation with the resolution at the fixed 1/7 threshold and the half-bit
threshold of van Heel and Schatz (2005), ``T(n) = (0.2071 + 1.9102/sqrt(n)) / (1.2071 +
0.9102/sqrt(n))`` for a ring of ``n`` pixels.

Conventions (fixed here so both backends are measured identically):

* phase differences are wrapped to (-pi, pi]; the phase image compared is
  ``truth_phase + wrap(recon_phase - truth_phase)``, so a wrap at +-pi is not an error;
* ``L`` is the truth's peak-to-peak range (if the truth is flat: its absolute maximum, then 1
  for amplitude and 2 pi for phase); identical images give PSNR ``inf``;
* FRC is computed on mean-subtracted images apodised by a Hann window (so the image border
  and the edge of the scanned region do not count as shared high-frequency detail); rings have
  width one frequency step ``1/min(H, W)`` (cycles per pixel) from 0 to
  Nyquist; the resolution at a threshold is where the curve first falls below it (linear
  interpolation between rings; a curve already below it at the first ring resolves that ring's
  frequency, the DC ring never counts), reported as a frequency, a period in pixels and, with a
  ``pixel_size``, in metres; a curve that never falls below it is limited by sampling
  (Nyquist, 2 pixels; ``crossed`` False).

scikit-image is imported when a metric is computed, never at module import.

:func:`align_to_truth` cuts out of ``objectGuess`` the region a stitched reconstruction covers
(docs/physics.md section 8.2 geometry).
"""

from __future__ import annotations

import math
import warnings
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
    "crop_to_covered",
    "frc_curve",
    "frc_resolution",
    "half_bit_threshold",
    "json_safe",
    "psnr",
    "reconstruction_metrics",
    "register",
    "remove_phase_ramp",
    "ring_pixels",
    "ssim",
    "wrap_phase",
]

SSIM_SIGMA = 1.5
SSIM_RADIUS = 5
SSIM_K1 = 0.01
SSIM_K2 = 0.03
FRC_THRESHOLDS = ("1/7", "half-bit")
REGISTRATION_UPSAMPLE = 20
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


def register(
    recon: np.ndarray, truth: np.ndarray, max_shift: float | None = None
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Sub-pixel registration of ``recon`` onto ``truth`` (complex 2-D, equal shapes).

    Returns ``(recon, truth, info)``: both cut by the ceiling of the applied shift on every
    side, and ``info`` with the measured ``shift`` ``[dy, dx]`` in pixels (what moves the
    reconstruction onto the truth) and whether it was ``applied``.
    """
    from skimage.registration import phase_cross_correlation

    limit = min(recon.shape) / 8.0 if max_shift is None else float(max_shift)
    if not (np.any(recon) and np.any(truth)):
        return recon, truth, {"shift": [0.0, 0.0], "applied": False}
    shift, _, _ = phase_cross_correlation(
        truth, recon, upsample_factor=REGISTRATION_UPSAMPLE, normalization=None
    )
    shift = [float(v) for v in shift]
    info: dict[str, Any] = {"shift": shift, "applied": False}
    if max(abs(v) for v in shift) > limit or not any(shift):
        return recon, truth, info
    moved = np.fft.ifft2(ndimage.fourier_shift(np.fft.fft2(recon), shift))
    cut = math.ceil(max(abs(v) for v in shift))
    if 2 * cut >= min(recon.shape) - 1:
        return recon, truth, info
    info["applied"] = True
    sl = (slice(cut, recon.shape[0] - cut), slice(cut, recon.shape[1] - cut))
    return moved[sl], truth[sl], info


def remove_phase_ramp(recon: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, list[float]]:
    """``recon`` without the linear phase ramp relative to ``truth``, and the ramp
    ``[b_y, b_x]`` (radians per pixel): the amplitude-weighted mean phase gradient of
    ``recon * conj(truth)`` along each axis."""
    d = recon * np.conj(truth)
    b_y = float(np.angle(np.sum(d[1:, :] * np.conj(d[:-1, :]))))
    b_x = float(np.angle(np.sum(d[:, 1:] * np.conj(d[:, :-1]))))
    rows = np.arange(recon.shape[0])[:, None]
    cols = np.arange(recon.shape[1])[None, :]
    return recon * np.exp(-1j * (b_y * rows + b_x * cols)), [b_y, b_x]


def _data_range(truth: np.ndarray, fallback: float) -> float:
    rng = float(np.max(truth) - np.min(truth))
    if rng > 0:
        return rng
    peak = float(np.max(np.abs(truth)))
    return peak if peak > 0 else fallback


def psnr(image: np.ndarray, truth: np.ndarray, data_range: float) -> float:
    """Peak signal-to-noise ratio in dB (``skimage.metrics``); ``inf`` for identical images."""
    x = np.asarray(image, np.float64)
    y = np.asarray(truth, np.float64)
    if np.array_equal(x, y):
        return math.inf
    from skimage.metrics import peak_signal_noise_ratio

    return float(peak_signal_noise_ratio(y, x, data_range=data_range))


def ssim(image: np.ndarray, truth: np.ndarray, data_range: float) -> float:
    """Mean structural similarity (``skimage.metrics.structural_similarity``, Gaussian window
    sigma 1.5 truncated at radius 5, population covariances)."""
    x = np.asarray(image, np.float64)
    y = np.asarray(truth, np.float64)
    if x.shape != y.shape:
        raise ValueError(f"ssim: shapes differ {x.shape} vs {y.shape}")
    if min(x.shape) < 2 * SSIM_RADIUS + 1:
        raise ValueError(
            f"ssim needs images of at least {2 * SSIM_RADIUS + 1} pixels per side, got {x.shape}"
        )
    from skimage.metrics import structural_similarity

    return float(
        structural_similarity(
            y,
            x,
            data_range=data_range,
            gaussian_weights=True,
            sigma=SSIM_SIGMA,
            use_sample_covariance=False,
            K1=SSIM_K1,
            K2=SSIM_K2,
        )
    )


def _rings(shape: tuple[int, int]) -> tuple[np.ndarray, int]:
    H, W = shape
    step = 1.0 / min(H, W)
    fy = np.fft.fftfreq(H)[:, None]
    fx = np.fft.fftfreq(W)[None, :]
    ring = np.rint(np.sqrt(fx * fx + fy * fy) / step).astype(np.int64)
    return ring, min(H, W) // 2 + 1


def ring_pixels(shape: tuple[int, int]) -> np.ndarray:
    """Number of Fourier pixels in each FRC ring of an image of ``shape``."""
    ring, n_rings = _rings(shape)
    return np.bincount(ring[ring < n_rings], minlength=n_rings)


def half_bit_threshold(n_pixels: Any) -> np.ndarray:
    """The half-bit FRC threshold (van Heel and Schatz 2005) for rings of ``n_pixels``."""
    root = np.sqrt(np.maximum(np.asarray(n_pixels, dtype=np.float64), 1.0))
    return (0.2071 + 1.9102 / root) / (1.2071 + 0.9102 / root)


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
    ring, n_rings = _rings(a.shape)
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
    return np.arange(n_rings) * (1.0 / min(a.shape)), curve


def frc_resolution(
    freqs: np.ndarray, curve: np.ndarray, threshold: Any, pixel_size: float | None = None
) -> dict[str, Any]:
    """Where ``curve`` first falls below ``threshold`` (a number, or one value per ring) after
    the zero-frequency ring; with ``pixel_size`` (metres) also ``resolution_m``."""
    t = np.broadcast_to(np.asarray(threshold, dtype=np.float64), np.shape(curve))
    out: dict[str, Any] | None = None
    for k in range(1, len(curve)):
        if curve[k] < t[k]:
            if k == 1:  # below at the first ring: no interpolation towards the DC term
                f = float(freqs[1])
            else:
                g0, g1 = float(curve[k - 1] - t[k - 1]), float(curve[k] - t[k])
                frac = g0 / (g0 - g1) if g0 != g1 else 0.0
                frac = min(max(frac, 0.0), 1.0)
                f = float(freqs[k - 1] + frac * (freqs[k] - freqs[k - 1]))
            out = {"frequency": f, "resolution_px": (1.0 / f) if f > 0 else math.inf}
            out["crossed"] = True
            break
    if out is None:
        f = float(freqs[-1])
        out = {"frequency": f, "resolution_px": 1.0 / f if f > 0 else math.inf, "crossed": False}
    if pixel_size is not None:
        out["resolution_m"] = out["resolution_px"] * float(pixel_size)
    return out


def _image_metrics(
    image: np.ndarray,
    truth: np.ndarray,
    fallback_range: float,
    wrapped: bool,
    pixel_size: float | None,
) -> dict[str, Any]:
    diff = wrap_phase(image - truth) if wrapped else image - truth
    compared = truth + diff
    L = _data_range(truth, fallback_range)
    window = np.outer(np.hanning(truth.shape[0]), np.hanning(truth.shape[1]))
    freqs, curve = frc_curve((compared - compared.mean()) * window, (truth - truth.mean()) * window)
    half_bit = half_bit_threshold(ring_pixels(truth.shape))
    return {
        "mae": float(np.mean(np.abs(diff))),
        "psnr": psnr(compared, truth, L),
        "ssim": ssim(compared, truth, L),
        "data_range": L,
        "frc": {
            "frequency": freqs.tolist(),
            "curve": curve.tolist(),
            "half_bit": half_bit.tolist(),
            "threshold_1/7": frc_resolution(freqs, curve, 1.0 / 7.0, pixel_size),
            "threshold_half-bit": frc_resolution(freqs, curve, half_bit, pixel_size),
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


def aligned_pair(
    recon: Any, truth: Any, *, crop: int | None = None, max_shift: float | None = None
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """``recon`` registered, de-ramped and phase-offset onto ``truth`` (steps 1-3 of the module
    doc): ``(recon, truth, alignment)``; the amplitude compared is ``alignment
    ["amplitude_scale"] * |recon|`` (step 4)."""
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
    r, t, reg = register(r, t, max_shift)
    r, ramp = remove_phase_ramp(r, t)
    r, offset = align_phase(r, t)
    scale = amplitude_scale(np.abs(r), np.abs(t))
    info = {"shift": reg["shift"], "shift_applied": reg["applied"], "phase_ramp": ramp}
    return r, t, {"registration": info, "phase_offset": offset, "amplitude_scale": scale}


def reconstruction_metrics(
    recon: Any,
    truth: Any,
    *,
    crop: int | None = None,
    pixel_size: float | None = None,
    max_shift: float | None = None,
) -> dict[str, Any]:
    """Amplitude and phase MAE, PSNR, SSIM and FRC of ``recon`` against ``truth`` (both complex
    2-D, equal shapes) after registration, phase-ramp, phase-offset and amplitude-scale
    removal; ``crop`` pixels are removed from every border first. The returned dict has
    ``amplitude`` and ``phase`` sub-dicts, the ``registration`` (shift, ramp), the
    ``phase_offset`` removed (radians), the ``amplitude_scale`` and the compared ``shape``."""
    flat = np.asarray(truth)
    if flat.size and np.all(flat == flat.flat[0]):
        warnings.warn(
            "the ground truth is constant (a flat objectGuess?); PSNR, SSIM and FRC against it "
            "say nothing about the reconstruction",
            UserWarning,
            stacklevel=2,
        )
    r, t, alignment = aligned_pair(recon, truth, crop=crop, max_shift=max_shift)
    return {
        "shape": list(r.shape),
        **alignment,
        "amplitude": _image_metrics(
            alignment["amplitude_scale"] * np.abs(r), np.abs(t), 1.0, False, pixel_size
        ),
        "phase": _image_metrics(np.angle(r), np.angle(t), 2 * math.pi, True, pixel_size),
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


def crop_to_covered(recon: Any, truth: Any) -> tuple[np.ndarray, np.ndarray]:
    """Both images cut to the largest rectangle where the (stitched) ground truth is non-zero:
    the scanned region. Outside it a stitched canvas is zero in both images, and counting those
    pixels would inflate every metric."""
    r = _as_2d(recon, "recon")
    t = _as_2d(truth, "truth")
    if r.shape != t.shape:
        raise ValueError(f"recon {r.shape} and truth {t.shape} differ in shape")
    rows, cols = covered_box(np.abs(t) > 0)
    return r[rows, cols], t[rows, cols]


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
