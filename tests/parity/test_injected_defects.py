"""Proof that the harness can fail: each known defect, injected alone into the candidate
backend, makes the right check fail naming the right tensor or key (and, for defects inside the
forward graph, the right first divergent stage), while unrelated families stay green.

The NumPy fake backend carries the defects here; ``test_real_backend_defects`` below repeats the
forward and config cases on the real PyTorch backend against the real TensorFlow reference.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from backends.graph import weight_shapes
from parity import defects
from parity.engine import compare_traces
from parity.findings import Finding
from parity.record import record
from parity.tolerances import Registry
from tests.parity import fake_physics
from tests.parity.conftest import TraceCache
from tests.parity.helpers import CAND, fake_scenario

CHECKS = {
    "fftshift-dropped": ["ops", "forward"],
    "half-pixel-translation": ["ops", "forward"],
    "translation-sign-flipped": ["ops", "forward"],
    "merge-clamped": ["ops", "forward"],
    "adam-epsilon": ["gradients", "training"],
    "poisson-log-factorial": ["gradients", "training"],
    "kernel-transposed": ["forward"],
    "bridge-drops-object-big": ["params", "forward"],
    "bundle-params-missing-key": ["forward", "bundles"],
    "learning-rate-ignored": ["training"],
    "poisson-weight-fixed": ["gradients"],
    "intensity-scale-trainable-ignored": ["params"],
}
KNOB_SETTINGS = {
    # the non-default knob value each defect of the `knobs` sweep needs to show
    "learning-rate-ignored": {"run": {"learning_rate": 3e-4}},
    "poisson-weight-fixed": {"config": {"nll_weight": 0.5, "mae_weight": 0.5}},
    "intensity-scale-trainable-ignored": {"config": {"intensity_scale_trainable": False}},
}
UNAFFECTED = {
    "adam-epsilon": ["gradients.grad", "gradients.loss"],
    "poisson-log-factorial": ["gradients.grad", "training.first_step", "training.weights"],
    "bridge-drops-object-big": ["forward"],
    "bundle-params-missing-key": ["forward", "bundles.roundtrip"],
}


def test_every_defect_is_covered() -> None:
    assert set(CHECKS) == set(defects.DEFECTS)


def _with_knobs(sc, name: str):
    import dataclasses

    over = KNOB_SETTINGS.get(name, {})
    return dataclasses.replace(
        sc,
        run=dataclasses.replace(sc.run, **over.get("run", {})),
        config={**sc.config, **over.get("config", {})},
    )


def _scenario(name: str):
    gridsize = 2 if defects.DEFECTS[name].scenario == "gridsize2" else 1
    return _with_knobs(fake_scenario(checks=CHECKS[name], gridsize=gridsize), name)


def _run(name: str, trace_cache: TraceCache, tmp_path: Path) -> list[Finding]:
    sc = _scenario(name)
    ref = trace_cache.reference(sc)
    cand = record(
        CAND, sc, tmp_path / "cand.h5", reference=ref, oracle=fake_physics, defects=[name]
    )
    return compare_traces(ref, cand, sc, Registry.load())


def _names_match(expected: str, tensor: str, weights: set[str]) -> bool:
    return tensor in weights if expected == "*" else tensor == expected


def _assert_caught(
    name: str, findings: list[Finding], weights: set[str], unaffected: list[str]
) -> None:
    defect = defects.DEFECTS[name]
    failing = [f for f in findings if f.verdict == "fail"]
    errors = [f for f in findings if f.verdict == "error" and f.family not in defect.consequences]
    assert not errors, [f.evidence for f in errors]
    for expected in defect.expected:
        hits = [
            f
            for f in failing
            if f.check == expected.check and _names_match(expected.tensor, f.tensor, weights)
        ]
        assert hits, (
            f"{name}: no failing {expected.check} naming {expected.tensor}; failing: "
            + ", ".join(f"{f.check}:{f.tensor}" for f in failing)
        )
    if defect.first_divergent is not None:
        loc = next(f for f in findings if f.check == "forward.localisation")
        assert loc.verdict == "fail"
        assert loc.tensor == defect.first_divergent
        assert loc.details["cumulative"] == defect.first_divergent
        assert loc.details["single_step"] == defect.first_divergent
        assert f"first divergent stage (cumulative): {defect.first_divergent}" in loc.evidence
    for check in unaffected:
        wrong = [f for f in failing if f.check == check or f.check.startswith(check + ".")]
        assert not wrong, f"{name} wrongly blamed on {[(f.check, f.tensor) for f in wrong]}"


@pytest.mark.parametrize("name", list(CHECKS))
def test_injected_defect_is_caught_where_expected(
    name: str, trace_cache: TraceCache, tmp_path: Path
) -> None:
    findings = _run(name, trace_cache, tmp_path)
    weights = set(weight_shapes(_scenario(name).model_config()))
    _assert_caught(name, findings, weights, UNAFFECTED.get(name, []))


def test_ops_finding_says_which_backend_left_the_oracle(
    trace_cache: TraceCache, tmp_path: Path
) -> None:
    findings = _run("fftshift-dropped", trace_cache, tmp_path)
    cross = next(f for f in findings if f.check == "ops.backends" and f.tensor == "diffract")
    assert cross.verdict == "fail"
    assert "fake-candidate departs from the oracle" in cross.evidence
    assert "fake-reference agrees with it" in cross.evidence


def test_sign_flip_is_invisible_in_the_forward_pass_at_gridsize_one(
    trace_cache: TraceCache, tmp_path: Path
) -> None:
    sc = fake_scenario(checks=["ops", "forward"])
    ref = trace_cache.reference(sc)
    cand = record(
        CAND,
        sc,
        tmp_path / "c.h5",
        reference=ref,
        oracle=fake_physics,
        defects=["translation-sign-flipped"],
    )
    findings = compare_traces(ref, cand, sc, Registry.load())
    assert next(f for f in findings if f.check == "forward.localisation").verdict == "pass"
    assert any(f.verdict == "fail" and f.tensor == "merge_patches" for f in findings)


def test_unknown_defect_and_unpatchable_backend_are_clear_errors() -> None:
    from parity.errors import InputError
    from tests.parity.fakes import FakeBackend

    with pytest.raises(InputError, match="did you mean 'merge-clamped'"):
        defects.get("merge-clamp")

    class Other(FakeBackend):
        defect_kind = "other"

    with pytest.raises(InputError, match="no patcher"):
        defects.inject(Other(), "fftshift-dropped")
    assert defects.inject(Other(), "bridge-drops-object-big") is not None  # interface level


# -- the real PyTorch backend against the real TensorFlow reference ---------------------------

REAL_UNAFFECTED = {
    **UNAFFECTED,
    # the real bridge builds the model with object_big=False: the forward pass diverges too
    "bridge-drops-object-big": [],
}


@pytest.fixture(scope="module")
def real_references(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return {}


def _real_scenario(name: str):
    import dataclasses

    from parity import scenario

    sc = scenario.load("smoke").with_checks(tuple(CHECKS[name]))
    if defects.DEFECTS[name].scenario == "gridsize2":
        model = {**sc.config["model"], "gridsize": 2}
        sc = dataclasses.replace(sc, config={**sc.config, "model": model})
    return _with_knobs(sc, name)


@pytest.mark.both
@pytest.mark.slow
@pytest.mark.parametrize("name", list(CHECKS))
def test_real_backend_defects(
    name: str, real_references: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Each defect injected into the real PyTorch backend (scoped patches of its modules, the
    weight conversion or the bridge) is caught with the same names and first divergent stage."""
    pytest.importorskip("tensorflow")
    pytest.importorskip("torch")
    sc = _real_scenario(name)
    work = tmp_path_factory.mktemp("real")
    if sc.hash not in real_references:
        real_references[sc.hash] = record("tensorflow", sc, work / "tf.h5")
    ref = real_references[sc.hash]
    cand = record("pytorch", sc, work / "pt.h5", reference=ref, defects=[name])
    findings = compare_traces(ref, cand, sc, Registry.load())
    weights = set(weight_shapes(sc.model_config()))
    _assert_caught(name, findings, weights, REAL_UNAFFECTED.get(name, []))
