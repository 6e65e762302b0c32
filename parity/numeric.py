"""Fast, vectorised tensor comparison with torch.testing-style mismatch messages.

Arrays are compared in chunks of a few hundred thousand elements so that every intermediate stays
in cache; all arithmetic is in-place NumPy in the precision of the inputs (float64 only when an
input is float64). One pass over the data yields the mismatch count, the greatest absolute and
relative differences with their indices, and the worst element relative to the tolerance.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from parity.tolerances import Tolerance

CHUNK = 1 << 18
HIST_EDGES = np.arange(-13.0, 4.5, 0.5)
"""log10 bin edges of the error histograms (|diff| from 1e-13 to 3e4)."""


@dataclass
class Comparison:
    """The outcome of comparing ``actual`` (candidate) against ``expected`` (reference)."""

    ok: bool
    tolerance: Tolerance
    total: int = 0
    mismatched: int = 0
    max_abs: float = 0.0
    max_abs_index: tuple[int, ...] | None = None
    max_rel: float = 0.0
    max_rel_index: tuple[int, ...] | None = None
    worst_ratio: float = 0.0
    worst_index: tuple[int, ...] | None = None
    abs_at_worst: float = 0.0
    allowed_at_worst: float = 0.0
    scale: float = 0.0
    masked: int = 0
    problem: str = ""
    note: str = ""
    histogram: dict[str, Any] | None = None
    mismatch_examples: list[tuple[int, ...]] = field(default_factory=list)

    @property
    def measured(self) -> float:
        """The difference at the worst element (relative to its allowance)."""
        return self.abs_at_worst if not self.problem else math.inf

    @property
    def allowed(self) -> float:
        """What was allowed at the worst element."""
        return self.allowed_at_worst

    @property
    def margin(self) -> float:
        """Fraction of the allowance left at the worst element (negative: exceeded)."""
        if self.problem:
            return -math.inf
        if self.allowed_at_worst == 0:
            return 1.0 if self.abs_at_worst == 0 else -math.inf
        return 1.0 - self.worst_ratio

    def message(self) -> str:
        """One line in the style of torch.testing.assert_close."""
        if self.problem:
            return self.problem
        tol = self.tolerance
        frac = 100.0 * self.mismatched / self.total if self.total else 0.0
        if self.ok:
            parts = [f"All {self.total} elements within tolerance"]
        else:
            parts = [f"Mismatched elements: {self.mismatched} / {self.total} ({frac:.1f}%)"]
        if self.total:
            if tol.mode == "exact":
                allowed_abs = "0 allowed"
            elif tol.mode == "scaled":
                allowed_abs = f"up to {tol.atol + tol.rtol * self.scale:.3g} allowed"
            else:
                allowed_abs = f"up to {tol.atol:.3g} allowed"
            parts.append(
                f"greatest absolute difference {self.max_abs:.3g} at index "
                f"{_fmt_index(self.max_abs_index)} ({allowed_abs})"
            )
            rel_allowed = "0 allowed" if tol.mode == "exact" else f"up to {tol.rtol:.3g} allowed"
            if tol.mode == "scaled":
                rel_allowed += f" of max|ref| = {self.scale:.3g}"
            if not self.ok or self.total <= CHUNK:
                parts.append(
                    f"greatest relative difference {self.max_rel:.3g} at index "
                    f"{_fmt_index(self.max_rel_index)} ({rel_allowed})"
                )
        if self.masked:
            parts.append(f"{self.masked} elements masked (reference below threshold)")
        if self.note:
            parts.append(self.note)
        return "; ".join(parts)

    def details(self) -> dict[str, Any]:
        """JSON-able evidence for the reports."""
        out: dict[str, Any] = {
            "total": self.total,
            "mismatched": self.mismatched,
            "max_abs": _finite(self.max_abs),
            "max_abs_index": list(self.max_abs_index) if self.max_abs_index else None,
            "max_rel": _finite(self.max_rel),
            "max_rel_index": list(self.max_rel_index) if self.max_rel_index else None,
            "worst_index": list(self.worst_index) if self.worst_index else None,
            "mismatch_examples": [list(i) for i in self.mismatch_examples],
        }
        if self.histogram is not None:
            out["histogram"] = self.histogram
        return out


def _finite(x: float) -> float | str:
    if math.isfinite(x):
        return float(x)
    return "nan" if math.isnan(x) else "inf"


def _fmt_index(index: tuple[int, ...] | None) -> str:
    if index is None:
        return "()"
    return "(" + ", ".join(str(i) for i in index) + ("," if len(index) == 1 else "") + ")"


def _work_dtype(a: np.ndarray, b: np.ndarray) -> tuple[np.dtype, np.dtype]:
    """(difference dtype, magnitude dtype) for two numeric arrays."""
    if a.dtype.kind == "c" or b.dtype.kind == "c":
        wide = np.complex128 if np.float64 in (_real(a.dtype), _real(b.dtype)) else np.complex64
        return np.dtype(wide), np.dtype(np.float64 if wide == np.complex128 else np.float32)
    if a.dtype.kind in "fc" and b.dtype.kind in "fc":
        dt = np.result_type(a.dtype, b.dtype)
        if dt.itemsize < 4:
            dt = np.dtype(np.float32)
        return dt, dt
    return np.dtype(np.float64), np.dtype(np.float64)


def _real(dt: np.dtype) -> type:
    if dt == np.complex128 or dt == np.float64:
        return np.float64
    return np.float32


def compare(
    actual: Any,
    expected: Any,
    tol: Tolerance,
    *,
    where: np.ndarray | None = None,
    histogram: bool = False,
) -> Comparison:
    """Compare ``actual`` against ``expected`` (the reference) under ``tol``."""
    a = np.asarray(actual)
    b = np.asarray(expected)
    if a.shape != b.shape:
        return Comparison(
            False, tol, problem=f"Shape mismatch: {a.shape} (candidate) vs {b.shape} (reference)"
        )
    if a.dtype.kind in "OSUV" or b.dtype.kind in "OSUV":
        return _compare_objects(a, b, tol)
    note = ""
    if (a.dtype.kind == "c") != (b.dtype.kind == "c"):
        note = f"dtype {a.dtype} (candidate) vs {b.dtype} (reference): compared as complex"
        a = a.astype(np.result_type(a.dtype, np.complex64))
        b = b.astype(np.result_type(b.dtype, np.complex64))
    if a.dtype.kind == "b" or b.dtype.kind == "b":
        a = a.astype(np.uint8)
        b = b.astype(np.uint8)
    if where is not None:
        mask = np.asarray(where, dtype=bool)
        if mask.shape != a.shape:
            mask = np.broadcast_to(mask, a.shape)
    else:
        mask = None
    cmp = _compare_numeric(a, b, tol, mask, histogram)
    cmp.note = note
    return cmp


def _compare_objects(a: np.ndarray, b: np.ndarray, tol: Tolerance) -> Comparison:
    flat_a = a.reshape(-1)
    flat_b = b.reshape(-1)
    bad = [i for i in range(flat_a.size) if flat_a[i] != flat_b[i]]
    cmp = Comparison(not bad, tol, total=flat_a.size, mismatched=len(bad))
    if bad:
        idx = tuple(int(i) for i in np.unravel_index(bad[0], a.shape))
        cmp.max_abs_index = cmp.worst_index = idx
        cmp.max_abs = cmp.abs_at_worst = math.inf
        cmp.worst_ratio = math.inf
        cmp.mismatch_examples = [
            tuple(int(i) for i in np.unravel_index(k, a.shape)) for k in bad[:5]
        ]
    return cmp


def _compare_numeric(
    a: np.ndarray, b: np.ndarray, tol: Tolerance, mask: np.ndarray | None, want_hist: bool
) -> Comparison:
    """Pass 1 finds the worst element (and, in scaled mode, max|b|); pass 2, run only for a
    failing comparison or a small array, counts mismatches and finds the greatest relative
    difference."""
    diff_dt, mag_dt = _work_dtype(a, b)
    fa = np.ascontiguousarray(a).reshape(-1)
    fb = np.ascontiguousarray(b).reshape(-1)
    fm = None if mask is None else np.ascontiguousarray(mask).reshape(-1)
    n = fa.size
    cmp = Comparison(True, tol, total=n)
    if n == 0:
        return cmp
    shape = a.shape

    def unravel(i: int) -> tuple[int, ...]:
        return tuple(int(x) for x in np.unravel_index(i, shape)) if shape else ()

    mode = tol.mode
    atol, rtol = (0.0, 0.0) if mode == "exact" else (tol.atol, tol.rtol)
    if mode == "exact" and fm is None and not tol.cyclic and np.array_equal(fa, fb):
        cmp.max_abs_index = cmp.max_rel_index = cmp.worst_index = unravel(0)
        return cmp
    size = min(CHUNK, n)
    d = np.empty(size, dtype=diff_dt)
    dabs = np.empty(size, dtype=mag_dt) if diff_dt.kind == "c" else d
    mag = np.empty(size, dtype=mag_dt)
    work = np.empty(size, dtype=mag_dt)
    hist = np.zeros(len(HIST_EDGES) - 1, dtype=np.int64) if want_hist else None
    zeros = 0
    masked = 0
    best_abs, best_abs_i = -1.0, 0
    best_ratio, best_ratio_i = -1.0, 0
    scale = 0.0
    nan_index: int | None = None

    def chunk_diff(start: int, stop: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        k = stop - start
        xa, xb = fa[start:stop], fb[start:stop]
        dk, ak, mk = d[:k], dabs[:k], mag[:k]
        np.subtract(xa, xb, out=dk, casting="unsafe")
        if tol.cyclic:
            dk += np.pi
            np.mod(dk, 2 * np.pi, out=dk)
            dk -= np.pi
        np.abs(dk, out=ak)
        np.abs(xb, out=mk, casting="unsafe")
        skip = None
        if fm is not None:
            skip = ~fm[start:stop]
        if tol.equal_nan:
            both = np.isnan(xa) & np.isnan(xb)
            if both.any():
                skip = both if skip is None else (skip | both)
        if skip is not None:
            if skip.any():
                ak[skip] = 0
                mk[skip] = 0
            else:
                skip = None
        return ak, mk, skip

    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        for start in range(0, n, CHUNK):
            stop = min(start + CHUNK, n)
            ak, mk, skip = chunk_diff(start, stop)
            if skip is not None:
                masked += int(np.count_nonzero(skip))
            i = int(np.argmax(ak))
            v = float(ak[i])
            if math.isnan(v):
                if nan_index is None:
                    nan_index = start + i
            elif v > best_abs:
                best_abs, best_abs_i = v, start + i
            if mode == "scaled":
                scale = max(scale, float(np.max(mk)))
            elif mode == "elementwise" and nan_index is None:
                wk = work[: stop - start]
                np.multiply(mk, rtol, out=wk)
                wk += atol
                np.divide(ak, wk, out=wk)
                if atol == 0:
                    wk[ak == 0] = 0
                j = int(np.argmax(wk))
                rv = float(wk[j])
                if rv > best_ratio or math.isnan(rv):
                    best_ratio, best_ratio_i = (math.inf if math.isnan(rv) else rv), start + j
            if hist is not None:
                nz = ak[ak > 0]
                zeros += (stop - start) - nz.size
                if nz.size:
                    hist += np.histogram(np.log10(nz.astype(np.float64)), bins=HIST_EDGES)[0]
    best_abs = max(best_abs, 0.0)
    if mode == "scaled":
        bound = atol + rtol * scale
        best_ratio_i = best_abs_i
        best_ratio = best_abs / bound if bound > 0 else (math.inf if best_abs > 0 else 0.0)
    elif mode == "exact":
        best_ratio_i = best_abs_i
        best_ratio = math.inf if best_abs > 0 else 0.0
    failing = nan_index is not None or best_ratio > 1.0
    best_rel, best_rel_i = 0.0, 0
    examples: list[int] = []
    if failing or n <= CHUNK:
        const = atol + rtol * scale if mode == "scaled" else None
        tiny = np.finfo(mag_dt).tiny
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            for start in range(0, n, CHUNK):
                stop = min(start + CHUNK, n)
                ak, mk, skip = chunk_diff(start, stop)
                wk = work[: stop - start]
                if const is not None:
                    bad = ~(ak <= const)
                else:
                    np.multiply(mk, rtol, out=wk)
                    wk += atol
                    bad = ~(ak <= wk)
                if skip is not None:
                    bad &= ~skip
                nbad = int(np.count_nonzero(bad))
                if nbad:
                    cmp.mismatched += nbad
                    if len(examples) < 5:
                        examples += (np.flatnonzero(bad)[: 5 - len(examples)] + start).tolist()
                mk += tiny
                np.divide(ak, mk, out=mk)
                j = int(np.argmax(mk))
                rv = float(mk[j])
                if not math.isnan(rv) and rv > best_rel:
                    best_rel, best_rel_i = rv, start + j
    cmp.masked = masked
    cmp.scale = scale
    cmp.max_abs, cmp.max_abs_index = best_abs, unravel(best_abs_i)
    cmp.max_rel, cmp.max_rel_index = best_rel, unravel(best_rel_i)
    if best_rel > 0 and fb[best_rel_i] == 0:
        cmp.max_rel = math.inf
    cmp.worst_ratio = best_ratio
    cmp.worst_index = unravel(best_ratio_i)
    xa_w, xb_w = fa[best_ratio_i], fb[best_ratio_i]
    with np.errstate(invalid="ignore"):
        dw = xa_w.astype(diff_dt) - xb_w.astype(diff_dt)
        if tol.cyclic:
            dw = (dw + np.pi) % (2 * np.pi) - np.pi
        cmp.abs_at_worst = float(abs(dw))
        if fm is not None and not fm[best_ratio_i]:
            cmp.abs_at_worst = 0.0
    if nan_index is not None:
        cmp.max_abs, cmp.max_abs_index = math.nan, unravel(nan_index)
        cmp.worst_ratio, cmp.worst_index = math.inf, unravel(nan_index)
        cmp.abs_at_worst = math.nan
        xb_w = fb[nan_index]
    if mode == "scaled":
        cmp.allowed_at_worst = atol + rtol * scale
    else:
        cmp.allowed_at_worst = atol + rtol * float(abs(xb_w))
    cmp.mismatch_examples = [unravel(i) for i in examples]
    cmp.ok = not failing
    if not failing:
        cmp.mismatched = 0
    if hist is not None:
        cmp.histogram = {
            "log10_edges": HIST_EDGES.tolist(),
            "counts": hist.tolist(),
            "zeros": int(zeros),
        }
    return cmp


def mask_from(weight: np.ndarray, fraction: float) -> np.ndarray | None:
    """Elements whose ``|weight|`` is at least ``fraction`` of its maximum (None: no masking)."""
    if fraction <= 0:
        return None
    mag = np.abs(np.asarray(weight))
    return mag >= fraction * float(mag.max(initial=0.0))


def compare_scalar(actual: float, expected: float, tol: Tolerance) -> Comparison:
    """Two numbers (loss terms, intensity scales)."""
    return compare(np.float64(actual), np.float64(expected), tol)


KERAS_ADAM_EPSILON = 1e-7
ADAM_BETAS = (0.9, 0.999)


def applied_learning_rates(
    snapshots: Sequence[Mapping[str, Any]],
    grads: Sequence[Mapping[str, Any]],
    epsilon: float = KERAS_ADAM_EPSILON,
) -> list[float]:
    """The learning rate each Adam step applied, measured from the weights it moved.

    ``snapshots[t]`` are the weights before step ``t + 1`` (the last: after the last step) and
    ``grads[t]`` the gradients step ``t + 1`` used, by weight name. Keras-Adam moves each element
    by ``lr·u_t`` with ``u_t = c_t·m_t/(sqrt(v_t) + ε)``, ``c_t = sqrt(1 - β2^t)/(1 - β1^t)``,
    where the moments follow from the gradients alone; so ``|Δw|/|u_t|`` is the applied rate,
    and its median over the elements of the largest steps (``|u_t| ≥ 0.5`` where there are any,
    where float32 rounding of ``w`` barely matters; else the top percent) is the estimate.
    Nothing the optimizer reports is used."""
    b1, b2 = ADAM_BETAS
    names = [n for n in snapshots[0] if all(n in g for g in grads)]
    m = {n: np.zeros(np.shape(snapshots[0][n])) for n in names}
    v = {n: np.zeros(np.shape(snapshots[0][n])) for n in names}
    rates = []
    for t, g in enumerate(grads, start=1):
        correction = math.sqrt(1.0 - b2**t) / (1.0 - b1**t)
        steps, moves = [], []
        for n in names:
            gn = np.asarray(g[n], dtype=np.float64)
            if gn.shape != m[n].shape:
                continue
            m[n] = b1 * m[n] + (1.0 - b1) * gn
            v[n] = b2 * v[n] + (1.0 - b2) * gn * gn
            steps.append(np.abs(correction * m[n] / (np.sqrt(v[n]) + epsilon)).ravel())
            before = np.asarray(snapshots[t - 1][n], dtype=np.float64)
            after = np.asarray(snapshots[t][n], dtype=np.float64)
            moves.append(np.abs(after - before).ravel())
        if not steps:
            rates.append(math.nan)
            continue
        u, d = np.concatenate(steps), np.concatenate(moves)
        strong = u >= 0.5
        if strong.sum() < 10:
            strong = u >= np.quantile(u, 0.99)
        strong &= u > 0
        rates.append(float(np.median(d[strong] / u[strong])) if strong.any() else math.nan)
    return rates


def nbytes(x: Any) -> int:
    """Size in bytes of an array-like."""
    return int(np.asarray(x).nbytes)
