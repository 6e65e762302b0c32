"""Float64 end-to-end physics from head outputs (physics.md section 11)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from backends import physics
from backends.config import ModelConfig
from backends.graph import padded_size, stages


def _heads(rng: np.random.Generator, B: int, N: int, C: int) -> tuple[np.ndarray, np.ndarray]:
    amp = rng.uniform(0, 1, size=(B, N, N, C)).astype(np.float32)
    phi = rng.uniform(-math.pi, math.pi, size=(B, N, N, C)).astype(np.float32)
    return amp, phi


def test_keys_are_the_graph_stages_from_obj_onwards() -> None:
    cfg = ModelConfig(N=64)
    names = [s.name for s in stages(cfg)]
    assert list(physics.FORWARD_STAGES) == names[names.index("obj") :]


@pytest.mark.parametrize(("gridsize", "M"), [(1, 74), (2, 78)])
def test_shapes(gridsize: int, M: int) -> None:
    cfg = ModelConfig(N=64, gridsize=gridsize)
    assert padded_size(cfg) == M
    B, C = 2, gridsize**2
    rng = np.random.default_rng(gridsize)
    amp, phi = _heads(rng, B, 64, C)
    positions = rng.uniform(-3, 3, size=(B, 1, 2, C)).astype(np.float32)
    out = physics.forward_physics(
        amp, phi, positions, physics.default_probe(64), cfg, math.log(988.0)
    )
    assert list(out) == list(physics.FORWARD_STAGES)
    expected = {
        "obj": (B, 64, 64, C),
        "padded_obj_2": (B, M, M, 1),
        "trimmed_obj": (B, 64, 64, 1),
        "padded_objs_with_offsets": (B * C, 64, 64, 1),
        "probe_illumination": (B * C, 64, 64, 1),
        "pred_amplitude": (B * C, 64, 64, 1),
        "pred_diff_channels": (B, 64, 64, C),
        "intensity_scaler_inv": (B, 64, 64, C),
        "pred_intensity": (B, 64, 64, C),
    }
    assert {k: v.shape for k, v in out.items()} == expected


def test_stages_compose_the_individual_ops() -> None:
    cfg = ModelConfig(N=64, gridsize=2, gaussian_smoothing_sigma=0.5, probe_mask=True)
    rng = np.random.default_rng(0)
    amp, phi = _heads(rng, 2, 64, 4)
    positions = rng.uniform(-4, 4, size=(2, 1, 2, 4)).astype(np.float32)
    raw = physics.default_probe(64)
    ell = np.float32(math.log(physics.intensity_scale(1e9, 64)))
    out = physics.forward_physics(amp, phi, positions, raw, cfg, ell)
    obj = physics.combine_complex(amp, phi)
    canvas = physics.merge_patches(obj, positions, 78)
    patches = physics.extract_patches(canvas, positions, 64)
    psi = physics.illuminate(patches, physics.normalize_probe(raw, 4.0), 0.5, True)
    channels = physics.flat_to_channel(physics.diffract(psi), 4)
    np.testing.assert_array_equal(out["obj"], obj)
    np.testing.assert_array_equal(out["padded_obj_2"], canvas)
    np.testing.assert_array_equal(out["trimmed_obj"], physics.trim(canvas, 64))
    np.testing.assert_array_equal(out["probe_illumination"], psi)
    np.testing.assert_array_equal(out["pred_diff_channels"], channels)
    scale = math.exp(float(ell))
    np.testing.assert_allclose(out["intensity_scaler_inv"], channels * scale, rtol=1e-15)
    np.testing.assert_allclose(out["pred_intensity"], (channels * scale) ** 2, rtol=1e-15)
    # energy identity per pattern
    np.testing.assert_allclose(
        np.sum(out["pred_amplitude"] ** 2, axis=(1, 2, 3)),
        np.sum(np.abs(psi) ** 2, axis=(1, 2, 3)),
        rtol=1e-12,
    )


def test_c1_zero_positions_by_hand() -> None:
    cfg = ModelConfig(N=64)
    rng = np.random.default_rng(1)
    amp, phi = _heads(rng, 1, 64, 1)
    out = physics.forward_physics(
        amp, phi, np.zeros((1, 1, 2, 1)), physics.default_probe(64), cfg, 0.0
    )
    q = physics.center_mask(64)[None, :, :, None]
    expected_obj = physics.combine_complex(amp, phi) / (q + 0.001)
    np.testing.assert_allclose(out["trimmed_obj"], expected_obj, rtol=1e-14)
    np.testing.assert_array_equal(out["padded_objs_with_offsets"], out["trimmed_obj"])
    np.testing.assert_array_equal(out["intensity_scaler_inv"], out["pred_diff_channels"])


def test_object_big_false_pads_the_single_channel() -> None:
    cfg = ModelConfig(N=64, gridsize=2, object_big=False)
    rng = np.random.default_rng(2)
    amp, phi = _heads(rng, 2, 64, 1)
    positions = np.zeros((2, 1, 2, 4))
    out = physics.forward_physics(amp, phi, positions, physics.default_probe(64), cfg, 0.0)
    np.testing.assert_array_equal(out["padded_obj_2"], physics.pad_to(out["obj"], 78))
    np.testing.assert_array_equal(out["trimmed_obj"], out["obj"])
    with pytest.raises(ValueError, match="amp/phi"):
        physics.forward_physics(
            *_heads(rng, 2, 64, 4), positions, physics.default_probe(64), cfg, 0.0
        )


def test_combine_mode_and_config_forms() -> None:
    rng = np.random.default_rng(3)
    amp, phi = _heads(rng, 1, 64, 1)
    pos = np.zeros((1, 1, 2, 1))
    probe = physics.default_probe(64)
    polar = physics.forward_physics(amp, phi, pos, probe, {"N": 64}, 0.0)
    rect = physics.forward_physics(
        amp, phi, pos, probe, {"N": 64, "combine_mode": "legacy_rect"}, 0.0
    )
    np.testing.assert_array_equal(rect["obj"], amp + 1j * phi.astype(np.float64))
    assert np.max(np.abs(polar["obj"] - rect["obj"])) > 0.1
    normalised = physics.normalize_probe(probe, 4.0)
    given = physics.forward_physics(
        amp, phi, pos, normalised, ModelConfig(N=64), 0.0, probe_is_normalised=True
    )
    np.testing.assert_array_equal(given["pred_intensity"], polar["pred_intensity"])


def test_positions_shape_is_checked() -> None:
    rng = np.random.default_rng(4)
    amp, phi = _heads(rng, 2, 64, 4)
    with pytest.raises(ValueError, match="positions"):
        physics.forward_physics(
            amp,
            phi,
            np.zeros((2, 1, 2, 1)),
            physics.default_probe(64),
            ModelConfig(N=64, gridsize=2),
            0.0,
        )
