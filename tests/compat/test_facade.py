"""The facade's own surface, without training: what ptychodus 1.7.0 builds, assigns, pickles
and reads, checked against the project's data pipeline and the contract of upstream's names."""

from __future__ import annotations

import logging
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from backends.data import load_npz, resolve_data
from backends.data.grouping import assemble

ROOT = Path(__file__).resolve().parents[2]
UPSTREAM_BUNDLE = ROOT.parent / "shared" / "fixtures" / "upstream" / "tf-N64-g1" / "wts.h5.zip"


def test_configs_are_mutable_picklable_and_reach_the_legacy_params() -> None:
    from ptycho import params
    from ptycho.config.config import ModelConfig, TrainingConfig, update_legacy_dict

    config = TrainingConfig(model=ModelConfig(N=0, gridsize=2), nepochs=3, nphotons=1e6)
    config.model.N = 64  # what ptychodus' training child does
    clone = pickle.loads(pickle.dumps(config))
    assert clone == config and clone.model.N == 64
    update_legacy_dict(params.cfg, clone)
    assert params.get("N") == 64
    assert params.get("gridsize") == 2
    assert params.get("nepochs") == 3
    assert params.get("nphotons") == 1e6


def test_invalid_values_are_refused_when_used_not_when_built() -> None:
    from ptycho import params
    from ptycho.config.config import ModelConfig, TrainingConfig, update_legacy_dict

    config = TrainingConfig(model=ModelConfig(N=0))  # ptychodus builds this before it knows N
    with pytest.raises(ValueError, match="N=0"):
        update_legacy_dict(params.cfg, config)


def test_torch_configs_take_every_field_ptychodus_passes_and_stay_mutable() -> None:
    from ptycho_torch.config_params import (
        DataConfig,
        DatagenConfig,
        InferenceConfig,
        ModelConfig,
        TrainingConfig,
    )

    training = TrainingConfig(
        epochs=2,
        framework="Lightning",
        orchestrator="Lightning",
        enable_staged_finetuning=False,
        finetune_stage3_lr_phase_head=0.05,
        finetune_val_split=0.05,
    )
    training.n_devices = 1
    model = ModelConfig(
        mode="Unsupervised",
        use_shared_decoder=False,
        num_datasets=1,
        probe_reference_coeff=0.0,
        amplitude_variance_loss=False,
        amplitude_variance_coeff=0.01,
    )
    data = DataConfig(N=64, C=1, grid_size=(1, 1), probe_ramp_removal=False)
    inference = InferenceConfig(patch_weighting="probe")
    for config in (data, model, training, inference, DatagenConfig()):
        assert pickle.loads(pickle.dumps(config)) == config


def test_unsupported_features_are_named() -> None:
    from ptycho_torch.config_params import ModelConfig, TrainingConfig, unsupported_settings

    named = unsupported_settings(
        ModelConfig(cbam_encoder=True), TrainingConfig(enable_staged_finetuning=True)
    )
    assert named == [
        "ModelConfig.cbam_encoder=True",
        "TrainingConfig.enable_staged_finetuning=True",
    ]
    assert unsupported_settings(ModelConfig(), TrainingConfig()) == []


