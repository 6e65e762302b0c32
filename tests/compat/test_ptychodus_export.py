"""An NPZ written by ptychodus's own training-data export (``xcoords``, ``ycoords``, ``diff3d``,
``probeGuess`` as a ``(modes, N, N)`` stack, ``objectGuess``, ``scan_index``, ``bad_pixels``)
trains and infers with ``parity`` as it is, with upstream's flag spellings, on both backends."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.compat.ptychodus_product import reconstruct_input

pytestmark = [pytest.mark.slow, pytest.mark.both]


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from ptychodus.api.settings import SettingsRegistry
    from ptychodus.model.ptychopinn import PtychoPINNReconstructorLibrary

    library = PtychoPINNReconstructorLibrary(SettingsRegistry(), False)
    pinn = {r.name: r for r in library}["PINN"]
    path = tmp_path_factory.mktemp("export") / "train_data.npz"
    pinn.export_training_data(path, reconstruct_input("builtin:lines-64-small")[0])
    with np.load(path) as data:
        assert data["probeGuess"].shape == (1, 64, 64)
        assert {"xcoords", "ycoords", "diff3d", "objectGuess", "scan_index"} <= set(data.files)
    return path


@pytest.mark.parametrize("backend", ["tensorflow", "pytorch"])
def test_ptychodus_export_trains_and_infers_as_it_is(
    exported: Path, tmp_path: Path, backend: str
) -> None:
    from parity.cli import main

    run = tmp_path / "run"
    train = ["train", "--train_data_file", str(exported), "--nepochs", "1", "--n_groups", "32"]
    assert main([*train, "--output_dir", str(run), "--backend", backend, "--no-progress"]) == 0
    assert (run / "wts.h5.zip").is_file()
    out = tmp_path / "infer"
    infer = ["infer", "--model_path", str(run), "--test_data", str(exported), "--n_groups", "16"]
    assert main([*infer, "--output_dir", str(out), "--no-progress"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())["metrics"]
    assert np.isfinite(metrics["amplitude"]["psnr"])
    with np.load(out / "reconstruction.npz") as recon:
        assert recon["patches"].shape == (16, 64, 64, 1)
