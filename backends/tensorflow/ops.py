"""Physics operations of docs/physics.md in TensorFlow (float32 / complex64, NHWC).

Two surfaces:

* tensor functions (``translate``, ``merge_patches``, ...) used by the Keras layers; they take and
  return ``tf.Tensor`` objects and are differentiable;
* :class:`TensorFlowOps`, the backend's ``ops`` namespace of :class:`backends.base.Ops`: NumPy in,
  NumPy out, the same names and signatures as the float64 oracle :mod:`backends.physics`.

Translation is an explicit bilinear gather in pixel coordinates with the sample coordinate
``x - tx`` formed in float32 and per-corner zero fill (physics.md section 7.1).
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from backends.core.constants import MERGE_EPSILON, NLL_FLOOR, STITCH_EPSILON

STITCH_CHUNK = 1024  # patches translated at once when stitching (never changes results)


# --------------------------------------------------------------------------- masks and probes


def center_mask(N: int) -> tf.Tensor:
    """Q: ones on rows/cols ``[N/4, 3N/4)`` of an N x N square, float32 (physics.md 8.1)."""
    q = np.zeros((N, N), np.float32)
    q[N // 4 : 3 * N // 4, N // 4 : 3 * N // 4] = 1.0
    return tf.constant(q)


def probe_mask(N: int) -> tf.Tensor:
    """M_probe (N, N) float32: 1 where the distance to ``(N/2 - 1/2, N/2 - 1/2)`` < N//4."""
    idx = tf.range(N, dtype=tf.float32) - (N / 2 - 0.5)
    d = tf.sqrt(idx[:, None] ** 2 + idx[None, :] ** 2)
    return tf.cast(d < float(N // 4), tf.float32)


def default_probe(N: int, default_probe_scale: float = 0.7) -> np.ndarray:
    """The idealised smoothed-disk probe of physics.md 2.1, (N, N) complex64 (NumPy/SciPy,
    as the reference computes it)."""
    from scipy.ndimage import gaussian_filter
    from scipy.signal.windows import gaussian

    sigma_w = N / (default_probe_scale * math.pi**2)
    window = gaussian(N, std=sigma_w, sym=True)
    disk = (np.outer(window, window) > 0.5).astype(np.float64)
    smoothed = gaussian_filter(disk, sigma=1) + 1e-9
    return smoothed.astype(np.complex64)


def normalize_probe(probe: tf.Tensor, probe_scale: float) -> tf.Tensor:
    """``P / (probe_scale * mean|M_probe * P|)`` (physics.md 2.3) for an (N, N) or (N, N, 1)
    probe, complex64 in the probe's layout."""
    probe = tf.convert_to_tensor(probe, tf.complex64)
    mask = tf.cast(probe_mask(int(probe.shape[0])), tf.complex64)
    if probe.shape.rank == 3:
        mask = mask[..., None]
    divisor = float(probe_scale) * tf.reduce_mean(tf.abs(mask * probe))
    return probe / tf.cast(divisor, tf.complex64)


# --------------------------------------------------------------------------- object field


def combine_complex(amp: tf.Tensor, phi: tf.Tensor, mode: str = "polar") -> tf.Tensor:
    """O = A cos(phi) + i A sin(phi) ("polar") or A + i phi ("legacy_rect"), complex64."""
    amp = tf.convert_to_tensor(amp, tf.float32)
    phi = tf.convert_to_tensor(phi, tf.float32)
    if mode == "polar":
        return tf.complex(amp * tf.cos(phi), amp * tf.sin(phi))
    if mode == "legacy_rect":
        return tf.complex(amp, phi)
    raise ValueError(f"combine_mode={mode!r} is not allowed; choose one of: polar, legacy_rect")


def _split_complex(x: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor | None]:
    if x.dtype.is_complex:
        return tf.math.real(x), tf.math.imag(x)
    return x, None


def _on_parts(fn, x: tf.Tensor) -> tf.Tensor:
    """Apply a real-valued spatial op to real and imaginary parts separately (channels
    stacked so one call serves both)."""
    if not x.dtype.is_complex:
        return fn(x)
    c = tf.shape(x)[-1]
    out = fn(tf.concat([tf.math.real(x), tf.math.imag(x)], axis=-1))
    return tf.complex(out[..., :c], out[..., c:])


# --------------------------------------------------------------------------- translation


def _bilinear(
    images: tf.Tensor,
    shifts: tf.Tensor,
    out_h: int | None = None,
    out_w: int | None = None,
    start_y: int = 0,
    start_x: int = 0,
) -> tf.Tensor:
    """Real bilinear translation of physics.md 7.1, evaluated on the output window
    rows ``[start_y, start_y + out_h)`` x cols ``[start_x, start_x + out_w)``."""
    shape = tf.shape(images)
    b, h, w, c = shape[0], shape[1], shape[2], shape[3]
    out_h = images.shape[1] if out_h is None else out_h
    out_w = images.shape[2] if out_w is None else out_w
    shifts = tf.cast(shifts, tf.float32)
    # sample coordinates, formed in float32 exactly as the reference does
    xs = tf.range(start_x, start_x + out_w, dtype=tf.float32)[None, :] - shifts[:, 0:1]
    ys = tf.range(start_y, start_y + out_h, dtype=tf.float32)[None, :] - shifts[:, 1:2]
    x0 = tf.floor(xs)
    y0 = tf.floor(ys)
    wx = (xs - x0)[:, None, :, None]  # (B, 1, W', 1)
    wy = (ys - y0)[:, :, None, None]  # (B, H', 1, 1)
    x0i = tf.cast(x0, tf.int32)
    y0i = tf.cast(y0, tf.int32)
    x1i = x0i + 1
    y1i = y0i + 1

    flat = tf.reshape(images, tf.stack([b, h * w, c]))

    def corner(yi: tf.Tensor, xi: tf.Tensor) -> tf.Tensor:
        valid = ((yi >= 0) & (yi < h))[:, :, None] & ((xi >= 0) & (xi < w))[:, None, :]
        idx = (
            tf.clip_by_value(yi, 0, h - 1)[:, :, None] * w
            + tf.clip_by_value(xi, 0, w - 1)[:, None, :]
        )
        vals = tf.gather(flat, tf.reshape(idx, tf.stack([b, -1])), batch_dims=1)
        vals = tf.reshape(vals, tf.stack([b, out_h, out_w, c]))
        return tf.where(valid[..., None], vals, tf.zeros_like(vals))

    ia = corner(y0i, x0i)
    ib = corner(y0i, x1i)
    ic = corner(y1i, x0i)
    id_ = corner(y1i, x1i)
    wa = (1.0 - wx) * (1.0 - wy)
    wb = wx * (1.0 - wy)
    wc = (1.0 - wx) * wy
    wd = wx * wy
    return wa * ia + wb * ib + wc * ic + wd * id_


def translate(images: tf.Tensor, shifts: tf.Tensor, interpolation: str = "bilinear") -> tf.Tensor:
    """``(T_t u)(x, y) = u(x - tx, y - ty)`` for images (B, H, W, C) real or complex and
    shifts (B, 2) ``[tx, ty]``; per-corner zero fill; complex parts translated separately."""
    if interpolation != "bilinear":
        raise ValueError(
            f"interpolation={interpolation!r} is not supported; only 'bilinear' is (physics.md 7.1)"
        )
    return _on_parts(lambda x: _bilinear(x, shifts), tf.convert_to_tensor(images))


def _translate_window(images: tf.Tensor, shifts: tf.Tensor, start: int, size: int) -> tf.Tensor:
    """``trim(translate(images, shifts))`` computed only on the square window
    ``[start, start + size)`` of rows and columns."""
    return _on_parts(
        lambda x: _bilinear(x, shifts, size, size, start, start), tf.convert_to_tensor(images)
    )


# --------------------------------------------------------------------------- geometry


def pad_to(x: tf.Tensor, M: int) -> tf.Tensor:
    """Zero-pad (B, N, N, C) by ``(M - N)//2`` on every side (M - N must be even)."""
    N = int(x.shape[1])
    if (M - N) % 2 or M < N:
        raise ValueError(f"cannot pad N={N} to M={M}: M - N must be even and >= 0")
    p = (M - N) // 2
    return tf.pad(x, [[0, 0], [p, p], [p, p], [0, 0]])


def trim(canvas: tf.Tensor, N: int) -> tf.Tensor:
    """Central N x N of a (B, M, M, C) canvas."""
    M = int(canvas.shape[1])
    if (M - N) % 2 or M < N:
        raise ValueError(f"cannot trim M={M} to N={N}: M - N must be even and >= 0")
    p = (M - N) // 2
    return canvas[:, p : p + N, p : p + N, :]


def flat_to_channel(x: tf.Tensor, C: int) -> tf.Tensor:
    """(B*C, N, N, 1) -> (B, N, N, C); flat index ``b*C + c``."""
    h, w = int(x.shape[1]), int(x.shape[2])
    grouped = tf.reshape(x, [-1, C, h, w])
    return tf.transpose(grouped, [0, 2, 3, 1])


def channel_to_flat(x: tf.Tensor) -> tf.Tensor:
    """(B, N, N, C) -> (B*C, N, N, 1); flat index ``b*C + c``."""
    h, w = int(x.shape[1]), int(x.shape[2])
    return tf.reshape(tf.transpose(x, [0, 3, 1, 2]), [-1, h, w, 1])


def positions_to_shifts(positions: tf.Tensor) -> tf.Tensor:
    """(B, 1, 2, C) ``[x, y]`` positions -> (B*C, 2) shifts in flat order ``b*C + c``."""
    positions = tf.convert_to_tensor(positions, tf.float32)
    return tf.reshape(tf.transpose(positions[:, 0, :, :], [0, 2, 1]), [-1, 2])


def extract_patches(canvas: tf.Tensor, positions: tf.Tensor, N: int) -> tf.Tensor:
    """physics.md 7.2: ``patch_{b,c} = trim_N(T_{+r_c}(canvas_b))`` -> (B*C, N, N, 1)."""
    C = int(positions.shape[-1])
    M = int(canvas.shape[1])
    repeated = tf.repeat(canvas, C, axis=0) if C > 1 else canvas
    return _translate_window(repeated, positions_to_shifts(positions), (M - N) // 2, N)


def merge_patches(
    patches: tf.Tensor, positions: tf.Tensor, M: int, mask: tf.Tensor | None = None
) -> tf.Tensor:
    """physics.md 8.1: ``sum_c T_{-r_c}(pad_M(obj_c)) / (sum_c T_{-r_c}(pad_M(Q)) + 0.001)``,
    real and imaginary parts separately -> (B, M, M, 1)."""
    N = int(patches.shape[1])
    C = int(patches.shape[-1])
    shifts = -positions_to_shifts(positions)
    flat = channel_to_flat(tf.convert_to_tensor(patches))
    num = translate(pad_to(flat, M), shifts)
    num = tf.reduce_sum(tf.reshape(num, [-1, C, M, M, 1]), axis=1)
    q = center_mask(N) if mask is None else mask
    q = tf.broadcast_to(pad_to(q[None, :, :, None], M), tf.stack([tf.shape(shifts)[0], M, M, 1]))
    den = tf.reduce_sum(tf.reshape(_bilinear(q, shifts), [-1, C, M, M, 1]), axis=1)
    den = den + MERGE_EPSILON
    if num.dtype.is_complex:
        return tf.complex(tf.math.real(num) / den, tf.math.imag(num) / den)
    return num / den


def stitch(patches: tf.Tensor, offsets: np.ndarray, crop: int = 20) -> tf.Tensor:
    """physics.md 8.2 post-hoc stitching of (P, N, N, 1) patches at global offsets
    (P, 1, 2, 1) or (P, 1, 1, 2) -> (S, S, 1) complex64, ``S = crop + 2 pad``."""
    patches = tf.convert_to_tensor(patches)
    P, N = int(patches.shape[0]), int(patches.shape[1])
    if P == 0:
        raise ValueError("stitch needs at least one patch")
    if isinstance(crop, bool) or crop <= 0 or crop % 2 or crop > N:
        raise ValueError(f"crop={crop!r} must be an even integer in [2, N={N}]")
    offs = np.asarray(offsets)
    if offs.size != 2 * P:
        raise ValueError(f"offsets of shape {offs.shape} do not give one [x, y] per patch ({P})")
    offs32 = offs.reshape(P, 2).astype(np.float32)
    # mean of the float32 offsets rounded once to float32, then d in float32
    centre = offs32.astype(np.float64).mean(axis=0).astype(np.float32)
    d_np = offs32 - centre
    d = tf.constant(d_np)
    pad = math.ceil(float(np.max(np.abs(d_np))))
    if pad % 2:
        pad += 1
    lo = N // 2 - crop // 2
    cropped = patches[:, lo : lo + crop, lo : lo + crop, :]
    side = crop + 2 * pad
    num = tf.zeros([side, side, 1], patches.dtype)
    den = tf.zeros([side, side, 1], tf.float32)
    for start in range(0, P, STITCH_CHUNK):
        chunk = cropped[start : start + STITCH_CHUNK]
        dc = d[start : start + STITCH_CHUNK]
        padded = tf.pad(chunk, [[0, 0], [pad, pad], [pad, pad], [0, 0]])
        num = num + tf.reduce_sum(translate(padded, dc), axis=0)
        ones = tf.pad(
            tf.ones_like(tf.math.real(chunk) if chunk.dtype.is_complex else chunk),
            [[0, 0], [pad, pad], [pad, pad], [0, 0]],
        )
        den = den + tf.reduce_sum(_bilinear(ones, dc), axis=0)
    den = den + STITCH_EPSILON
    if num.dtype.is_complex:
        return tf.complex(tf.math.real(num) / den, tf.math.imag(num) / den)
    return num / den


# --------------------------------------------------------------------------- illumination


def gaussian_kernel(sigma: float) -> tf.Tensor:
    """3 x 3 kernel ``w_y (x) w_x`` with ``w_k = softmax_k(-k^2 / (2 sigma^2))`` (physics.md 9)."""
    k = tf.constant([-1.0, 0.0, 1.0], tf.float32)
    w = tf.nn.softmax(-(k**2) / (2.0 * float(sigma) ** 2))
    return w[:, None] * w[None, :]


def gaussian_smooth(x: tf.Tensor, sigma: float) -> tf.Tensor:
    """3 x 3 Gaussian smoothing with REFLECT padding, per channel, real/imag separately."""
    kernel = gaussian_kernel(sigma)

    def smooth(u: tf.Tensor) -> tf.Tensor:
        c = u.shape[-1]
        k = tf.tile(kernel[:, :, None, None], [1, 1, c, 1])
        padded = tf.pad(u, [[0, 0], [1, 1], [1, 1], [0, 0]], mode="REFLECT")
        return tf.nn.depthwise_conv2d(padded, k, strides=[1, 1, 1, 1], padding="VALID")

    x = tf.convert_to_tensor(x)
    if not x.dtype.is_complex:
        return smooth(x)
    return tf.complex(smooth(tf.math.real(x)), smooth(tf.math.imag(x)))


def illuminate(
    obj: tf.Tensor, probe: tf.Tensor, sigma: float = 0.0, mask: bool = False
) -> tf.Tensor:
    """Exit wave ``O * P`` (probe (N, N) already normalised), then smoothing if sigma > 0,
    then ``* M_probe`` if mask (physics.md 2.4)."""
    probe = tf.convert_to_tensor(probe, tf.complex64)
    psi = tf.convert_to_tensor(obj, tf.complex64) * probe[None, :, :, None]
    if sigma > 0:
        psi = gaussian_smooth(psi, sigma)
    if mask:
        psi = psi * tf.cast(probe_mask(int(probe.shape[0])), tf.complex64)[None, :, :, None]
    return psi


# --------------------------------------------------------------------------- diffraction


def diffract(psi: tf.Tensor, pad: bool = False) -> tf.Tensor | tuple[tf.Tensor, tf.Tensor]:
    """physics.md 3: ``sqrt(fftshift(Re(conj(F) F) / (h w)))`` with ``F = FFT2(psi)`` over the
    spatial axes of (B, H, W, C) complex64 -> float32. ``pad=True`` zero-pads by ``h//4``,
    ``w//4`` first (still dividing by the unpadded ``h w``) and also returns the padded field."""
    psi = tf.convert_to_tensor(psi, tf.complex64)
    h, w = int(psi.shape[1]), int(psi.shape[2])
    field = psi
    if pad:
        field = tf.pad(psi, [[0, 0], [h // 4, h // 4], [w // 4, w // 4], [0, 0]])
    hp, wp = int(field.shape[1]), int(field.shape[2])
    spectrum = tf.signal.fft2d(tf.transpose(field, [0, 3, 1, 2]))
    intensity = tf.math.real(tf.math.conj(spectrum) * spectrum) / float(h * w)
    intensity = tf.roll(intensity, shift=[hp // 2, wp // 2], axis=[2, 3])
    amplitude = tf.sqrt(tf.transpose(intensity, [0, 2, 3, 1]))
    if pad:
        return amplitude, field
    return amplitude


# --------------------------------------------------------------------------- losses


def poisson_nll(pred_intensity: tf.Tensor, target_intensity: tf.Tensor) -> tf.Tensor:
    """Mean of ``I_pred - I_target * ln(max(I_pred, 1e-12))`` (physics.md 10)."""
    pred = tf.convert_to_tensor(pred_intensity, tf.float32)
    target = tf.convert_to_tensor(target_intensity, tf.float32)
    return tf.reduce_mean(pred - target * tf.math.log(tf.maximum(pred, NLL_FLOOR)))


def mae(pred: tf.Tensor, target: tf.Tensor) -> tf.Tensor:
    """Mean absolute error over every element."""
    pred = tf.convert_to_tensor(pred, tf.float32)
    return tf.reduce_mean(tf.abs(pred - tf.convert_to_tensor(target, tf.float32)))


def total_variation(z: tf.Tensor) -> tf.Tensor:
    """Sum of squared forward differences along width and height of Re z and Im z."""
    z = tf.convert_to_tensor(z)
    re, im = _split_complex(z)
    parts = [re] if im is None else [re, im]
    total = tf.constant(0.0, tf.float32)
    for p in parts:
        total += tf.reduce_sum(tf.square(p[:, :, 1:, :] - p[:, :, :-1, :]))
        total += tf.reduce_sum(tf.square(p[:, 1:, :, :] - p[:, :-1, :, :]))
    return total


def complex_mae(target: tf.Tensor, z: tf.Tensor) -> tf.Tensor:
    """Mean complex modulus ``|z - t|`` over every element."""
    z = tf.convert_to_tensor(z, tf.complex64)
    return tf.reduce_mean(tf.abs(z - tf.cast(target, tf.complex64)))


def realspace_target(Y_I: tf.Tensor, positions: tf.Tensor) -> tf.Tensor:
    """Real-space target: channel 0 of ``Y_I`` translated by ``-r_0`` (physics.md 10)."""
    Y_I = tf.convert_to_tensor(Y_I, tf.float32)
    positions = tf.convert_to_tensor(positions, tf.float32)
    return _bilinear(Y_I[..., :1], -positions[:, 0, :, 0])


# --------------------------------------------------------------------------- NumPy namespace


def _c64(x: np.ndarray) -> tf.Tensor:
    return tf.constant(np.asarray(x), tf.complex64)


def _f32(x: np.ndarray) -> tf.Tensor:
    return tf.constant(np.asarray(x), tf.float32)


def _images(x: np.ndarray) -> tf.Tensor:
    x = np.asarray(x)
    return _c64(x) if np.iscomplexobj(x) else _f32(x)


class TensorFlowOps:
    """The :class:`backends.base.Ops` namespace: NumPy in, NumPy out, float32/complex64."""

    def combine_complex(self, amp: np.ndarray, phi: np.ndarray, mode: str = "polar") -> np.ndarray:
        return combine_complex(_f32(amp), _f32(phi), mode).numpy()

    def default_probe(self, N: int, default_probe_scale: float = 0.7) -> np.ndarray:
        return default_probe(N, default_probe_scale)

    def probe_mask(self, N: int) -> np.ndarray:
        return probe_mask(N).numpy()

    def center_mask(self, N: int) -> np.ndarray:
        return center_mask(N).numpy()

    def normalize_probe(self, probe: np.ndarray, probe_scale: float) -> np.ndarray:
        return normalize_probe(_c64(np.asarray(probe)), probe_scale).numpy()

    def illuminate(
        self, obj: np.ndarray, probe: np.ndarray, sigma: float = 0.0, mask: bool = False
    ) -> np.ndarray:
        p = np.asarray(probe)
        return illuminate(_c64(obj), _c64(p.reshape(p.shape[0], p.shape[1])), sigma, mask).numpy()

    def diffract(self, psi: np.ndarray) -> np.ndarray:
        return np.asarray(diffract(_c64(psi)))

    def translate(self, images: np.ndarray, shifts: np.ndarray) -> np.ndarray:
        return translate(_images(images), _f32(shifts)).numpy()

    def extract_patches(self, canvas: np.ndarray, positions: np.ndarray, N: int) -> np.ndarray:
        return extract_patches(_images(canvas), _f32(positions), N).numpy()

    def merge_patches(self, patches: np.ndarray, positions: np.ndarray, M: int) -> np.ndarray:
        return merge_patches(_images(patches), _f32(positions), M).numpy()

    def pad_to(self, x: np.ndarray, M: int) -> np.ndarray:
        return pad_to(_images(x), M).numpy()

    def trim(self, canvas: np.ndarray, N: int) -> np.ndarray:
        return trim(_images(canvas), N).numpy()

    def flat_to_channel(self, x: np.ndarray, C: int) -> np.ndarray:
        return flat_to_channel(_images(x), C).numpy()

    def channel_to_flat(self, x: np.ndarray) -> np.ndarray:
        return channel_to_flat(_images(x)).numpy()

    def gaussian_smooth(self, x: np.ndarray, sigma: float) -> np.ndarray:
        return gaussian_smooth(_images(x), sigma).numpy()

    def stitch(self, patches: np.ndarray, offsets: np.ndarray, crop: int = 20) -> np.ndarray:
        return stitch(_images(patches), np.asarray(offsets), crop).numpy()

    def poisson_nll(self, pred_intensity: np.ndarray, target_intensity: np.ndarray) -> float:
        return float(poisson_nll(_f32(pred_intensity), _f32(target_intensity)))

    def mae(self, pred: np.ndarray, target: np.ndarray) -> float:
        return float(mae(_f32(pred), _f32(target)))

    def total_variation(self, z: np.ndarray) -> float:
        return float(total_variation(_images(z)))

    def complex_mae(self, target: np.ndarray, z: np.ndarray) -> float:
        return float(complex_mae(_images(target), _c64(z)))
