"""Built-in datasets with phase: structured object phase and a defocused probe."""

from __future__ import annotations

import math

import numpy as np
import pytest

from backends.data import BUILTINS, load_npz, resolve_data
from backends.data._geometry import default_probe, defocused_probe
from backends.data.builtins import DEFOCUS, PHASE_RANGE
from backends.data.objects import lines, phase_map, phase_object


def test_phase_recipes_at_64_and_128():
    for N in (64, 128):
        recipe = BUILTINS[f"lines-phase-{N}"]
        assert (recipe.N, recipe.object_size, recipe.n_images) == (N, int(3.5 * N), 500)
        assert recipe.max_phase == 1.5 and recipe.probe_edge_phase == math.pi


def test_phase_map_spans_exactly_the_range_and_follows_its_definition():
    phi = phase_map(100, 3, 1.5)
    assert phi.min() == pytest.approx(-1.5, abs=1e-12)
    assert phi.max() == pytest.approx(1.5, abs=1e-12)
    # by hand: min-max map of the lines field of RandomState(3 + 1000)
    g = lines(100, np.random.RandomState(1003))
    expected = 1.5 * (2 * (g - g.min()) / (g.max() - g.min()) - 1)
    np.testing.assert_allclose(phi, expected, rtol=0, atol=1e-12)
    assert phi.std() > 0.2  # structure, not a constant
    with pytest.raises(ValueError, match="max_phase"):
        phase_map(10, 1, 0.0)


def test_phase_object_amplitude_is_the_lines_object():
    obj = phase_object(64, 5, 1.0)
    np.testing.assert_allclose(np.abs(obj), lines(64, np.random.RandomState(5)), rtol=1e-6)
    # the phase is not the amplitude's own field rescaled
    a = np.abs(obj).astype(np.float64)
    a_mapped = 2 * (a - a.min()) / np.ptp(a) - 1
    assert np.max(np.abs(np.angle(obj) - a_mapped)) > 0.5


def test_defocused_probe_phase_is_quadratic():
    N = 64
    probe = defocused_probe(N, math.pi)
    np.testing.assert_allclose(np.abs(probe), np.abs(default_probe(N)), rtol=1e-6)
    c = (N - 1) / 2
    # centre pixels: r^2 = 0.5, phase pi * 0.5 / 16^2
    assert np.angle(probe[31, 31]) == pytest.approx(math.pi * 0.5 / 256, abs=1e-6)
    # pixel (31, 31 + 8): r^2 = 0.25 + 8.5^2
    r2 = (31 - c) ** 2 + (39 - c) ** 2
    assert np.angle(probe[31, 39]) == pytest.approx(math.pi * r2 / 256, abs=1e-5)
    # at the mask radius N/4 the phase reaches pi (wraps to +-pi)
    assert (
        abs(np.angle(probe[31, 47] * np.exp(-1j * math.pi * ((31 - c) ** 2 + 15.5**2) / 256)))
        < 1e-5
    )


def test_phase_builtin_carries_the_phase_and_is_deterministic(cache_dir):
    path = resolve_data("builtin:lines-phase-64")
    raw = load_npz(path)
    phase = np.angle(raw.objectGuess)
    assert phase.min() == pytest.approx(-PHASE_RANGE, abs=1e-5)
    assert phase.max() == pytest.approx(PHASE_RANGE, abs=1e-5)
    np.testing.assert_allclose(
        phase, phase_map(224, 1, PHASE_RANGE), rtol=0, atol=1e-5
    )  # train object seed 1
    np.testing.assert_array_equal(raw.probeGuess, defocused_probe(64, DEFOCUS))
    strong = np.abs(raw.probeGuess) > 0.1
    assert np.ptp(np.angle(raw.probeGuess[strong])) > 1.0
    assert raw.metadata["object"]["max_phase"] == PHASE_RANGE
    assert raw.metadata["probe"] == {"kind": "defocused", "edge_phase": DEFOCUS}
    # same seed, same bytes: regenerate into a second cache file and compare
    again = BUILTINS["lines-phase-64"].simulate("train")
    np.testing.assert_array_equal(again.diff3d, raw.diff3d)
    np.testing.assert_array_equal(again.objectGuess, raw.objectGuess)
    test = load_npz(resolve_data("builtin:lines-phase-64:test"))
    assert not np.array_equal(np.angle(test.objectGuess), phase)
