"""TensorFlow bundles: round trip, strict weight loading, the backend check and tampering."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

import backends.physics as oracle
from backends.bundle import WeightsMismatchError
from backends.config import ModelConfig, TrainingConfig

pytestmark = pytest.mark.tensorflow

SCALE = 988.2118


@pytest.fixture(scope="module")
def tfp():
    pytest.importorskip("tensorflow")
    from backends.tensorflow import model, persistence

    return model, persistence


def build(tfp, seed: int = 0, **kw):
    model, _ = tfp
    cfg = ModelConfig(n_filters_scale=1, **kw)
    return model.build_model(cfg, oracle.default_probe(cfg.N), SCALE, seed=seed)


def inputs(cfg: ModelConfig, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 30, (2, cfg.N, cfg.N, cfg.channels)).astype(np.float32)
    pos = rng.uniform(-3, 3, (2, 1, 2, cfg.channels)).astype(np.float32)
    return x, pos


@pytest.fixture(scope="module")
def saved(tfp, tmp_path_factory):
    """A gridsize-2 model with non-default flags, saved once."""
    _, persistence = tfp
    m = build(tfp, seed=11, gridsize=2, probe_mask=True, combine_mode="legacy_rect")
    config = TrainingConfig(model=m.config, nphotons=1e9)
    path = persistence.save_bundle(m, tmp_path_factory.mktemp("bundle"), config, SCALE)
    return m, config, path


def test_round_trip_is_bitwise(tfp, saved):
    _, persistence = tfp
    m, _, path = saved
    assert path.name == "wts.h5.zip"
    bundle = persistence.load_bundle(path.parent)
    loaded, params, scale = bundle.model, bundle.params, bundle.intensity_scale
    assert loaded.config == m.config
    assert scale == SCALE and params["intensity_scale"] == SCALE
    assert loaded.log_scale.numpy() == m.log_scale.numpy()
    assert np.array_equal(loaded.probe, m.probe)
    assert params["probe"].shape == (64, 64, 1) and params["probe"].dtype == np.complex64
    assert params["N"] == 64 and params["gridsize"] == 2 and params["probe.mask"] is True
    assert params["backend"] == "tensorflow"
    wa, wb = m.export_weights(), loaded.export_weights()
    assert all(np.array_equal(wa[k], wb[k]) for k in wa)
    x, pos = inputs(m.config)
    for a, b in zip(m.autoencoder([x, pos]), loaded.autoencoder([x, pos])):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    np.testing.assert_array_equal(
        np.asarray(m.diffraction_to_obj([x, pos])), np.asarray(loaded.diffraction_to_obj([x, pos]))
    )


def test_manifest_describes_tensorflow_payloads(saved):
    _, _, path = saved
    with zipfile.ZipFile(path) as z:
        manifest = json.loads(z.read("manifest.json"))
        names = set(z.namelist())
    assert manifest["backend"] == "tensorflow" and manifest["version"] == "1.0"
    assert manifest["models"] == ["autoencoder", "diffraction_to_obj"]
    for model in manifest["models"]:
        assert manifest["payloads"][model]["format"] == "keras-weights-h5"
        assert f"{model}/model.weights.h5" in names
    assert manifest["model_geometry"] == {
        "N": 64,
        "gridsize": 2,
        "channels": 4,
        "model_type": "pinn",
    }
    assert "ptychopinn>ProbeIllumination" in manifest["custom_objects"]
    assert manifest["intensity_scale"] == SCALE


def test_payload_is_a_keras_weights_file(tfp, saved, tmp_path):
    """Keras itself loads the payload into a freshly built model (a genuine .weights.h5)."""
    m, _, path = saved
    with zipfile.ZipFile(path) as z:
        (tmp_path / "model.weights.h5").write_bytes(z.read("diffraction_to_obj/model.weights.h5"))
    fresh = build(tfp, seed=99, gridsize=2, probe_mask=True, combine_mode="legacy_rect")
    fresh.diffraction_to_obj.load_weights(str(tmp_path / "model.weights.h5"))
    x, pos = inputs(m.config)
    np.testing.assert_array_equal(
        np.asarray(m.diffraction_to_obj([x, pos])), np.asarray(fresh.diffraction_to_obj([x, pos]))
    )


def _weights_file(tfp, **kw) -> bytes:
    _, persistence = tfp
    return persistence.weights_bytes(build(tfp, **kw).diffraction_to_obj).data


def test_strict_loading_names_model_and_variable(tfp):
    _, persistence = tfp
    small_head = _weights_file(tfp, probe_big=False)
    big_head = _weights_file(tfp, probe_big=True)
    gs2 = _weights_file(tfp, gridsize=2)
    cfg = ModelConfig(n_filters_scale=1)
    with pytest.raises(
        WeightsMismatchError,
        match=r"'diffraction_to_obj'.*amp\.head\.border\.conv1\.kernel.*missing",
    ):
        persistence.weights_from_file(small_head, cfg, "diffraction_to_obj")
    with pytest.raises(
        WeightsMismatchError, match=r"'autoencoder'.*unexpected variable amp_head_border_conv1"
    ):
        persistence.weights_from_file(
            big_head, ModelConfig(n_filters_scale=1, probe_big=False), "autoencoder"
        )
    with pytest.raises(WeightsMismatchError, match=r"enc1\.conv1\.kernel.*shape \(3, 3, 4, 32\)"):
        persistence.weights_from_file(gs2, cfg, "diffraction_to_obj")
    with pytest.raises(ValueError, match="not a readable HDF5"):
        persistence.weights_from_file(b"not hdf5", cfg, "diffraction_to_obj")
    weights = persistence.weights_from_file(big_head, cfg, "diffraction_to_obj")
    assert set(weights) == set(build(tfp).variables)


def _rewrite(path: Path, out: Path, change) -> Path:
    with zipfile.ZipFile(path) as src:
        entries = {n: src.read(n) for n in src.namelist()}
    change(entries)
    out.mkdir(parents=True, exist_ok=True)
    target = out / "wts.h5.zip"
    with zipfile.ZipFile(target, "w") as dst:
        for name, data in entries.items():
            dst.writestr(name, data)
    return target


def test_wrong_backend_is_refused(tfp, saved, tmp_path):
    from backends.bundle import BundleBackendMismatchError

    _, persistence = tfp
    _, _, path = saved

    def to_torch(entries):
        manifest = json.loads(entries["manifest.json"])
        manifest["backend"] = "pytorch"
        entries["manifest.json"] = json.dumps(manifest).encode()

    bad = _rewrite(path, tmp_path / "b", to_torch)
    with pytest.raises(BundleBackendMismatchError, match="pytorch"):
        persistence.load_bundle(bad)


def test_tampered_weights_fail_the_checksum(tfp, saved, tmp_path):
    _, persistence = tfp
    _, _, path = saved

    def flip(entries):
        data = bytearray(entries["diffraction_to_obj/model.weights.h5"])
        data[-100] ^= 0xFF
        entries["diffraction_to_obj/model.weights.h5"] = bytes(data)

    bad = _rewrite(path, tmp_path / "t", flip)
    with pytest.raises(ValueError, match="checksum mismatch"):
        persistence.load_bundle(bad)


def test_config_that_did_not_build_the_model_is_refused(tfp, tmp_path):
    _, persistence = tfp
    m = build(tfp)
    other = TrainingConfig(model=ModelConfig(n_filters_scale=1, probe_mask=True))
    with pytest.raises(ValueError, match="probe_mask"):
        persistence.save_bundle(m, tmp_path, other, SCALE)
    assert not any(tmp_path.iterdir())
    with pytest.raises(ValueError, match="intensity_scale"):
        persistence.save_bundle(m, tmp_path, TrainingConfig(model=m.config), float("nan"))
    assert not any(tmp_path.iterdir())


@pytest.fixture
def legacy_params():
    from backends.config.legacy import params

    state = params.snapshot()
    yield params
    params.restore(state)


def test_load_inference_bundle_restores_params_and_syncs_gridsize(
    tfp, saved, legacy_params, caplog
):
    import logging

    _, persistence = tfp
    m, _, path = saved
    legacy_params["gridsize"] = 7
    adapter, params = persistence.load_inference_bundle(path.parent)
    assert params["gridsize"] == 2 and legacy_params["gridsize"] == 2
    assert legacy_params.populated_from == "bundle"
    assert np.array_equal(legacy_params["probe"], m.probe.reshape(64, 64, 1))
    x, pos = inputs(m.config)
    legacy_params["gridsize"] = 1
    with caplog.at_level(logging.INFO):
        out = adapter([x, pos])
    assert legacy_params["gridsize"] == 2
    assert "gridsize 1 -> 2" in caplog.text
    np.testing.assert_array_equal(np.asarray(out), np.asarray(m.diffraction_to_obj([x, pos])))
    models = persistence.load_bundle_models(path)
    assert set(models) == {"autoencoder", "diffraction_to_obj"}


def test_weights_stored_outside_the_bundle_are_refused(tfp, saved, tmp_path):
    """A bundle whose ``model.weights.h5`` keeps a bias in another file (HDF5 external raw
    storage; the bundle checksums cover only the container) never loads those bytes."""
    import hashlib

    import h5py

    from backends.safeio import WeightsFileError

    _, persistence = tfp
    member = "diffraction_to_obj/model.weights.h5"
    work = tmp_path / "model.weights.h5"
    with zipfile.ZipFile(saved[2]) as src:
        work.write_bytes(src.read(member))
    with h5py.File(work, "r+") as f:
        name = next(n for n in _dataset_names(f) if n.endswith("/1"))  # a bias
        shape, dtype = f[name].shape, f[name].dtype
        secret = tmp_path / "secret"
        secret.write_bytes(b"root:x:0:0:" * (int(np.prod(shape)) * dtype.itemsize))
        del f[name]
        f.create_dataset(
            name, shape=shape, dtype=dtype, external=[(str(secret), 0, h5py.h5f.UNLIMITED)]
        )
    data = work.read_bytes()

    def change(entries):
        entries[member] = data
        manifest = json.loads(entries["manifest.json"])
        files = manifest["payloads"]["diffraction_to_obj"]["files"]
        files["model.weights.h5"] = hashlib.sha256(data).hexdigest()
        entries["manifest.json"] = json.dumps(manifest).encode()

    bad = _rewrite(saved[2], tmp_path / "bad", change)
    with pytest.raises(WeightsFileError, match=f"'{name}': keeps its raw data in external files"):
        persistence.load_bundle(bad)


def _dataset_names(f) -> list[str]:
    import h5py

    names: list[str] = []
    f.visititems(lambda n, obj: names.append(n) if isinstance(obj, h5py.Dataset) else None)
    return names
