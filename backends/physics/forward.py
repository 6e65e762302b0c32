"""Float64 end-to-end physics of the model, from head outputs to predicted intensity
(physics.md section 11, model.md section 5)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np

from backends.config.canonical import ModelConfig
from backends.graph import output_channels, padded_size
from backends.physics.diffraction import diffract
from backends.physics.fields import combine_complex
from backends.physics.geometry import extract_patches, flat_to_channel, merge_patches, pad_to, trim
from backends.physics.illumination import illuminate
from backends.physics.probe import normalize_probe

FORWARD_STAGES = (
    "obj",
    "padded_obj_2",
    "trimmed_obj",
    "padded_objs_with_offsets",
    "probe_illumination",
    "pred_amplitude",
    "pred_diff_channels",
    "intensity_scaler_inv",
    "pred_intensity",
)
"""Stage names of :func:`backends.graph.stages` that :func:`forward_physics` produces."""


def model_config(config_like: ModelConfig | Mapping[str, Any] | Any) -> ModelConfig:
    """A :class:`ModelConfig` from a ModelConfig, a mapping of its fields, or any object with
    (some of) its field names as attributes; unknown keys are ignored, missing ones default."""
    if isinstance(config_like, ModelConfig):
        return config_like
    names = [f.name for f in dataclasses.fields(ModelConfig)]
    if isinstance(config_like, Mapping):
        values = {k: config_like[k] for k in names if k in config_like}
    else:
        values = {k: getattr(config_like, k) for k in names if hasattr(config_like, k)}
    return ModelConfig(**values)


def forward_physics(
    amp: np.ndarray,
    phi: np.ndarray,
    positions: np.ndarray,
    probe_raw: np.ndarray,
    config_like: ModelConfig | Mapping[str, Any] | Any,
    log_scale: float | np.floating[Any],
    *,
    probe_is_normalised: bool = False,
) -> dict[str, np.ndarray]:
    """Every physics stage of the model in float64, keyed by stage name (``FORWARD_STAGES``).

    ``amp``, ``phi``: head outputs (B, N, N, C_o) (``C_o = C`` if ``object_big`` else 1);
    ``positions``: ``coords_start_relative`` (B, 1, 2, C); ``probe_raw``: (N, N), normalised
    here with ``probe_scale`` (pass ``probe_is_normalised=True`` to use it as given);
    ``log_scale``: the scaler variable ell (the output is multiplied by ``exp(ell)``).
    """
    cfg = model_config(config_like)
    N, C = cfg.N, cfg.channels
    M = padded_size(cfg)
    obj = combine_complex(amp, phi, cfg.combine_mode)
    expected = (N, N, output_channels(cfg))
    if obj.ndim != 4 or obj.shape[1:] != expected:
        raise ValueError(f"amp/phi must have shape (B, {N}, {N}, {expected[2]}), got {obj.shape}")
    B = obj.shape[0]
    pos = np.asarray(positions)
    if pos.shape != (B, 1, 2, C):
        raise ValueError(
            f"positions must have shape (B, 1, 2, C) = ({B}, 1, 2, {C}), got {pos.shape}"
        )
    canvas = merge_patches(obj, pos, M) if cfg.object_big else pad_to(obj, M)
    trimmed = trim(canvas, N)
    patches = extract_patches(canvas, pos, N)
    probe = probe_raw if probe_is_normalised else normalize_probe(probe_raw, cfg.probe_scale)
    psi = illuminate(patches, probe, cfg.gaussian_smoothing_sigma, cfg.probe_mask)
    amplitude = diffract(psi)
    channels = flat_to_channel(amplitude, C)
    scaled = channels * np.exp(np.float64(log_scale))
    return {
        "obj": obj,
        "padded_obj_2": canvas,
        "trimmed_obj": trimmed,
        "padded_objs_with_offsets": patches,
        "probe_illumination": psi,
        "pred_amplitude": amplitude,
        "pred_diff_channels": channels,
        "intensity_scaler_inv": scaled,
        "pred_intensity": scaled**2,
    }
