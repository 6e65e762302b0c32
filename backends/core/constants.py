"""Numbers of the physics that both backends and the oracle use (docs/physics.md)."""

from __future__ import annotations

MERGE_EPSILON = 0.001
"""Added to the centre-mask coverage before dividing when patches are merged (physics.md 8.1)."""

STITCH_EPSILON = 1e-9
"""Added to the stitching weight before dividing (physics.md 8.2)."""

NLL_FLOOR = 1e-12
"""Predicted intensities are clamped to at least this before the logarithm (physics.md 10)."""

DEFAULT_OFFSET = 4
"""Pixel offset between the scan positions of a group that sizes the padded canvas."""

DEFAULT_MAX_POSITION_JITTER = 10
"""Margin in pixels added to the padded canvas for positions off the nominal grid."""

LEGACY_TV_WEIGHT = 0.0
"""Weight of the total-variation term; a legacy-only key, not a canonical training field."""
