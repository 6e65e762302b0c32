"""Every physics op, written once, run over the float64 oracle and both backends' ``ops``
namespaces with the same inputs in the same layouts.

Three groups of checks:

* each backend against the oracle on the harness's op cases (:func:`parity.opcases.op_cases`),
  under the harness's own ``ops`` tolerances, with the oracle's output shape exactly;
* layouts the reference accepts (a probe as (N, N) or (N, N, 1)) give the same numbers in each
  implementation, the oracle included;
* hand-derived values of physics.md 2.3 (default probe, probe_scale 4, N = 64: divisor 0.3672,
  peak 2.723) in every implementation and layout.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from backends.config import ModelConfig
from parity.numeric import compare
from parity.opcases import OpCase, op_cases, run_case
from parity.tolerances import Registry

IMPLEMENTATIONS = ("oracle", "tensorflow", "pytorch")
BACKENDS = IMPLEMENTATIONS[1:]
CONFIG = ModelConfig(N=64, gridsize=2)
CASES = op_cases(CONFIG, seed=11)


def _namespace(name: str) -> Any:
    if name == "oracle":
        from backends import physics

        return physics
    if name == "tensorflow":
        pytest.importorskip("tensorflow")
        from backends.tensorflow.ops import TensorFlowOps

        return TensorFlowOps()
    pytest.importorskip("torch")
    from backends.pytorch.ops import NUMPY_OPS

    return NUMPY_OPS


@pytest.fixture(scope="module")
def oracle_outputs() -> dict[str, Any]:
    ops = _namespace("oracle")
    return {case.id: run_case(getattr(ops, case.op), case) for case in CASES}


@pytest.fixture(scope="module")
def tolerances() -> Registry:
    return Registry.load()


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_backend_matches_the_oracle(
    backend: str, case: OpCase, oracle_outputs: dict[str, Any], tolerances: Registry
) -> None:
    expected = np.asarray(oracle_outputs[case.id])
    actual = np.asarray(run_case(getattr(_namespace(backend), case.op), case))
    assert actual.shape == expected.shape, f"{backend} {case.id}: shape {actual.shape}"
    result = compare(actual, expected, tolerances.lookup("ops", case.kind(expected)))
    assert result.ok, f"{backend} {case.id}: {result.message}"


def _probe(N: int) -> np.ndarray:
    rng = np.random.default_rng(3)
    y, x = np.mgrid[0:N, 0:N] - (N - 1) / 2.0
    amp = np.exp(-(x * x + y * y) / (0.2 * N) ** 2)
    return (amp * np.exp(1j * rng.uniform(-0.3, 0.3, (N, N)))).astype(np.complex64)


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_normalize_probe_accepts_both_probe_layouts(implementation: str) -> None:
    ops = _namespace(implementation)
    probe = _probe(CONFIG.N)
    flat = np.asarray(ops.normalize_probe(probe, 4.0))
    channel = np.asarray(ops.normalize_probe(probe[..., None], 4.0))
    assert flat.shape == (CONFIG.N, CONFIG.N)
    assert channel.shape == (CONFIG.N, CONFIG.N, 1)
    assert np.all(np.isfinite(channel))
    np.testing.assert_allclose(channel[..., 0], flat, rtol=1e-6, atol=0)


@pytest.mark.parametrize("layout", ["N,N", "N,N,1"])
@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_normalized_default_probe_has_the_spec_divisor(implementation: str, layout: str) -> None:
    ops = _namespace(implementation)
    raw = np.asarray(ops.default_probe(64)).reshape(64, 64)
    probe = raw if layout == "N,N" else raw[..., None]
    normalized = np.asarray(ops.normalize_probe(probe, 4.0))
    assert normalized.shape == probe.shape
    divisor = float(np.max(np.abs(raw)) / np.max(np.abs(normalized)))
    assert divisor == pytest.approx(0.3672, abs=5e-5)  # physics.md 2.3
    assert float(np.max(np.abs(normalized))) == pytest.approx(2.723, abs=5e-4)
