"""Cross-check of the oracle's translation against TensorFlow's projective-transform kernel
(the non-XLA reference path of physics.md 7.1 b: bilinear, constant zero fill)."""

from __future__ import annotations

import numpy as np
import pytest

from backends import physics

pytestmark = [pytest.mark.tensorflow, pytest.mark.slow]


def _tf_translate(images: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    tf = pytest.importorskip("tensorflow")
    B, H, W, _ = images.shape
    transforms = np.zeros((B, 8), dtype=np.float32)
    transforms[:, 0] = 1.0
    transforms[:, 4] = 1.0
    transforms[:, 2] = -shifts[:, 0]
    transforms[:, 5] = -shifts[:, 1]
    out = tf.raw_ops.ImageProjectiveTransformV3(
        images=images,
        transforms=transforms,
        output_shape=[H, W],
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode="CONSTANT",
    )
    return out.numpy()


def test_translation_agrees_with_tensorflow_at_float32_level() -> None:
    rng = np.random.default_rng(0)
    images = rng.normal(size=(6, 74, 74, 1)).astype(np.float32)
    shifts = rng.uniform(-9, 9, size=(6, 2)).astype(np.float32)
    shifts[0] = [3.0, -2.0]
    reference = _tf_translate(images, shifts)
    oracle = physics.translate(images, shifts)
    np.testing.assert_allclose(oracle, reference, rtol=0, atol=2e-6 * np.abs(oracle).max())
    np.testing.assert_array_equal(oracle[0], reference[0])
