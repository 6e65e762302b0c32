"""Object combination (physics.md section 1)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from backends import physics


def test_polar_hand_values() -> None:
    amp = np.array([2.0, 1.0, 3.0], dtype=np.float32)
    phi = np.array([np.pi / 2, np.pi, 0.0], dtype=np.float32)
    z = physics.combine_complex(amp, phi)
    assert z.dtype == np.complex128
    np.testing.assert_allclose(z, [2j, -1.0, 3.0], atol=2e-7)


def test_legacy_rect_is_amplitude_plus_i_phase() -> None:
    z = physics.combine_complex(np.array([2.0, 0.5]), np.array([0.5, -1.0]), mode="legacy_rect")
    np.testing.assert_array_equal(z, [2.0 + 0.5j, 0.5 - 1.0j])


@given(
    st.lists(st.floats(0, 10), min_size=1, max_size=8),
    st.lists(st.floats(-4, 4), min_size=8, max_size=8),
)
def test_polar_modulus_and_angle(amps: list[float], phis: list[float]) -> None:
    a = np.array(amps)
    p = np.array(phis[: len(amps)])
    z = physics.combine_complex(a, p)
    np.testing.assert_allclose(np.abs(z), a, rtol=1e-14, atol=1e-14)
    np.testing.assert_array_equal(z.real, a * np.cos(p))
    np.testing.assert_array_equal(z.imag, a * np.sin(p))


def test_bad_mode_and_shapes() -> None:
    with pytest.raises(ValueError, match="legacy_rect"):
        physics.combine_complex(np.ones(2), np.ones(2), mode="rect")
    with pytest.raises(ValueError, match="same shape"):
        physics.combine_complex(np.ones(2), np.ones(3))