def test_config_modules_import_no_framework() -> None:
    code = (
        "import sys, ptycho.config.config, ptycho.params, ptycho_torch.config_params; "
        "bad = [m for m in ('tensorflow', 'torch', 'keras', 'lightning') if m in sys.modules]; "
        "sys.exit(str(bad) if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_probe_with_a_mode_axis_uses_its_first_mode(caplog: Any) -> None:
    from ptycho.raw_data import RawData

    raw = load_npz(resolve_data("builtin:lines-64-small:test"))
    modes = np.stack([raw.probeGuess, 0.1 * raw.probeGuess])
    with caplog.at_level(logging.WARNING):
        facade = RawData.from_coords_without_pc(
            raw.xcoords, raw.ycoords, raw.diff3d, modes, np.zeros(len(raw), int), raw.objectGuess
        )
    assert facade.probeGuess.shape == (64, 64)
    np.testing.assert_array_equal(facade.probeGuess, raw.probeGuess)
    assert "2 probe modes" in caplog.text


def test_grouped_data_and_container_are_the_project_pipeline() -> None:
    import ptycho.loader
    from ptycho.raw_data import RawData

    raw = load_npz(resolve_data("builtin:lines-64-small:test"))
    facade = RawData.from_coords_without_pc(
        raw.xcoords, raw.ycoords, raw.diff3d, raw.probeGuess[None], raw.scan_index, raw.objectGuess
    )
    grouped = facade.generate_grouped_data(64, K=7, nsamples=1, gridsize=1)
    expected = assemble(raw, np.arange(len(raw))[:, None])
    assert set(grouped) == set(expected)
    for key in ("X_full", "coords_offsets", "coords_relative", "nn_indices"):
        np.testing.assert_array_equal(grouped[key], expected[key])
    container = ptycho.loader.load(lambda: grouped, facade.probeGuess, which=None)
    assert container.X.shape == (len(raw), 64, 64, 1)
    assert container.local_offsets.shape == (len(raw), 1, 2, 1)
    np.testing.assert_array_equal(container.local_offsets, 0.0)  # gridsize 1: no local offset
    np.testing.assert_array_equal(container.global_offsets[:, 0, 0, 0], raw.xcoords)
    np.testing.assert_array_equal(container.global_offsets[:, 0, 1, 0], raw.ycoords)


def test_gridsize_two_groups_neighbours() -> None:
    from ptycho.raw_data import RawData

    raw = load_npz(resolve_data("builtin:lines-64-small:test"))
    facade = RawData.from_coords_without_pc(
        raw.xcoords, raw.ycoords, raw.diff3d, raw.probeGuess, raw.scan_index
    )
    grouped = facade.generate_grouped_data(64, K=7, nsamples=1, gridsize=2)
    nn = grouped["nn_indices"]
    assert nn.shape == (len(raw), 4)
    assert grouped["X_full"].shape == (len(raw), 64, 64, 4)
    points = np.stack([raw.xcoords, raw.ycoords], axis=1)
    # every member is among the 8 nearest points of some seed: a group spans a small region
    spread = np.max(np.linalg.norm(points[nn] - points[nn].mean(axis=1, keepdims=True), axis=2))
    extent = np.ptp(points, axis=0).max()
    assert spread < extent / 2


def test_wrong_n_for_grouping_is_a_clear_error() -> None:
    from ptycho.raw_data import RawData

    raw = load_npz(resolve_data("builtin:lines-64-small:test"))
    facade = RawData.from_coords_without_pc(
        raw.xcoords, raw.ycoords, raw.diff3d, raw.probeGuess, raw.scan_index
    )
    with pytest.raises(ValueError, match="N=128 but the diffraction patterns are 64x64"):
        facade.generate_grouped_data(128, gridsize=1)


def test_ptychodus_training_export_is_read(tmp_path: Path) -> None:
    from ptycho.raw_data import RawData

    raw = load_npz(resolve_data("builtin:lines-64-small:test"))
    path = tmp_path / "export.npz"
    np.savez(  # the keys and shapes of ptychodus.api.io.save_ptychopinn_training_data
        path,
        xcoords=raw.xcoords,
        ycoords=raw.ycoords,
        xcoords_start=raw.xcoords,
        ycoords_start=raw.ycoords,
        diff3d=raw.diff3d,
        bad_pixels=np.zeros((64, 64), bool),
        probeGuess=raw.probeGuess[None],
        objectGuess=raw.objectGuess,
        scan_index=np.zeros(len(raw), int),
    )
    facade = RawData.from_file(path)
    assert facade.diff3d.shape[-2:] == (64, 64)
    np.testing.assert_array_equal(facade.probeGuess, raw.probeGuess)


def test_find_best_checkpoint(tmp_path: Path) -> None:
    from ptycho_torch.lightning_utils import find_best_checkpoint

    assert find_best_checkpoint(tmp_path) is None
    assert find_best_checkpoint(tmp_path / "absent") is None
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "last.ckpt").write_bytes(b"x")
    assert find_best_checkpoint(tmp_path) == tmp_path / "a" / "last.ckpt"
    (tmp_path / "best-checkpoint.ckpt").write_bytes(b"x")
    assert find_best_checkpoint(tmp_path) == tmp_path / "best-checkpoint.ckpt"


class _RecordingBackend:
    def __init__(self) -> None:
        self.loaded: list[Path] = []

    def load_bundle(self, path: Path) -> tuple[str, dict[str, Any]]:
        self.loaded.append(Path(path))
        return "model", {}


@pytest.fixture
def recording_backend(monkeypatch: Any) -> _RecordingBackend:
    import backends

    backend = _RecordingBackend()
    monkeypatch.setattr(backends, "get", lambda name: backend)
    return backend


