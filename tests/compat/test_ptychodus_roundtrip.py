"""ptychodus 1.7.0, unmodified, trains, saves, reopens and reconstructs through its own
reconstructor objects on both backends; each reconstruction equals ``parity infer`` with the
saved model and the same data within the inference tolerance (parity/tolerances.toml).

ptychodus runs every train and reconstruct call in a spawned child process, so these tests
also show the facade works headless in a child.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import tomllib
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.compat.ptychodus_product import reconstruct_input

pytestmark = [pytest.mark.slow, pytest.mark.both]

ROOT = Path(__file__).resolve().parents[2]
DATA = "builtin:lines-64-small"
TEST_DATA = f"{DATA}:test"
EPOCHS = 2
ENV = {
    "TF_ENABLE_ONEDNN_OPTS": "0",
    "TF_CPP_MIN_LOG_LEVEL": "2",
    "PYTHONHASHSEED": "0",
}


@pytest.fixture(scope="module", autouse=True)
def _child_environment() -> Any:
    """The environment the spawned children inherit (reproducible TensorFlow numerics)."""
    saved = {k: os.environ.get(k) for k in ENV}
    os.environ.update(ENV)
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="module")
def inputs() -> dict[str, Any]:
    train, _ = reconstruct_input(DATA)
    test, _ = reconstruct_input(TEST_DATA)
    return {"train": train, "test": test}


def _tolerance() -> dict[str, Any]:
    with open(ROOT / "parity" / "tolerances.toml", "rb") as handle:
        return dict(tomllib.load(handle)["inference"])


def _parity_infer(backend: str, model: Path, out: Path) -> np.ndarray:
    """The stitched object of ``parity infer`` (the command line, in its own process)."""
    cmd = [sys.executable, "-m", "parity", "infer", "--backend", backend, "--model", str(model)]
    cmd += ["--data", TEST_DATA, "--output-dir", str(out)]
    done = subprocess.run(
        cmd, cwd=ROOT, env={**os.environ, **ENV}, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    with np.load(out / "reconstruction.npz") as rec:
        return np.asarray(rec["stitched"])


def _assert_equal_to_parity_infer(obj: Any, reference: np.ndarray) -> dict[str, float]:
    """The ptychodus Object equals the reference within the inference tolerances."""
    tol = _tolerance()
    layers = np.asarray(obj.get_array())
    assert layers.shape == (1, *reference.shape), (layers.shape, reference.shape)
    got = layers[0]
    scale = float(np.max(np.abs(reference)))
    assert scale > 0.0 and np.all(np.isfinite(got))
    canvas = float(np.max(np.abs(got - reference))) / scale
    amplitude = float(np.max(np.abs(np.abs(got) - np.abs(reference)))) / scale
    assert canvas <= tol["canvas"]["rtol"], f"stitched object differs by {canvas:.3e} of max"
    assert amplitude <= tol["amplitude"]["rtol"], f"amplitude differs by {amplitude:.3e}"
    mask = np.abs(reference) >= tol["phase"]["mask_below"] * scale
    dphi = np.angle(got[mask] * np.conj(reference[mask]))
    phase = float(np.max(np.abs(dphi))) if dphi.size else 0.0
    assert phase <= tol["phase"]["atol"], f"phase differs by {phase:.3e} rad"
    return {"canvas_rel": canvas, "amplitude_rel": amplitude, "phase_rad": phase}


def _assert_project_bundle(path: Path, backend: str) -> None:
    """The saved model is this project's bundle: a manifest, no pickle anywhere."""
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        manifest = json.loads(archive.read("manifest.json"))
    assert manifest["backend"] == backend
    assert not [n for n in names if n.endswith((".dill", ".pkl", ".pickle", ".pt", ".pth"))]


def _reconstructors(library_cls: Any) -> tuple[Any, dict[str, Any]]:
    from ptychodus.api.settings import SettingsRegistry

    library = library_cls(SettingsRegistry(), False)
    return library, {r.name: r for r in library}


def _report(record_property: Any, name: str, figures: dict[str, float]) -> None:
    for key, value in figures.items():
        record_property(f"{name}.{key}", value)
    print(f"\n{name}: " + ", ".join(f"{k}={v:.4g}" for k, v in figures.items()))


