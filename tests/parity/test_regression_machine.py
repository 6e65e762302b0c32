"""Regression against a baseline from the same or another machine: strict on the same machine
fingerprint; across machines the cross-backend training tolerances, chaotic long-training
tensors skipped with the reason, and shape errors caught in both cases."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from parity import machine
from parity.checks.regression import compare_baseline
from parity.tolerances import Registry
from parity.trace import Trace, TraceWriter
from tests.parity.helpers import fake_scenario

HERE = machine.fingerprint({"numpy": "2.0", "torch": "2.13"}, "cpu")
THERE = {**HERE, "cpu": "Another CPU", "id": "0123456789abcdef"}


def _stitched() -> np.ndarray:
    """A smooth, asymmetric complex object (like a stitched reconstruction)."""
    yy, xx = np.mgrid[:24, :40].astype(np.float64)
    amp = np.exp(-((yy - 9.0) ** 2 + (xx - 25.0) ** 2) / 60.0) + 0.1
    return (amp * np.exp(0.05j * xx - 0.02j * yy)).astype(np.complex64)


def _weights() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(5)
    return {
        "enc.kernel": rng.uniform(-0.1, 0.1, (3, 3, 4, 8)).astype(np.float32),
        "enc.bias": rng.uniform(-1e-3, 1e-3, 8).astype(np.float32),
    }


def _trace(
    path: Path,
    fingerprint: dict | None,
    stitched: np.ndarray,
    weights: dict[str, np.ndarray] | None = None,
) -> Path:
    with TraceWriter(path, "fake-reference", fake_scenario(checks=["regression"])) as w:
        if fingerprint is not None:
            w.set_meta(machine=fingerprint)
        w.put("convergence", "truth", _stitched())
        w.put("convergence/seed0", "stitched", stitched)
        w.put("convergence/seed0", "step_loss", np.linspace(5.0, 1.0, 12).astype(np.float32))
        for name, value in (weights or _weights()).items():
            w.put("training/weights", name, value)
        w.record_section("convergence", status="ok", seconds=0.1)
    return path


def _findings(tmp_path: Path, base_machine: dict | None, **now: object) -> list:
    baseline = _trace(tmp_path / "base.h5", base_machine, _stitched())
    current = _trace(tmp_path / "now.h5", HERE, **now)  # type: ignore[arg-type]
    with Trace(current) as c, Trace(baseline) as b:
        return list(compare_baseline(c, b, Registry.load()))


def _by_tensor(findings: list) -> dict[str, object]:
    return {f.tensor: f for f in findings}


PERTURBED = _stitched() * np.float32(1.08)  # a long training moved the object by 8 %


def test_same_machine_fails_a_perturbed_chaotic_tensor(tmp_path: Path) -> None:
    found = _by_tensor(_findings(tmp_path, HERE, stitched=PERTURBED))
    bad = found["convergence/seed0/stitched"]
    assert bad.verdict == "fail" and bad.check == "regression.convergence"  # type: ignore[attr-defined]
    assert not any(f.verdict == "skipped" for f in found.values())  # type: ignore[attr-defined]


@pytest.mark.parametrize("base_machine", [THERE, None], ids=["other machine", "no fingerprint"])
def test_other_machine_skips_chaotic_tensors_with_the_reason(
    tmp_path: Path, base_machine: dict | None
) -> None:
    findings = _findings(tmp_path, base_machine, stitched=PERTURBED)
    skipped = [f for f in findings if f.verdict == "skipped"]
    assert len(skipped) == 1 and skipped[0].check == "regression.convergence"
    assert skipped[0].tensor == "<2 tensors of convergence/seed0>"
    reason = skipped[0].evidence
    assert "convergence check" in reason
    assert ("'Another CPU'" in reason) if base_machine else ("no machine fingerprint" in reason)
    # the ground truth is data, not a training result: still compared, still identical
    assert all(f.verdict == "pass" for f in findings if f.verdict != "skipped"), findings


@pytest.mark.parametrize("base_machine", [HERE, THERE], ids=["same machine", "other machine"])
@pytest.mark.parametrize(
    "error",
    [lambda x: np.roll(x, 1, axis=1), lambda x: np.ascontiguousarray(np.swapaxes(x, 0, 1))],
    ids=["rolled", "transposed"],
)
def test_rolled_or_transposed_weights_fail_on_any_machine(
    tmp_path: Path, base_machine: dict, error
) -> None:
    weights = _weights()
    weights["enc.kernel"] = error(weights["enc.kernel"])
    found = _by_tensor(_findings(tmp_path, base_machine, stitched=_stitched(), weights=weights))
    bad = found["training/weights/enc.kernel"]
    assert bad.verdict == "fail"  # type: ignore[attr-defined]


def test_other_machine_allows_a_share_of_flipped_adam_steps(tmp_path: Path) -> None:
    """[training.weights]: elements beyond 1e-4 allowed up to a share of 1e-2 of all weights."""
    tol = Registry.load().lookup("training", "weights")
    weights = _weights()
    total = sum(w.size for w in weights.values())  # 296
    flipped = weights["enc.bias"].copy()
    flipped[:2] -= np.float32(2e-3)  # two bias steps of lr = 1e-3 with the sign flipped
    assert 2 / total <= tol.mismatch_fraction
    ok = _findings(tmp_path, THERE, stitched=_stitched(), weights={**weights, "enc.bias": flipped})
    assert all(f.verdict in ("pass", "skipped") for f in ok), ok
    same = _by_tensor(
        _findings(tmp_path, HERE, stitched=_stitched(), weights={**weights, "enc.bias": flipped})
    )
    assert same["training/weights/enc.bias"].verdict == "fail"  # type: ignore[attr-defined]
    flipped[:6] -= np.float32(2e-3)  # 6 / 296 = 2 % of the weights: beyond the share
    bad = _by_tensor(
        _findings(tmp_path, THERE, stitched=_stitched(), weights={**weights, "enc.bias": flipped})
    )
    assert bad["training/weights/<all>"].verdict == "fail"  # type: ignore[attr-defined]
    assert bad["training/weights/enc.bias"].verdict == "fail"  # type: ignore[attr-defined]


def test_fingerprint_is_stable_and_names_what_differs() -> None:
    again = machine.fingerprint({"torch": "2.13", "numpy": "2.0", "platform": "kernel-6.8"}, "cpu")
    assert again == HERE  # order of versions and the kernel release do not matter
    newer = machine.fingerprint({"numpy": "2.1", "torch": "2.13"}, "cpu")
    assert newer["id"] != HERE["id"]
    assert machine.differences(HERE, HERE) == ""
    assert "numpy 2.0 -> 2.1" in machine.differences(newer, HERE)
    assert "'Another CPU'" in machine.differences(HERE, THERE)
    assert "no machine fingerprint" in machine.differences(HERE, None)
