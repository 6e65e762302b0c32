"""Fixed, seeded inputs for every physics op of :data:`backends.base.OP_NAMES`.

Both backends and the oracle receive the same arrays (float32 / complex64, reference layout).
Inputs exercise what the model does and more: sub-pixel and integer shifts, non-zero group
offsets at every gridsize (so a flipped translation sign shows even at C = 1), both combine
modes, smoothing and the probe mask.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

KIND_BY_OP = {
    "diffract": "fft",
    "merge_patches": "canvas",
    "stitch": "canvas",
    "translate": "translate",
    "extract_patches": "translate",
    "poisson_nll": "loss",
    "mae": "loss",
    "total_variation": "loss",
    "complex_mae": "loss",
    "illuminate": "complex",
    "gaussian_smooth": "complex",
}
"""Tolerance kind of each op's output (others: ``complex`` for complex outputs, else ``real``)."""


@dataclass
class OpCase:
    """One call of one op: ``op(**args)``; ``case`` distinguishes calls of the same op."""

    op: str
    case: str
    args: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        """``op`` or ``op[case]``."""
        return self.op if not self.case else f"{self.op}[{self.case}]"

    def kind(self, output: Any) -> str:
        """Tolerance kind for this op's output."""
        if self.op in KIND_BY_OP:
            return KIND_BY_OP[self.op]
        return "complex" if np.iscomplexobj(output) else "real"


def _cplx(rng: np.random.Generator, shape: tuple[int, ...], scale: float = 1.0) -> np.ndarray:
    amp = rng.uniform(0.2, 1.0, size=shape)
    phase = rng.uniform(-math.pi, math.pi, size=shape)
    return (scale * amp * np.exp(1j * phase)).astype(np.complex64)


def _smooth_probe(rng: np.random.Generator, N: int) -> np.ndarray:
    y, x = np.mgrid[0:N, 0:N] - (N - 1) / 2.0
    r2 = (x * x + y * y) / (0.18 * N) ** 2
    amp = np.exp(-r2) + 1e-3
    phase = 0.3 * rng.standard_normal() * r2 + rng.uniform(-0.5, 0.5)
    return (amp * np.exp(1j * phase)).astype(np.complex64)


def _positions(rng: np.random.Generator, B: int, C: int, span: float) -> np.ndarray:
    return rng.uniform(-span, span, size=(B, 1, 2, C)).astype(np.float32)


def op_cases(
    config: Any, seed: int, batch: int = 2, padded_size: int | None = None
) -> list[OpCase]:
    """The op cases of a model configuration (``N``, ``gridsize``, probe settings)."""
    from backends.graph import padded_size as graph_padded_size

    rng = np.random.default_rng(seed)
    N = int(config.N)
    C = int(config.gridsize) ** 2
    B = int(batch)
    M = padded_size or graph_padded_size(config)
    span = (M - N) / 2.0 - 1.0
    sigma = float(config.gaussian_smoothing_sigma) or 0.5
    probe_raw = _smooth_probe(rng, N)
    probe_norm = (probe_raw / (config.probe_scale * np.mean(np.abs(probe_raw)))).astype(
        np.complex64
    )
    cases: list[OpCase] = []

    def add(op: str, case: str = "", **args: Any) -> None:
        cases.append(OpCase(op, case, args))

    amp = rng.uniform(0.0, 1.0, size=(B, N, N, C)).astype(np.float32)
    phi = rng.uniform(-math.pi, math.pi, size=(B, N, N, C)).astype(np.float32)
    add("combine_complex", "polar", amp=amp, phi=phi, mode="polar")
    add("combine_complex", "legacy_rect", amp=amp, phi=phi, mode="legacy_rect")
    add("default_probe", "", N=N, default_probe_scale=0.7)
    add("probe_mask", "", N=N)
    add("center_mask", "", N=N)
    add("normalize_probe", "", probe=probe_raw, probe_scale=float(config.probe_scale))
    obj = _cplx(rng, (B * C, N, N, 1))
    add("illuminate", "plain", obj=obj, probe=probe_norm, sigma=0.0, mask=False)
    add("illuminate", "smooth", obj=obj, probe=probe_norm, sigma=sigma, mask=False)
    add("illuminate", "mask", obj=obj, probe=probe_norm, sigma=0.0, mask=True)
    add("diffract", "", psi=_cplx(rng, (B * C, N, N, 1)) * probe_norm[None, :, :, None])
    images = rng.standard_normal((B, N, N, C)).astype(np.float32)
    add(
        "translate",
        "subpixel",
        images=images,
        shifts=rng.uniform(-5.0, 5.0, size=(B, 2)).astype(np.float32),
    )
    add(
        "translate",
        "integer",
        images=images,
        shifts=rng.integers(-6, 7, size=(B, 2)).astype(np.float32),
    )
    add(
        "translate",
        "complex",
        images=_cplx(rng, (B, N, N, C)),
        shifts=rng.uniform(-3.0, 3.0, size=(B, 2)).astype(np.float32),
    )
    positions = _positions(rng, B, C, span)
    add("extract_patches", "", canvas=_cplx(rng, (B, M, M, 1)), positions=positions, N=N)
    add("merge_patches", "", patches=_cplx(rng, (B, N, N, C)), positions=positions, M=M)
    add("pad_to", "", x=_cplx(rng, (B, N, N, 1)), M=M)
    add("trim", "", canvas=_cplx(rng, (B, M, M, 1)), N=N)
    add("flat_to_channel", "", x=rng.standard_normal((B * C, N, N, 1)).astype(np.float32), C=C)
    add("channel_to_flat", "", x=rng.standard_normal((B, N, N, C)).astype(np.float32))
    add("gaussian_smooth", "", x=_cplx(rng, (B, N, N, C)), sigma=sigma)
    P = 6
    offsets = np.zeros((P, 1, 2, 1), dtype=np.float64)
    offsets[:, 0, :, 0] = rng.uniform(N, 3 * N, size=(P, 2))
    add("stitch", "", patches=_cplx(rng, (P, N, N, 1)), offsets=offsets, crop=20)
    target = rng.poisson(50.0, size=(B, N, N, C)).astype(np.float32)
    pred = rng.uniform(1.0, 100.0, size=(B, N, N, C)).astype(np.float32)
    pred[0, 0, 0, 0] = 0.0  # exercises the 1e-12 floor
    add("poisson_nll", "", pred_intensity=pred, target_intensity=target)
    add("mae", "", pred=np.sqrt(pred), target=np.sqrt(target))
    add("total_variation", "", z=_cplx(rng, (B, N, N, 1)))
    add(
        "complex_mae",
        "",
        target=rng.uniform(0, 1, size=(B, N, N, 1)).astype(np.float32),
        z=_cplx(rng, (B, N, N, 1)),
    )
    return cases


def run_case(fn: Callable[..., Any], case: OpCase) -> Any:
    """Call ``fn`` with copies of the case's arrays (so an op that writes in place cannot
    corrupt the inputs the next backend receives)."""
    args = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in case.args.items()}
    return fn(**args)
