"""Scans that cannot be physical are refused, suspicious ones warned about; ``parity inspect``
and the loader used by training agree on every case."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from backends.data import load_npz
from parity.cli import main
from tests.backends.data.conftest import make_arrays


def _file(tmp_path: Path, **changes: np.ndarray) -> Path:
    arrays = make_arrays()
    arrays.update(changes)
    path = tmp_path / "scan.npz"
    np.savez(path, **arrays)
    return path


M, N = 12, 8
ERRORS = {
    "negative diffraction": (
        {"diff3d": np.full((M, N, N), -0.5, np.float32)},
        "negative values",
    ),
    "zero diffraction": ({"diff3d": np.zeros((M, N, N), np.float32)}, "zero everywhere"),
    "astronomical diffraction": (
        {"diff3d": np.full((M, N, N), 1e30, np.float32)},
        "beyond any measured amplitude",
    ),
    "zero probe": ({"probeGuess": np.zeros((N, N), np.complex64)}, "'probeGuess' is zero"),
    "coordinates x1e12": (
        {"xcoords": np.linspace(0, 1e12, M), "xcoords_start": np.linspace(0, 1e12, M)},
        "must fit a canvas",
    ),
    "empty objectGuess": ({"objectGuess": np.zeros((0, 0), np.complex64)}, "holds no pixels"),
}


@pytest.mark.parametrize("case", sorted(ERRORS))
def test_impossible_scans_are_refused_by_loader_and_inspect(tmp_path, capsys, case) -> None:
    changes, message = ERRORS[case]
    path = _file(tmp_path, **changes)
    with pytest.raises(ValueError, match=message):
        load_npz(path)
    assert main(["inspect", str(path)]) == 2
    out = capsys.readouterr().out
    assert "verdict: INVALID" in out and message in out


def test_suspicious_scans_warn(tmp_path: Path) -> None:
    diff = make_arrays()["diff3d"]
    diff[:3] = 0
    with pytest.warns(UserWarning, match="3 of 12 patterns in 'diff3d' are zero everywhere"):
        load_npz(_file(tmp_path, diff3d=diff))
    same = np.full(M, 20.0)
    with pytest.warns(UserWarning, match="all 12 scan positions are identical"):
        load_npz(
            _file(tmp_path, xcoords=same, ycoords=same, xcoords_start=same, ycoords_start=same)
        )
    deep = np.array("[" * 10_000 + "]" * 10_000)
    with pytest.warns(UserWarning, match="'_metadata' ignored: is nested more than 64 levels"):
        load_npz(_file(tmp_path, _metadata=deep))
    with pytest.warns(UserWarning, match="'payload' are not part of the data contract"):
        load_npz(_file(tmp_path, payload=np.array([{"a": 1}], dtype=object)))


def test_a_plausible_scan_loads_silently(tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        raw = load_npz(_file(tmp_path))
    assert raw.n_patterns == M