def _fake_bundle(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("manifest.json", '{"backend": "tensorflow"}')
        archive.writestr("params.json", "{}")
        archive.writestr("diffraction_to_obj/model.weights.h5", b"\0" * 8)
    return path


def test_bundle_paths_ptychodus_hands_over(tmp_path: Path, recording_backend: Any) -> None:
    from ptycho._bundles import open_bundle

    run = tmp_path / "run"
    run.mkdir()
    archive = _fake_bundle(run / "wts.h5.zip")
    open_bundle(run, "tensorflow")  # the training output directory
    open_bundle(tmp_path / "run" / "wts.h5.zip", "tensorflow")  # the archive itself
    unpacked = tmp_path / "unpacked"  # what ptychodus extracts from a saved model.zip
    with zipfile.ZipFile(archive) as handle:
        handle.extractall(unpacked)
    open_bundle(unpacked, "tensorflow")
    first, second, third = recording_backend.loaded
    assert first == second == archive
    with zipfile.ZipFile(archive) as a, zipfile.ZipFile(third) as b:
        assert sorted(a.namelist()) == sorted(b.namelist())
        for name in a.namelist():
            assert a.read(name) == b.read(name)


def test_unpacked_directory_with_a_symlink_is_refused(tmp_path: Path) -> None:
    from ptycho._bundles import FacadeBundleError, bundle_archive

    unpacked = tmp_path / "unpacked"
    unpacked.mkdir()
    (unpacked / "manifest.json").write_text("{}")
    (unpacked / "params.json").symlink_to(tmp_path / "elsewhere.json")
    with pytest.raises(FacadeBundleError, match="symbolic link"):
        bundle_archive(unpacked)


def test_directory_without_a_bundle_is_a_clear_error(tmp_path: Path) -> None:
    from ptycho._bundles import FacadeBundleError, bundle_archive

    with pytest.raises(FacadeBundleError, match=r"holds neither wts\.h5\.zip"):
        bundle_archive(tmp_path)
    with pytest.raises(FileNotFoundError, match="model not found"):
        bundle_archive(tmp_path / "absent.zip")


@pytest.mark.skipif(not UPSTREAM_BUNDLE.is_file(), reason="shared upstream fixtures absent")
def test_upstream_bundle_without_the_importer_is_refused(
    monkeypatch: Any, recording_backend: Any
) -> None:
    from ptycho._bundles import FacadeBundleError, open_bundle

    import backends.bundle.upstream as upstream

    monkeypatch.delattr(upstream, "convert_upstream_bundle", raising=False)
    with pytest.raises(FacadeBundleError, match="written by upstream PtychoPINN"):
        open_bundle(UPSTREAM_BUNDLE, "pytorch")
    assert recording_backend.loaded == []


@pytest.mark.skipif(not UPSTREAM_BUNDLE.is_file(), reason="shared upstream fixtures absent")
def test_upstream_bundle_goes_through_the_importer(
    monkeypatch: Any, recording_backend: Any, tmp_path: Path
) -> None:
    from ptycho._bundles import open_bundle

    import backends.bundle.upstream as upstream

    calls = []

    def convert(path: Path, backend: str, out_dir: Path) -> Path:
        calls.append((Path(path), backend))
        return _fake_bundle(Path(out_dir) / "wts.h5.zip")

    monkeypatch.setattr(upstream, "convert_upstream_bundle", convert, raising=False)
    open_bundle(UPSTREAM_BUNDLE.parent, "pytorch")
    assert calls == [(UPSTREAM_BUNDLE, "pytorch")]
    assert recording_backend.loaded[0].name == "wts.h5.zip"
    assert recording_backend.loaded[0] != UPSTREAM_BUNDLE


def test_supervised_training_is_refused_by_name() -> None:
    from ptycho.config.config import ModelConfig, TrainingConfig
    from ptycho.raw_data import RawData
    from ptycho.workflows.components import run_cdi_example
    from ptycho_torch.api.base_api import ConfigManager
    from ptycho_torch.config_params import ModelConfig as TorchModelConfig

    raw = load_npz(resolve_data("builtin:lines-64-small:test"))
    facade = RawData.from_coords_without_pc(
        raw.xcoords, raw.ycoords, raw.diff3d, raw.probeGuess, raw.scan_index
    )
    config = TrainingConfig(model=ModelConfig(model_type="supervised"))
    with pytest.raises(ValueError, match="model_type='supervised'"):
        run_cdi_example(facade, None, config)
    manager = ConfigManager(model_config=TorchModelConfig(mode="Supervised"))
    with pytest.raises(ValueError, match="mode='Supervised'"):
        manager.training_setup(Path("train.npz"), None, Path("out"))


@pytest.mark.both
@pytest.mark.skipif(not UPSTREAM_BUNDLE.is_file(), reason="shared upstream fixtures absent")
def test_upstream_trained_bundle_opens_through_the_facade_and_predicts_like_upstream() -> None:
    from ptycho import params
    from ptycho.workflows.components import load_inference_bundle

    reference = np.load(UPSTREAM_BUNDLE.parent / "reference.npz")
    model, restored = load_inference_bundle(UPSTREAM_BUNDLE.parent)
    assert params.cfg["gridsize"] == 1 and restored["combine_mode"] == "legacy_rect"
    predicted = np.asarray(model.predict([reference["input"], reference["input_positions"]]))
    error = np.max(np.abs(predicted - reference["trimmed_obj"]))
    assert error <= 1e-5 * np.max(np.abs(reference["trimmed_obj"]))
