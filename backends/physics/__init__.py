"""Float64 NumPy oracle of every physics operation of docs/physics.md.

The third voice in parity: both backends' ops (:class:`backends.base.Ops`) are checked against
these functions, which take NumPy arrays in the reference layout (NHWC, positions
(B, 1, 2, C) [x, y]) and return float64 / complex128. NumPy and SciPy only.
"""

from backends.physics.diffraction import diffract, diffract_padded
from backends.physics.fields import COMBINE_MODES, combine_complex
from backends.physics.forward import FORWARD_STAGES, forward_physics, model_config
from backends.physics.geometry import (
    MERGE_EPSILON,
    center_channels,
    channel_to_flat,
    extract_object_patches,
    extract_patches,
    flat_to_channel,
    flat_to_grid,
    grid_to_channel,
    merge_patches,
    pad_to,
    trim,
)
from backends.physics.illumination import illuminate
from backends.physics.losses import (
    NLL_FLOOR,
    complex_mae,
    mae,
    poisson_nll,
    realspace_loss,
    realspace_target,
    total_loss,
    total_variation,
)
from backends.physics.probe import (
    center_mask,
    default_probe,
    normalize_probe,
    probe_divisor,
    probe_mask,
)
from backends.physics.reassembly import (
    extract_patches_grid,
    reassemble_patches_real,
    reassemble_whole_object,
)
from backends.physics.scale import intensity_scale, intensity_scale_from_patches
from backends.physics.smoothing import gaussian_kernel_1d, gaussian_kernel_2d, gaussian_smooth
from backends.physics.stitching import WEIGHT_EPSILON, stitch, stitch_offsets
from backends.physics.translation import translate

__all__ = [
    "COMBINE_MODES",
    "FORWARD_STAGES",
    "MERGE_EPSILON",
    "NLL_FLOOR",
    "WEIGHT_EPSILON",
    "center_channels",
    "center_mask",
    "channel_to_flat",
    "combine_complex",
    "complex_mae",
    "default_probe",
    "diffract",
    "diffract_padded",
    "extract_object_patches",
    "extract_patches",
    "extract_patches_grid",
    "flat_to_channel",
    "flat_to_grid",
    "forward_physics",
    "gaussian_kernel_1d",
    "gaussian_kernel_2d",
    "gaussian_smooth",
    "grid_to_channel",
    "illuminate",
    "intensity_scale",
    "intensity_scale_from_patches",
    "mae",
    "merge_patches",
    "model_config",
    "normalize_probe",
    "pad_to",
    "poisson_nll",
    "probe_divisor",
    "probe_mask",
    "realspace_loss",
    "realspace_target",
    "reassemble_patches_real",
    "reassemble_whole_object",
    "stitch",
    "stitch_offsets",
    "total_loss",
    "total_variation",
    "translate",
    "trim",
]
