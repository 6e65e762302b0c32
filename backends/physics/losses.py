"""Loss terms (physics.md section 10)."""

from __future__ import annotations

import numpy as np

from backends.physics._arrays import as_complex, as_field, as_real, require_ndim
from backends.physics.geometry import center_channels
from backends.physics.probe import center_mask

NLL_FLOOR = 1e-12


def _same_shape(a: np.ndarray, b: np.ndarray, what: str) -> None:
    if a.shape != b.shape:
        raise ValueError(f"{what}: prediction and target shapes differ: {a.shape} vs {b.shape}")


def poisson_nll(pred_intensity: np.ndarray, target_intensity: np.ndarray) -> float:
    """``mean(I_hat - I * ln(max(I_hat, 1e-12)))`` over every element (no log-factorial)."""
    pred = as_real(pred_intensity, "pred_intensity")
    target = as_real(target_intensity, "target_intensity")
    _same_shape(pred, target, "poisson_nll")
    return float(np.mean(pred - target * np.log(np.maximum(pred, NLL_FLOOR))))


def mae(pred: np.ndarray, target: np.ndarray) -> float:
    """``mean |pred - target|`` over every element."""
    p = as_field(pred, "pred")
    t = as_field(target, "target")
    _same_shape(p, t, "mae")
    return float(np.mean(np.abs(p - t)))


def total_variation(z: np.ndarray, amp_only: bool = False) -> float:
    """Sum over batch and pixels of squared forward differences along width and height, of
    ``Re z`` plus the same for ``Im z`` (of ``|z|`` if ``amp_only``). ``z`` is (B, H, W, C)."""
    a = as_field(z, "z")
    require_ndim(a, 4, "z", "(B, H, W, C)")
    parts = [np.abs(a)] if amp_only else [a.real, a.imag] if a.dtype.kind == "c" else [a]
    total = 0.0
    for part in parts:
        dx = part[:, :, 1:, :] - part[:, :, :-1, :]
        dy = part[:, 1:, :, :] - part[:, :-1, :, :]
        total += float(np.sum(dx**2)) + float(np.sum(dy**2))
    return total


def complex_mae(target: np.ndarray, z: np.ndarray) -> float:
    """``mean |z - target|`` (complex modulus) over every element (physics.md 10 DECISION)."""
    t = as_field(target, "target")
    p = as_field(z, "z")
    _same_shape(p, t, "complex_mae")
    return float(np.mean(np.abs(p - t)))


def realspace_target(Y_I: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Real-space target: ``Y_I`` (B, N, N, C) moved by ``T_{-r_c}``, channel 0: (B, N, N, 1)."""
    return center_channels(as_real(Y_I, "Y_I"), positions)[..., :1]


def realspace_loss(
    z: np.ndarray,
    target: np.ndarray,
    tv_weight: float,
    realspace_mae_weight: float,
    probe_big: bool,
) -> float:
    """``tv_weight * TV(z) + realspace_mae_weight * cMAE(target, z)`` with ``z = trimmed_obj``
    (B, N, N, 1), multiplied by the centre mask Q first when ``probe_big`` is False. A term
    whose weight is not > 0 is skipped (it contributes exactly 0)."""
    zc = as_complex(z, "z")
    require_ndim(zc, 4, "z", "(B, N, N, 1)")
    if not probe_big:
        zc = zc * center_mask(zc.shape[1])[None, :, :, None]
    loss = 0.0
    if tv_weight > 0:
        loss += total_variation(zc) * tv_weight
    if realspace_mae_weight > 0:
        loss += complex_mae(target, zc) * realspace_mae_weight
    return loss


def total_loss(
    pred_amp: np.ndarray,
    pred_intensity: np.ndarray,
    target_amp: np.ndarray,
    target_intensity: np.ndarray,
    *,
    nll_weight: float = 1.0,
    mae_weight: float = 0.0,
    realspace_weight: float = 0.0,
    trimmed_obj: np.ndarray | None = None,
    realspace_target: np.ndarray | None = None,
    tv_weight: float = 0.0,
    realspace_mae_weight: float = 0.0,
    probe_big: bool = True,
) -> dict[str, float]:
    """All terms and ``total = realspace_weight*L_rs + mae_weight*L_mae + nll_weight*L_nll``.

    Returns ``{"total", "nll", "mae", "realspace"}`` (the terms unweighted). The real-space
    term needs ``trimmed_obj`` and ``realspace_target`` when ``realspace_weight > 0``; it is
    0.0 when they are not given.
    """
    if realspace_mae_weight > 0 and not realspace_weight > 0:
        raise ValueError(
            "realspace_mae_weight > 0 requires realspace_weight > 0 (physics.md section 10)"
        )
    nll = poisson_nll(pred_intensity, target_intensity)
    amp_mae = mae(pred_amp, target_amp)
    rs = 0.0
    if trimmed_obj is not None and realspace_target is not None:
        rs = realspace_loss(
            trimmed_obj, realspace_target, tv_weight, realspace_mae_weight, probe_big
        )
    elif realspace_weight > 0:
        raise ValueError("realspace_weight > 0 needs trimmed_obj and realspace_target")
    total = realspace_weight * rs + mae_weight * amp_mae + nll_weight * nll
    return {"total": total, "nll": nll, "mae": amp_mae, "realspace": rs}
