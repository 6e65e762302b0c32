"""Physics operations of docs/physics.md in torch (float32 / complex64, channels-first).

Module-level functions take and return torch tensors in the backend's own layout: images
``(B, C, H, W)``, shifts ``(B, C, 2)`` ordered ``[x, y]``, flat patch stacks ``(B*C, 1, N, N)``.
:data:`NUMPY_OPS` wraps them with the NumPy, reference-layout signatures of
:class:`backends.base.Ops` (NHWC in and out), for the parity engine and the tests.

Arithmetic follows the spec literally so that results agree with the TensorFlow reference at
float32 rounding level: the bilinear sample coordinate is formed in float32 before ``floor``, the
four corners are summed in the order of physics.md 7.1, complex values are translated as separate
real and imaginary planes, and the merge divides real and imaginary parts by a real denominator.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from backends.core.constants import MERGE_EPSILON, NLL_FLOOR, STITCH_EPSILON
from backends.pytorch import devices

Tensor = torch.Tensor

STITCH_CHUNK = (
    128  # patches per translation batch in stitch (fixed: results never depend on callers)
)


# --------------------------------------------------------------------------- complex helpers


def combine_complex(amp: Tensor, phi: Tensor, mode: str = "polar") -> Tensor:
    """Object ``A·cos φ + i·A·sin φ`` (polar) or ``A + iφ`` (legacy_rect), complex64."""
    if mode == "polar":
        return torch.complex(amp * torch.cos(phi), amp * torch.sin(phi))
    if mode == "legacy_rect":
        return torch.complex(amp, phi)
    raise ValueError(f"combine_mode={mode!r} is not allowed; choose one of: polar, legacy_rect")


def _split(x: Tensor) -> tuple[Tensor, bool]:
    """Real planes of ``x`` along dim 1: complex -> [re | im] (twice the channels)."""
    if x.is_complex():
        return torch.cat([x.real, x.imag], dim=1), True
    return x, False


def _join(x: Tensor, was_complex: bool) -> Tensor:
    if not was_complex:
        return x
    k = x.shape[1] // 2
    return torch.complex(x[:, :k], x[:, k:])


def divide_parts(num: Tensor, den: Tensor) -> Tensor:
    """``num / den`` with a real ``den``; complex ``num`` has each part divided separately."""
    if num.is_complex():
        return torch.complex(num.real / den, num.imag / den)
    return num / den


# --------------------------------------------------------------------------- masks and probe


def center_mask(
    N: int, dtype: torch.dtype = torch.float32, device: torch.device | None = None
) -> Tensor:
    """Q (N, N): ones on rows/cols ``[N/4, 3N/4)``, zeros elsewhere (physics.md 8.1)."""
    q = torch.zeros((N, N), dtype=dtype, device=device)
    q[N // 4 : N // 4 + N // 2, N // 4 : N // 4 + N // 2] = 1
    return q


def probe_mask(N: int) -> Tensor:
    """M_probe (N, N) complex64: 1 where the distance to ``(N/2 - 1/2, N/2 - 1/2)`` < N//4."""
    idx = torch.arange(N, dtype=torch.float64) - N / 2 + 0.5
    d = torch.sqrt(idx[:, None] ** 2 + idx[None, :] ** 2)
    return (d < N // 4).to(torch.complex64)


def _gaussian_window(n: int, std: float) -> Tensor:
    k = torch.arange(n, dtype=torch.float64) - (n - 1) / 2.0
    w = torch.exp(-0.5 * (k / std) ** 2)
    return w / w.max()


def _gaussian_filter_symmetric(img: Tensor, sigma: float, truncate: float = 4.0) -> Tensor:
    """SciPy ``ndimage.gaussian_filter`` (mode "reflect" = edge-repeating mirror), float64 2-D."""
    radius = int(truncate * sigma + 0.5)
    k = torch.arange(-radius, radius + 1, dtype=torch.float64)
    w = torch.exp(-0.5 * (k / sigma) ** 2)
    w = w / w.sum()
    out = img[None, None]
    # F.pad has no "symmetric" mode: mirror including the edge pixel by explicit flips
    for dim in (2, 3):
        if dim == 2:
            top = out[:, :, :radius].flip(2)
            bottom = out[:, :, -radius:].flip(2)
            out = torch.cat([top, out, bottom], dim=2)
            kernel = w.view(1, 1, -1, 1)
        else:
            left = out[:, :, :, :radius].flip(3)
            right = out[:, :, :, -radius:].flip(3)
            out = torch.cat([left, out, right], dim=3)
            kernel = w.view(1, 1, 1, -1)
        out = F.conv2d(out, kernel)
    return out[0, 0]


def default_probe(N: int, default_probe_scale: float = 0.7) -> Tensor:
    """Idealised probe of physics.md 2.1: smoothed disk, (N, N) complex64, peak 1 + 1e-9."""
    std = N / (default_probe_scale * math.pi**2)
    lw = _gaussian_window(N, std)
    disk = ((lw[:, None] * lw[None, :]) > 0.5).to(torch.float64)
    smooth = _gaussian_filter_symmetric(disk, 1.0) + 1e-9
    return smooth.to(torch.complex64)


def normalize_probe(probe: Tensor, probe_scale: float) -> Tensor:
    """``P / (probe_scale · mean|M_probe · P|)`` (physics.md 2.3) for an (N, N) or (N, N, 1)
    probe, returned in the probe's layout and precision."""
    N = probe.shape[0]
    mask = probe_mask(N).to(device=probe.device, dtype=probe.dtype)
    if probe.ndim == 3:
        mask = mask[..., None]
    denom = probe_scale * torch.mean(torch.abs(mask * probe))
    return probe / denom


# --------------------------------------------------------------------------- translation


def axis_sampling(
    start: int, count: int, shift: Tensor, size: int
) -> tuple[tuple[Tensor, Tensor], tuple[Tensor, Tensor], tuple[Tensor, Tensor]]:
    """Indices, weights and validity of the two bilinear neighbours along one axis.

    ``shift`` (..., 1) float32; output pixel ``p`` samples coordinate ``float32(p) - shift``.
    """
    pos = torch.arange(start, start + count, dtype=torch.float32, device=shift.device)
    coord = pos - shift  # float32 sample coordinate (physics.md 7.1 precision note)
    base = torch.floor(coord)
    frac = coord - base
    i0 = base.to(torch.int64)
    i1 = i0 + 1
    valid0 = (i0 >= 0) & (i0 <= size - 1)
    valid1 = (i1 >= 0) & (i1 <= size - 1)
    return (i0.clamp(0, size - 1), i1.clamp(0, size - 1)), (1 - frac, frac), (valid0, valid1)


def translate(
    x: Tensor,
    shifts: Tensor,
    window: tuple[int, int, int, int] | None = None,
    interpolation: str = "bilinear",
) -> Tensor:
    """``(T_t u)(x, y) = u_bilin(x - tx, y - ty)`` per image and channel (physics.md 7.1).

    ``x`` (B, C, H, W) real or complex; ``shifts`` (B, C, 2) or (B, 2) ``[tx, ty]``. Corners
    outside the image contribute zero. ``window = (row0, col0, h, w)`` returns only that part of
    the translated image (the same values as cropping the full result).
    """
    if interpolation != "bilinear":
        raise ValueError(
            f"interpolation={interpolation!r} is not supported; only 'bilinear' is (physics.md 7.1)"
        )
    planes, was_complex = _split(x)
    B, K, H, W = planes.shape
    shifts = shifts.to(torch.float32)
    if shifts.dim() == 2:
        shifts = shifts[:, None, :].expand(B, K // (2 if was_complex else 1), 2)
    if was_complex:
        shifts = torch.cat([shifts, shifts], dim=1)
    if shifts.shape[:2] != (B, K):
        raise ValueError(
            f"shifts of shape {tuple(shifts.shape)} do not match images {tuple(x.shape)}"
        )
    r0, c0, h, w = window if window is not None else (0, 0, H, W)

    (ix0, ix1), (ax0, ax1), (vx0, vx1) = axis_sampling(c0, w, shifts[..., 0:1], W)
    (iy0, iy1), (ay0, ay1), (vy0, vy1) = axis_sampling(r0, h, shifts[..., 1:2], H)

    flat = planes.reshape(B, K, H * W)
    out = None
    # corner order of physics.md 7.1: (x0, y0), (x0+1, y0), (x0, y0+1), (x0+1, y0+1).
    # A corner outside the image gets weight +0 (the factors are >= 0, so zeroing one factor
    # gives exactly what zeroing the product would).
    for iy, ay, vy in ((iy0, ay0, vy0), (iy1, ay1, vy1)):
        row_base = (iy * W)[..., :, None]
        ay_in = torch.where(vy, ay, 0.0)[..., :, None]
        for ix, ax, vx in ((ix0, ax0, vx0), (ix1, ax1, vx1)):
            weight = torch.where(vx, ax, 0.0)[..., None, :] * ay_in
            idx = (row_base + ix[..., None, :]).reshape(B, K, h * w)
            values = torch.gather(flat, 2, idx).reshape(B, K, h, w)
            term = values * weight
            out = term if out is None else out + term
    assert out is not None
    return _join(out, was_complex)


# --------------------------------------------------------------------------- canvas geometry


def pad_to(x: Tensor, M: int) -> Tensor:
    """Zero-pad the last two axes from N to M, ``(M - N)//2`` on every side (M - N even)."""
    N = x.shape[-1]
    if (M - N) % 2 or M < N:
        raise ValueError(f"cannot pad N={N} to M={M}: M - N must be even and >= 0")
    p = (M - N) // 2
    return F.pad(x, (p, p, p, p))


def trim(canvas: Tensor, N: int) -> Tensor:
    """Central N x N of the last two axes (``(M - N)//2`` off every side)."""
    M = canvas.shape[-1]
    if (M - N) % 2 or M < N:
        raise ValueError(f"cannot trim M={M} to N={N}: M - N must be even and >= 0")
    p = (M - N) // 2
    return canvas[..., p : p + N, p : p + N]


def flat_to_channel(x: Tensor, C: int) -> Tensor:
    """(B*C, 1, N, N) -> (B, C, N, N); flat index b*C + c."""
    BC = x.shape[0]
    if BC % C:
        raise ValueError(f"flat batch {BC} is not a multiple of C={C}")
    return x.reshape(BC // C, C, *x.shape[-2:])


def channel_to_flat(x: Tensor) -> Tensor:
    """(B, C, N, N) -> (B*C, 1, N, N); flat index b*C + c."""
    return x.reshape(x.shape[0] * x.shape[1], 1, *x.shape[-2:])


def sum_channels(x: Tensor) -> Tensor:
    """Sum over dim 1 in channel order (keepdim)."""
    out = x[:, 0:1]
    for c in range(1, x.shape[1]):
        out = out + x[:, c : c + 1]
    return out


def merge_patches(patches: Tensor, shifts: Tensor, M: int) -> Tensor:
    """In-model merge of physics.md 8.1: ``Σ_c T_{-r_c}(pad_M(obj_c)) / (Σ_c T_{-r_c}(pad_M(Q)) + 0.001)``.

    ``patches`` (B, C, N, N) complex or real, ``shifts`` = r (B, C, 2); returns (B, 1, M, M).
    """
    B, C, N, _ = patches.shape
    neg = -shifts
    num = sum_channels(translate(pad_to(patches, M), neg))
    q = pad_to(center_mask(N, device=patches.device).expand(B, C, N, N), M)
    den = sum_channels(translate(q, neg)) + MERGE_EPSILON
    return divide_parts(num, den)


def extract_patches(canvas: Tensor, shifts: Tensor, N: int) -> Tensor:
    """physics.md 7.2: ``patch_{b,c} = trim_N(T_{+r_c}(canvas_b))``; (B, 1, M, M) -> (B, C, N, N)."""
    B, _, M, _ = canvas.shape
    C = shifts.shape[1]
    if (M - N) % 2:
        raise ValueError(f"cannot extract N={N} patches from M={M}: M - N must be even")
    p = (M - N) // 2
    return translate(canvas.expand(B, C, M, M), shifts, window=(p, p, N, N))


# --------------------------------------------------------------------------- forward model


def gaussian_kernel(sigma: float) -> Tensor:
    """3-tap ``softmax(-k²/(2σ²))``, k = -1, 0, 1, float32 (on the CPU)."""
    k2 = torch.tensor([1.0, 0.0, 1.0], dtype=torch.float32)
    # the denominator is formed in double precision and rounded once, as the reference does
    return torch.softmax(-k2 / float(2.0 * float(sigma) ** 2), dim=0)


def gaussian_smooth(x: Tensor, sigma: float) -> Tensor:
    """3x3 separable Gaussian (physics.md 9), REFLECT padding, per channel and complex part."""
    planes, was_complex = _split(x)
    K = planes.shape[1]
    w = gaussian_kernel(sigma).to(planes.device)
    kernel = (w[:, None] * w[None, :]).expand(K, 1, 3, 3).contiguous()
    padded = F.pad(planes, (1, 1, 1, 1), mode="reflect")
    out = F.conv2d(padded, kernel, groups=K)
    return _join(out, was_complex)


def illuminate(
    obj: Tensor, probe: Tensor, sigma: float = 0.0, mask: Tensor | None = None
) -> Tensor:
    """Exit wave ``O·P`` (physics.md 2.4), then optional smoothing, then optional probe mask.

    ``probe`` is already normalised, (N, N) complex64; ``mask`` the complex M_probe or None.
    """
    psi = obj * probe
    if sigma > 0:
        psi = gaussian_smooth(psi, sigma)
    if mask is not None:
        psi = psi * mask
    return psi


def diffract(psi: Tensor) -> Tensor:
    """Far-field amplitude of physics.md 3 (pad=False): ``sqrt(fftshift(Re(conj F·F)/(N·N)))``."""
    h, w = psi.shape[-2:]
    f = torch.fft.fft2(psi)
    re, im = f.real, f.imag
    intensity = (re * re + im * im) / (h * w)
    intensity = torch.fft.fftshift(intensity, dim=(-2, -1))
    return torch.sqrt(intensity)


# --------------------------------------------------------------------------- stitching


def stitch(patches: Tensor, offsets: np.ndarray | Tensor, crop: int = 20) -> Tensor:
    """Post-hoc stitching of physics.md 8.2.

    ``patches`` (P, 1, N, N) complex64 (one per group); ``offsets`` any shape with P·2 entries
    ``[x, y]`` (float64 global offsets). Returns the (S, S) complex64 object.
    """
    P, _, N, _ = patches.shape
    off = torch.as_tensor(np.asarray(offsets) if not torch.is_tensor(offsets) else offsets)
    off = off.to(patches.device)
    if P == 0:
        raise ValueError("stitch needs at least one patch")
    if off.numel() != 2 * P:
        raise ValueError(
            f"offsets of shape {tuple(off.shape)} do not give one [x, y] per patch (P={P})"
        )
    off = off.reshape(P, 2).to(torch.float32)
    if crop % 2 or crop > N or crop <= 0:
        raise ValueError(f"crop={crop} must be even, positive and at most N={N}")
    # the float32 rounding of the exact mean of the float32 offsets (no summation-order drift)
    centre = off.to(torch.float64).mean(dim=0).to(torch.float32)
    d = off - centre
    pad = math.ceil(float(torch.max(torch.abs(d)))) if P else 0
    if pad % 2:
        pad += 1
    lo = N // 2 - crop // 2
    cropped = patches[:, 0, lo : lo + crop, lo : lo + crop]
    side = crop + 2 * pad
    acc = torch.zeros((3, side, side), dtype=torch.float32, device=patches.device)
    ones = torch.ones((1, crop, crop), dtype=torch.float32, device=patches.device)
    for start in range(0, P, STITCH_CHUNK):
        part = cropped[start : start + STITCH_CHUNK]
        n = part.shape[0]
        planes = torch.stack([part.real, part.imag, ones.expand(n, crop, crop)], dim=1)
        planes = F.pad(planes, (pad, pad, pad, pad))
        moved = translate(planes, d[start : start + n])
        acc = acc + moved.sum(dim=0)
    weight = acc[2] + STITCH_EPSILON
    return torch.complex(acc[0] / weight, acc[1] / weight)


# --------------------------------------------------------------------------- losses


def poisson_nll(pred_intensity: Tensor, target_intensity: Tensor) -> Tensor:
    """``mean(Î − Y·ln max(Î, 1e-12))`` over every element (physics.md 10)."""
    log_pred = torch.log(torch.clamp(pred_intensity, min=NLL_FLOOR))
    return torch.mean(pred_intensity - target_intensity * log_pred)


def mae(pred: Tensor, target: Tensor) -> Tensor:
    """``mean |pred − target|``."""
    return torch.mean(torch.abs(pred - target))


def total_variation(z: Tensor) -> Tensor:
    """Sum of squared forward differences along width and height, real and imaginary parts.

    ``z`` (..., H, W) real or complex; summed over everything (physics.md 10).
    """
    parts = [z.real, z.imag] if z.is_complex() else [z]
    total = torch.zeros((), dtype=torch.float32, device=z.device)
    for p in parts:
        dx = p[..., :, 1:] - p[..., :, :-1]
        dy = p[..., 1:, :] - p[..., :-1, :]
        total = total + torch.sum(dx * dx) + torch.sum(dy * dy)
    return total


def complex_mae(target: Tensor, z: Tensor) -> Tensor:
    """``mean |z − t|`` (complex modulus)."""
    return torch.mean(torch.abs(z - target))


def realspace_target(Y_I: Tensor, positions: Tensor) -> Tensor:
    """Real-space target: channel 0 of ``Y_I`` in the group-centred frame,
    ``T_{-r_0}(Y_I[:, 0])`` (B, 1, N, N) (physics.md 10)."""
    shifts = -positions[:, 0:1].reshape(positions.shape[0], 1, 2)
    return translate(Y_I[:, 0:1], shifts)


# --------------------------------------------------------------------------- reference layout


def _t(a: np.ndarray) -> Tensor:
    arr = np.asarray(a)
    return devices.from_numpy(arr, np.complex64 if np.iscomplexobj(arr) else np.float32)


def _n(t: Tensor) -> np.ndarray:
    return devices.to_numpy(t)


def nhwc_to_nchw(x: Tensor) -> Tensor:
    """(B, H, W, C) -> (B, C, H, W)."""
    return x.permute(0, 3, 1, 2)


def nchw_to_nhwc(x: Tensor) -> Tensor:
    """(B, C, H, W) -> (B, H, W, C)."""
    return x.permute(0, 2, 3, 1)


def positions_to_shifts(positions: Tensor) -> Tensor:
    """Channels-first positions (B, C, 1, 2) ``[x, y]`` -> shifts (B, C, 2) (the reference
    layout (B, 1, 2, C) becomes channels-first by :func:`nhwc_to_nchw`)."""
    return positions.reshape(positions.shape[0], positions.shape[1], 2)


class ReferenceLayoutOps:
    """The :class:`backends.base.Ops` namespace: NumPy in, NumPy out, NHWC reference layout,
    computed by the torch functions of this module in float32 / complex64."""

    def combine_complex(self, amp: np.ndarray, phi: np.ndarray, mode: str = "polar") -> np.ndarray:
        with torch.no_grad():
            return _n(combine_complex(_t(amp), _t(phi), mode))

    def default_probe(self, N: int, default_probe_scale: float = 0.7) -> np.ndarray:
        return _n(default_probe(N, default_probe_scale))

    def probe_mask(self, N: int) -> np.ndarray:
        return _n(probe_mask(N).real)

    def center_mask(self, N: int) -> np.ndarray:
        return _n(center_mask(N))

    def normalize_probe(self, probe: np.ndarray, probe_scale: float) -> np.ndarray:
        p = devices.from_numpy(probe, np.complex64)
        return _n(normalize_probe(p, probe_scale))

    def illuminate(
        self, obj: np.ndarray, probe: np.ndarray, sigma: float = 0.0, mask: bool = False
    ) -> np.ndarray:
        o = nhwc_to_nchw(_t(np.asarray(obj, dtype=np.complex64)))
        p = devices.from_numpy(np.asarray(probe).reshape(o.shape[-2:]), np.complex64)
        m = probe_mask(o.shape[-1]).to(o.device) if mask else None
        with torch.no_grad():
            out = illuminate(o, p, sigma, m)
        return _n(nchw_to_nhwc(out))

    def diffract(self, psi: np.ndarray) -> np.ndarray:
        x = nhwc_to_nchw(_t(np.asarray(psi, dtype=np.complex64)))
        return _n(nchw_to_nhwc(diffract(x)))

    def translate(self, images: np.ndarray, shifts: np.ndarray) -> np.ndarray:
        x = nhwc_to_nchw(_t(images))
        s = devices.from_numpy(shifts, np.float32).reshape(-1, 2)
        return _n(nchw_to_nhwc(translate(x, s)))

    def extract_patches(self, canvas: np.ndarray, positions: np.ndarray, N: int) -> np.ndarray:
        c = nhwc_to_nchw(_t(canvas))
        s = positions_to_shifts(nhwc_to_nchw(_t(positions)))
        return _n(nchw_to_nhwc(channel_to_flat(extract_patches(c, s, N))))

    def merge_patches(self, patches: np.ndarray, positions: np.ndarray, M: int) -> np.ndarray:
        p = nhwc_to_nchw(_t(patches))
        s = positions_to_shifts(nhwc_to_nchw(_t(positions)))
        return _n(nchw_to_nhwc(merge_patches(p, s, M)))

    def pad_to(self, x: np.ndarray, M: int) -> np.ndarray:
        return _n(nchw_to_nhwc(pad_to(nhwc_to_nchw(_t(x)), M)))

    def trim(self, canvas: np.ndarray, N: int) -> np.ndarray:
        return _n(nchw_to_nhwc(trim(nhwc_to_nchw(_t(canvas)), N))).copy()

    def flat_to_channel(self, x: np.ndarray, C: int) -> np.ndarray:
        return _n(nchw_to_nhwc(flat_to_channel(nhwc_to_nchw(_t(x)), C))).copy()

    def channel_to_flat(self, x: np.ndarray) -> np.ndarray:
        return _n(nchw_to_nhwc(channel_to_flat(nhwc_to_nchw(_t(x))))).copy()

    def gaussian_smooth(self, x: np.ndarray, sigma: float) -> np.ndarray:
        return _n(nchw_to_nhwc(gaussian_smooth(nhwc_to_nchw(_t(x)), sigma)))

    def stitch(self, patches: np.ndarray, offsets: np.ndarray, crop: int = 20) -> np.ndarray:
        p = nhwc_to_nchw(_t(np.asarray(patches, dtype=np.complex64)))
        return _n(stitch(p, np.asarray(offsets, dtype=np.float64), crop))[..., None]

    def poisson_nll(self, pred_intensity: np.ndarray, target_intensity: np.ndarray) -> float:
        return float(poisson_nll(_t(pred_intensity), _t(target_intensity)))

    def mae(self, pred: np.ndarray, target: np.ndarray) -> float:
        return float(mae(_t(pred), _t(target)))

    def total_variation(self, z: np.ndarray) -> float:
        return float(total_variation(nhwc_to_nchw(_t(z))))

    def complex_mae(self, target: np.ndarray, z: np.ndarray) -> float:
        return float(complex_mae(_t(target), _t(z)))


NUMPY_OPS = ReferenceLayoutOps()
"""The reference-layout ops namespace exposed by the adapter."""