def test_tensorflow_reconstructor_trains_saves_reopens_and_matches_parity_infer(
    inputs: dict[str, Any], tmp_path: Path, record_property: Any
) -> None:
    from ptychodus.model.ptychopinn import PtychoPINNReconstructorLibrary

    library, reconstructors = _reconstructors(PtychoPINNReconstructorLibrary)
    assert set(reconstructors) == {"PINN", "Supervised"}
    pinn = reconstructors["PINN"]
    library.training_settings.nepochs.set_value(EPOCHS)
    library.training_settings.nphotons.set_value(1e9)  # the built-in data's photon count
    data_dir, run_dir = tmp_path / "data", tmp_path / "run"
    data_dir.mkdir()
    run_dir.mkdir()
    pinn.export_training_data(data_dir / "train_data.npz", inputs["train"])
    pinn.export_training_data(data_dir / "test_data.npz", inputs["test"])

    started = time.perf_counter()
    outputs = list(pinn.train(data_dir, run_dir))
    trained = time.perf_counter()
    assert outputs, "training yielded nothing"
    assert (run_dir / "wts.h5.zip").is_file()
    assert (run_dir / "history.json").is_file()
    saved = tmp_path / "model.zip"  # not named wts.h5.zip: ptychodus unpacks it on reopening
    pinn.save_model(saved)
    _assert_project_bundle(saved, "tensorflow")

    _, reopened = _reconstructors(PtychoPINNReconstructorLibrary)
    again = reopened["PINN"]
    again.load_model_from_file(saved)
    before = time.perf_counter()
    results = list(again.reconstruct(inputs["test"]))
    done = time.perf_counter()
    assert len(results) == 1

    reference = _parity_infer("tensorflow", saved, tmp_path / "parity")
    diffs = _assert_equal_to_parity_infer(results[0].product.object_, reference)
    _report(
        record_property,
        "tensorflow",
        {"train_s": trained - started, "reconstruct_s": done - before, **diffs},
    )


def test_pytorch_reconstructor_trains_saves_reopens_and_matches_parity_infer(
    inputs: dict[str, Any], tmp_path: Path, record_property: Any
) -> None:
    from ptychodus.model.ptychopinn_torch import PtychoPINNTorchReconstructorLibrary

    library, reconstructors = _reconstructors(PtychoPINNTorchReconstructorLibrary)
    assert set(reconstructors) == {"Unsupervised", "Supervised"}
    unsupervised = reconstructors["Unsupervised"]
    data, training = library.data_settings, library.training_settings
    data.model_size.set_value(64)
    data.num_channels.set_value(1)
    data.grid_size_x.set_value(1)
    data.grid_size_y.set_value(1)
    training.epochs.set_value(EPOCHS)
    training.num_dataloader_workers.set_value(0)
    data_dir, run_dir = tmp_path / "data", tmp_path / "run"
    data_dir.mkdir()
    run_dir.mkdir()
    unsupervised.export_training_data(data_dir / "train_data.npz", inputs["train"])
    unsupervised.export_training_data(data_dir / "test_data.npz", inputs["test"])

    started = time.perf_counter()
    outputs = list(unsupervised.train(data_dir, run_dir))
    trained = time.perf_counter()
    assert len(outputs) == 1
    losses = outputs[0].training_loss
    assert [v.epoch for v in losses] == list(range(EPOCHS))
    assert all(np.isfinite(v.value) for v in losses)
    assert outputs[0].progress == EPOCHS
    checkpoints = list(run_dir.rglob("*.ckpt"))
    assert len(checkpoints) == 1
    saved = tmp_path / "model.ckpt"
    unsupervised.save_model(saved)
    _assert_project_bundle(saved, "pytorch")

    _, reopened = _reconstructors(PtychoPINNTorchReconstructorLibrary)
    again = reopened["Unsupervised"]
    again.load_model_from_file(saved)
    before = time.perf_counter()
    results = list(again.reconstruct(inputs["test"]))
    done = time.perf_counter()
    assert len(results) == 1

    reference = _parity_infer("pytorch", saved, tmp_path / "parity")
    diffs = _assert_equal_to_parity_infer(results[0].product.object_, reference)
    _report(
        record_property,
        "pytorch",
        {"train_s": trained - started, "reconstruct_s": done - before, **diffs},
    )
