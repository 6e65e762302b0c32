"""The layout of ptychodus's training-data export loads as it is: the probe as a
``(modes, N, N)`` stack (first mode used), an extra ``bad_pixels`` key ignored."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from backends.data import load_npz, resolve_data


@pytest.mark.parametrize("modes", [1, 3])
def test_probe_mode_stack_uses_the_first_mode(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, modes: int
) -> None:
    raw = load_npz(resolve_data("builtin:lines-64-small"))
    arrays = raw.to_arrays()
    others = [arrays["probeGuess"] * (k + 2) for k in range(modes - 1)]
    arrays["probeGuess"] = np.stack([arrays["probeGuess"], *others])
    arrays["bad_pixels"] = np.zeros(arrays["diff3d"].shape[1:], bool)
    arrays["scan_index"] = np.zeros(len(raw), int)
    path = tmp_path / "train_data.npz"
    np.savez(path, **arrays)
    with caplog.at_level(logging.WARNING):
        loaded = load_npz(path)
    np.testing.assert_array_equal(loaded.probeGuess, raw.probeGuess)
    np.testing.assert_array_equal(loaded.diff3d, raw.diff3d)
    warned = [r.getMessage() for r in caplog.records if "probe modes" in r.getMessage()]
    assert len(warned) == (modes > 1)
    if modes > 1:
        assert f"{modes} probe modes" in warned[0] and "mode 0" in warned[0]
