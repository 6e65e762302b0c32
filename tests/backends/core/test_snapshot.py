"""The params snapshot both backends write into a bundle."""

from __future__ import annotations

import numpy as np
import pytest

from backends.config import ModelConfig, TrainingConfig
from backends.config.legacy import LegacyParams, update_legacy_dict
from backends.core.snapshot import params_snapshot


@pytest.mark.parametrize("layout", [(8, 8), (8, 8, 1)])
def test_snapshot_holds_the_legacy_params_and_the_runtime_keys(layout) -> None:
    config = TrainingConfig(model=ModelConfig(N=64, gridsize=2), nepochs=3)
    probe = (np.arange(64).reshape(8, 8) * (1 + 1j)).reshape(layout)
    params = params_snapshot(
        config,
        backend="pytorch",
        intensity_scale=2.5,
        probe=probe,
        offset=4,
        max_position_jitter=10,
    )
    legacy = LegacyParams()
    update_legacy_dict(legacy, config)
    for key, value in dict(legacy).items():
        if key not in ("intensity_scale", "probe", "offset", "max_position_jitter", "backend"):
            assert params[key] == value, key
    assert params["intensity_scale"] == 2.5
    assert params["probe"].shape == (8, 8, 1) and params["probe"].dtype == np.complex64
    np.testing.assert_array_equal(params["probe"][..., 0], probe.reshape(8, 8))
    assert (params["offset"], params["max_position_jitter"]) == (4, 10)
    assert params["backend"] == "pytorch"
