"""The tolerance registry: lookup order, the packaged entries, overrides and their errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from parity.errors import InputError
from parity.tolerances import Registry, Tolerance


def test_packaged_registry_has_the_float32_defaults_and_explicit_entries() -> None:
    reg = Registry.load()
    default = reg.lookup("anything", "unknown-kind")
    assert (default.rtol, default.atol, default.mode) == (1.3e-6, 1e-5, "elementwise")
    for key in (
        "fft",
        "complex",
        "canvas",
        "training.loss",
        "training.first_step",
        "training.weights",
        "gradient",
        "gradient_bias",
    ):
        assert key in reg.entries, key
        assert reg.entries[key].basis, f"{key} says what it is based on"
    assert reg.lookup("forward", "fft").rtol == 1e-5  # physics.md 3
    assert reg.lookup("forward", "canvas").mode == "scaled"


def test_lookup_prefers_family_kind_then_family_then_kind(tmp_path: Path) -> None:
    path = tmp_path / "t.toml"
    path.write_text(
        "[default]\nrtol = 1.0\natol = 1.0\n"
        "[fft]\nrtol = 2.0\n"
        "[ops]\nrtol = 3.0\n"
        "[ops.fft]\nrtol = 4.0\n"
    )
    reg = Registry.load(path)
    assert reg.lookup("ops", "fft").rtol == 4.0
    assert reg.lookup("ops", "other").rtol == 3.0
    assert reg.lookup("forward", "fft").rtol == 2.0
    assert reg.lookup("forward", "other").rtol == 1.0


def test_scenario_override_for_one_tensor_wins_and_keeps_other_fields() -> None:
    reg = Registry.load().with_overrides({"forward:pred_intensity": {"rtol": 5e-5}}, "s.toml")
    tol = reg.lookup("forward", "intensity", "pred_intensity")
    assert tol.rtol == 5e-5 and tol.mode == "scaled"  # mode inherited from [forward] / kind
    assert "s.toml" in tol.basis
    assert reg.lookup("forward", "intensity", "other").rtol == 2e-5


def test_unknown_field_names_the_closest_one(tmp_path: Path) -> None:
    path = tmp_path / "t.toml"
    path.write_text("[fft]\nrtoll = 1e-5\n")
    with pytest.raises(InputError, match="did you mean 'rtol'"):
        Registry.load(path)
    with pytest.raises(InputError, match="did you mean 'atol'"):
        Registry.load().with_overrides({"forward.fft": {"atoll": 1}}, "x")


def test_bad_values_are_refused() -> None:
    with pytest.raises(InputError, match="rtol"):
        Tolerance(rtol=-1.0)
    with pytest.raises(InputError, match="mode"):
        Tolerance(mode="loose")


def test_convergence_settings_are_available() -> None:
    conv = Registry.load().convergence()
    assert conv["alpha"] == 0.05 and conv["margins"]["amplitude.psnr"] == 1.0
