"""Bilinear translation with per-corner zero fill (physics.md 7.1).

``(T_t u)(x, y) = u_bilin(x - tx, y - ty)``. The sample coordinate ``x - tx`` is formed in
float32 (the shift is cast to float32 first), exactly as the reference does, and everything
after that is float64.
"""

from __future__ import annotations

import numpy as np

from backends.physics._arrays import as_field, as_real, require_ndim

INTERPOLATIONS = ("bilinear",)


def sample_coordinates(start: int | np.ndarray, count: int, shifts: np.ndarray) -> np.ndarray:
    """``float32(index - float32(shift))`` for output indices ``start .. start+count-1``.

    ``shifts`` has shape (B,); ``start`` is one integer or one per row (B,). The result
    (B, count) is returned as float64.
    """
    first = np.asarray(start, dtype=np.int64).reshape(-1, 1)
    index = (first + np.arange(count)[None, :]).astype(np.float32)
    shift32 = np.asarray(shifts).astype(np.float32)
    return (index - shift32[:, None]).astype(np.float64)


def bilinear_gather(
    images: np.ndarray,
    xs: np.ndarray,
    ys: np.ndarray,
    source: np.ndarray | None = None,
    origin: tuple[int, int] = (0, 0),
) -> np.ndarray:
    """Sample ``images`` (B_in, H, W, C) at columns ``xs`` (B, Wo) and rows ``ys`` (B, Ho).

    Output ``(B, Ho, Wo, C)``; output ``k`` reads image ``source[k]`` (default ``k``). Corners
    ``(x0, y0), (x0+1, y0), (x0, y0+1), (x0+1, y0+1)`` get weights ``(1-wx)(1-wy), wx(1-wy),
    (1-wx)wy, wx wy``; a corner outside the image contributes zero. The image's pixel
    ``[0, 0]`` sits at coordinate ``origin`` (row, col), so a zero-padded image can be
    sampled without building the padding.
    """
    _, H, W, C = images.shape
    B = xs.shape[0]
    src = np.arange(B) if source is None else np.asarray(source)
    x0f = np.floor(xs)
    y0f = np.floor(ys)
    wx = xs - x0f
    wy = ys - y0f
    x0 = x0f.astype(np.int64)
    y0 = y0f.astype(np.int64)
    out = np.zeros((B, ys.shape[1], xs.shape[1], C), dtype=images.dtype)
    b_index = src[:, None, None]
    for dy, weight_y in ((0, 1.0 - wy), (1, wy)):
        yi = y0 + dy - origin[0]
        inside_y = (yi >= 0) & (yi <= H - 1)
        yc = np.clip(yi, 0, H - 1)
        for dx, weight_x in ((0, 1.0 - wx), (1, wx)):
            xi = x0 + dx - origin[1]
            inside_x = (xi >= 0) & (xi <= W - 1)
            xc = np.clip(xi, 0, W - 1)
            values = images[b_index, yc[:, :, None], xc[:, None, :], :]
            weight = weight_x[:, None, :] * weight_y[:, :, None]
            inside = inside_y[:, :, None] & inside_x[:, None, :]
            out += np.where(inside[..., None], weight[..., None] * values, 0.0)
    return out


def translate_window(
    images: np.ndarray,
    shifts: np.ndarray,
    row0: int | np.ndarray,
    col0: int | np.ndarray,
    height: int,
    width: int,
    source: np.ndarray | None = None,
    origin: tuple[int, int] = (0, 0),
) -> np.ndarray:
    """Rows ``row0..row0+height-1`` and columns ``col0..col0+width-1`` of ``T_shift(images)``.

    Identical to translating the whole image and slicing, without computing the rest.
    ``shifts`` is (B, 2) [tx, ty]; ``row0``/``col0`` one integer or one per output;
    ``source`` maps output k to input image ``source[k]``; ``origin`` as in
    :func:`bilinear_gather` (the image embedded in a zero canvas at that offset).
    """
    xs = sample_coordinates(col0, width, shifts[:, 0])
    ys = sample_coordinates(row0, height, shifts[:, 1])
    return bilinear_gather(images, xs, ys, source, origin)


def check_shifts(shifts: object, batch: int) -> np.ndarray:
    """Validate shifts (B, 2) [tx, ty], finite; returned as float64."""
    s = as_real(shifts, "shifts")
    if s.shape != (batch, 2):
        raise ValueError(f"shifts must have shape (B, 2) = ({batch}, 2) [tx, ty], got {s.shape}")
    if not np.all(np.isfinite(s)):
        raise ValueError("shifts must be finite (found NaN or infinity)")
    return s


def translate(
    images: np.ndarray, shifts: np.ndarray, interpolation: str = "bilinear"
) -> np.ndarray:
    """Translate each image by its shift: ``out[b](x, y) = images[b]_bilin(x - tx, y - ty)``.

    ``images`` (B, H, W, C) real or complex (parts translated independently); ``shifts``
    (B, 2) [tx, ty]: positive values move content towards larger column / row index. Integer
    shifts are exact. Only bilinear interpolation exists (physics.md 7.1 DECISION).
    """
    if interpolation not in INTERPOLATIONS:
        raise ValueError(
            f"interpolation={interpolation!r} is not supported; only 'bilinear' is implemented "
            "(physics.md 7.1: nearest-neighbour sampling is not part of the model)"
        )
    a = as_field(images, "images")
    require_ndim(a, 4, "images", "(B, H, W, C)")
    s = check_shifts(shifts, a.shape[0])
    return translate_window(a, s, 0, 0, a.shape[1], a.shape[2])
