"""Coordinate-based simulator of docs/data.md section 10.3: scan, illumination, Poisson noise."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from backends.data._geometry import default_probe, diffraction_intensity, extract_object_patches
from backends.data.npz import RawData
from backends.data.objects import make_object

SCAN_KINDS = ("random", "raster")
GENERATOR = "ptychopinn-parity simulator"
FORMAT_VERSION = 1
_KEEP_BYTES = 256 * 1024 * 1024  # patches kept between the two passes up to this size


def default_buffer(N: int, height: int, width: int) -> float:
    """``N // 2`` capped at ``min(H, W)/2 - 1`` (data.md 10.3)."""
    return min(N // 2, min(height, width) / 2 - 1)


def random_positions(
    height: int, width: int, n_images: int, buffer: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Uniform positions: ``x = r.uniform(buffer, W - buffer, n)`` then ``y`` likewise,
    ``r = RandomState(seed)``."""
    r = np.random.RandomState(seed)
    x = r.uniform(buffer, width - buffer, n_images)
    y = r.uniform(buffer, height - buffer, n_images)
    return x, y


def raster_positions(
    height: int,
    width: int,
    n_images: int,
    buffer: float,
    seed: int,
    jitter: float = 0.25,
) -> tuple[np.ndarray, np.ndarray]:
    """A jittered raster scan over ``[buffer, W - buffer] x [buffer, H - buffer]``.

    ``nx = ceil(sqrt(n * w / h))`` columns and ``ceil(n / nx)`` rows evenly spaced over the
    usable extent (``w``, ``h``); the first ``n`` grid points in row-major order are kept and
    each is moved by ``uniform(-jitter, jitter) * step`` per axis (``RandomState(seed)``, x
    draws then y draws), clipped to the extent.
    """
    w = width - 2 * buffer
    h = height - 2 * buffer
    if not (w > 0 and h > 0):
        raise ValueError(f"scan extent is empty: object {height}x{width} with buffer {buffer}")
    nx = max(1, math.ceil(math.sqrt(n_images * w / h)))
    ny = max(1, math.ceil(n_images / nx))
    gx = buffer + (np.arange(nx) + 0.5) * (w / nx)
    gy = buffer + (np.arange(ny) + 0.5) * (h / ny)
    yy, xx = np.meshgrid(gy, gx, indexing="ij")
    x = xx.reshape(-1)[:n_images]
    y = yy.reshape(-1)[:n_images]
    r = np.random.RandomState(seed)
    x = x + r.uniform(-jitter, jitter, n_images) * (w / nx)
    y = y + r.uniform(-jitter, jitter, n_images) * (h / ny)
    return np.clip(x, buffer, width - buffer), np.clip(y, buffer, height - buffer)


def simulate_scan(
    obj: np.ndarray,
    probe: np.ndarray,
    *,
    n_images: int = 500,
    nphotons: float = 1e9,
    buffer: float | None = None,
    positions_seed: int = 42,
    poisson_seed: int = 1001,
    scan: str = "random",
    jitter: float = 0.25,
    metadata: dict[str, Any] | None = None,
) -> RawData:
    """Simulate one scan of ``obj`` with ``probe`` (data.md 10.3) in float64.

    Positions (random or jittered raster), ground-truth patches (physics.md 7.3), the
    intensity scale ``s = sqrt(nphotons / mean sum (|O_p| |P|)^2)``, far-field rates
    ``lambda = fftshift(|FFT2(s O_p P)|^2) / N^2``, counts from one
    ``default_rng(poisson_seed).poisson`` call, and ``X = sqrt(k) / s`` (float32). Returns a
    RawData whose ``metadata`` records the physics parameters and seeds.
    """
    obj = np.asarray(obj)
    probe = np.asarray(probe)
    if obj.ndim != 2:
        raise ValueError(f"object must be 2-D (H, W); got shape {obj.shape}")
    if probe.ndim != 2 or probe.shape[0] != probe.shape[1]:
        raise ValueError(f"probe must be square (N, N); got shape {probe.shape}")
    if isinstance(n_images, bool) or not isinstance(n_images, (int, np.integer)) or n_images < 1:
        raise ValueError(f"n_images={n_images!r} is not allowed; it must be an integer >= 1")
    if not (math.isfinite(nphotons) and nphotons > 0):
        raise ValueError(f"nphotons={nphotons!r} is not allowed; it must be > 0 and finite")
    if scan not in SCAN_KINDS:
        raise ValueError(f"scan={scan!r} is not allowed; choose one of: {', '.join(SCAN_KINDS)}")
    N = probe.shape[0]
    H, W = obj.shape
    cap = min(H, W) / 2 - 1
    buf = default_buffer(N, H, W) if buffer is None else min(float(buffer), cap)
    if not (2 * buf < min(H, W)) or buf < 0:
        raise ValueError(f"object {H}x{W} is too small to scan (buffer {buf})")
    if scan == "random":
        x, y = random_positions(H, W, n_images, buf, positions_seed)
    else:
        x, y = raster_positions(H, W, n_images, buf, positions_seed, jitter)

    # Two passes over blocks of patterns keep the float64 temporaries small; the Poisson
    # generator continues across blocks, which equals one call on the whole array.
    probe128 = probe.astype(np.complex128)
    probe_power = np.abs(probe128) ** 2
    truth = np.empty((n_images, N, N), dtype=np.complex64)
    per_pattern = np.empty(n_images, dtype=np.float64)
    keep = n_images * N * N * 16 <= _KEEP_BYTES  # small enough: extract once
    kept: list[np.ndarray] = []
    for start, stop in _blocks(n_images, N):
        patches = extract_object_patches(obj, x[start:stop], y[start:stop], N)
        if keep:
            kept.append(patches)
        truth[start:stop] = patches
        power = patches.real * patches.real + patches.imag * patches.imag  # |O_p|^2
        per_pattern[start:stop] = np.sum(power * probe_power, axis=(1, 2))
    energy = float(np.mean(per_pattern))
    if not energy > 0:
        raise ValueError("the object is zero under the probe at every scan position")
    scale = math.sqrt(nphotons / energy)
    generator = np.random.default_rng(poisson_seed)
    X = np.empty((n_images, N, N), dtype=np.float32)
    for block, (start, stop) in enumerate(_blocks(n_images, N)):
        if keep:
            patches = kept[block]
        else:
            patches = extract_object_patches(obj, x[start:stop], y[start:stop], N)
        rates = diffraction_intensity(scale * patches * probe128)
        counts = generator.poisson(rates)
        X[start:stop] = np.sqrt(counts) / scale

    info: dict[str, Any] = {
        "generator": GENERATOR,
        "format_version": FORMAT_VERSION,
        "physics_parameters": {
            "nphotons": float(nphotons),
            "N": int(N),
            "intensity_scale": scale,
            "buffer": float(buf),
        },
        "scan": {"kind": scan, "n_images": int(n_images), "positions_seed": int(positions_seed)},
        "seeds": {"positions_seed": int(positions_seed), "poisson_seed": int(poisson_seed)},
    }
    if scan == "raster":
        info["scan"]["jitter"] = float(jitter)
    if metadata:
        info = _merge(info, metadata)
    return RawData(
        xcoords=x,
        ycoords=y,
        xcoords_start=x.copy(),
        ycoords_start=y.copy(),
        diff3d=X,
        probeGuess=probe.astype(np.complex64),
        scan_index=np.zeros(n_images, dtype=np.int64),
        objectGuess=obj.astype(np.complex64),
        ground_truth_patches=truth[..., None],
        metadata=info,
    )


def _blocks(n: int, N: int) -> list[tuple[int, int]]:
    size = max(1, (1 << 21) // (N * N))  # about 2M pixels per block
    return [(start, min(start + size, n)) for start in range(0, n, size)]


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def simulate_dataset(
    *,
    object_kind: str = "lines",
    N: int = 64,
    object_size: int | None = None,
    n_images: int = 500,
    nphotons: float = 1e9,
    object_seed: int = 1,
    positions_seed: int = 42,
    poisson_seed: int = 1001,
    scan: str = "random",
    set_phi: bool = False,
    gridsize: int = 1,
    jitter: float = 0.25,
) -> RawData:
    """A complete simulated scan: object (``object_kind`` from ``RandomState(object_seed)``,
    side ``int(3.5 N)`` by default), the default probe (physics.md 2.1, raw), and
    :func:`simulate_scan`. ``gridsize`` is only recorded (grouping happens later)."""
    if isinstance(N, bool) or not isinstance(N, (int, np.integer)) or N < 2:
        raise ValueError(f"N={N!r} is not allowed; it must be an integer >= 2")
    if isinstance(gridsize, bool) or not isinstance(gridsize, (int, np.integer)) or gridsize < 1:
        raise ValueError(f"gridsize={gridsize!r} is not allowed; it must be an integer >= 1")
    size = int(3.5 * N) if object_size is None else int(object_size)
    if size < 4:
        raise ValueError(f"object size {size} is too small; it must be at least 4")
    obj = make_object(object_kind, size, object_seed, set_phi=set_phi)
    probe = default_probe(N)
    extra = {
        "object": {"kind": object_kind, "size": size, "set_phi": bool(set_phi)},
        "seeds": {"object_seed": int(object_seed)},
        "gridsize": int(gridsize),
    }
    return simulate_scan(
        obj,
        probe,
        n_images=n_images,
        nphotons=nphotons,
        positions_seed=positions_seed,
        poisson_seed=poisson_seed,
        scan=scan,
        jitter=jitter,
        metadata=extra,
    )
