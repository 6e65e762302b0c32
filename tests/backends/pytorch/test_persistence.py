"""PyTorch bundles (docs/persistence.md 3.5): round trip, hparams rebuilt through the bridge
and checked against params.json, the autoencoder alias, strict and pickle-free loading."""

from __future__ import annotations

import io
import json
import math
import pickle
import struct
import zipfile

import numpy as np
import pytest

from backends import physics
from backends.base import Batch
from backends.bundle import WeightsMismatchError
from backends.config import ModelConfig, TrainingConfig
from backends.safeio import WeightsFileError

pytestmark = pytest.mark.pytorch
SCALE = math.sqrt(1e9) / 32


def _batch(cfg: ModelConfig) -> Batch:
    rng = np.random.default_rng(0)
    C = cfg.channels
    X = rng.uniform(0, 0.4, size=(2, cfg.N, cfg.N, C)).astype(np.float32)
    pos = (rng.normal(size=(2, 1, 2, C)) * 2).astype(np.float32)
    pos -= pos.mean(axis=3, keepdims=True)
    return Batch(X, pos)


@pytest.fixture(scope="module")
def saved(backend, tmp_path_factory):
    cfg = ModelConfig(
        gridsize=2, amp_activation="swish", combine_mode="legacy_rect", probe_mask=True
    )
    probe = physics.default_probe(64) * (1 + 0.5j)
    handle = backend.build(cfg, probe, SCALE, seed=11)
    config = TrainingConfig(model=cfg, nepochs=7, n_groups=64, train_data_file="train.npz")
    path = backend.save_bundle(handle, tmp_path_factory.mktemp("bundle"), config)
    return handle, config, path


def _entries(path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as z:
        return {n: z.read(n) for n in z.namelist()}


def test_round_trip_reproduces_the_forward_pass_bitwise(backend, saved) -> None:
    handle, _, path = saved
    assert path.name == "wts.h5.zip"
    loaded, params = backend.load_bundle(path)
    assert loaded.config == handle.config
    assert loaded.intensity_scale == handle.intensity_scale
    batch = _batch(handle.config)
    a = backend.forward(handle, batch).outputs
    b = backend.forward(loaded, batch).outputs
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    for k, v in backend.export_weights(handle).items():
        np.testing.assert_array_equal(backend.export_weights(loaded)[k], v)
    assert params["N"] == 64 and params["gridsize"] == 2 and params["backend"] == "pytorch"
    assert params["nepochs"] == 7 and params["probe.mask"] is True
    assert params["intensity_scale"] == pytest.approx(SCALE)
    np.testing.assert_array_equal(params["probe"][..., 0], handle.module.probe.numpy())


def test_manifest_payload_and_hparams(saved) -> None:
    _, _, path = saved
    entries = _entries(path)
    manifest = json.loads(entries["manifest.json"])
    assert manifest["backend"] == "pytorch" and manifest["version"] == "2.0-pytorch"
    assert manifest["payloads"]["autoencoder"] == {"alias_of": "diffraction_to_obj"}
    payload = manifest["payloads"]["diffraction_to_obj"]
    assert payload["format"] == "torch-safetensors"
    assert {"model.safetensors", "hparams.json"} <= set(payload["files"])
    assert manifest["model_geometry"] == {
        "N": 64,
        "gridsize": 2,
        "channels": 4,
        "model_type": "pinn",
    }
    hp = json.loads(entries["diffraction_to_obj/hparams.json"])
    assert {"model_config", "data_config", "training_config", "inference_config"} <= set(hp)
    assert hp["data_config"]["grid_size"] == [2, 2] and hp["data_config"]["N"] == 64
    assert hp["model_config"]["amp_activation"] == "silu"  # torch spelling of swish
    assert hp["training_config"]["epochs"] == 7
    ref = hp["model_config"]["probe_mask"]
    assert ref["$array"] == "diffraction_to_obj/probe_mask.npy" and ref["shape"] == [64, 64]
    assert hp["overrides"]["combine_mode"] == "legacy_rect"
    from safetensors.numpy import load

    state = load(entries["diffraction_to_obj/model.safetensors"])
    assert state["probe"].dtype == np.complex64 and state["log_scale"].dtype == np.float32


@pytest.fixture
def legacy_params():
    from backends.config.legacy import params

    state = params.snapshot()
    yield params
    params.restore(state)


def test_both_model_names_give_the_same_module(saved, legacy_params) -> None:
    from backends.pytorch.persistence import load_bundle_models

    handle, _, path = saved
    legacy_params["gridsize"] = 7
    models = load_bundle_models(path)
    assert set(models) == {"autoencoder", "diffraction_to_obj"}
    assert models["autoencoder"] is models["diffraction_to_obj"]
    # the client entry point restores the process-wide params from the bundle
    assert legacy_params["gridsize"] == handle.config.gridsize
    assert legacy_params.populated_from == "bundle"
    assert set(load_bundle_models(path, ("autoencoder",))) == {"autoencoder"}
    with pytest.raises(ValueError, match="Requested models not found"):
        load_bundle_models(path, ("encoder",))


def test_saving_a_model_with_another_config_is_refused(backend, saved, tmp_path) -> None:
    handle, _, _ = saved
    other = TrainingConfig(model=ModelConfig(gridsize=2), train_data_file="train.npz")
    with pytest.raises(ValueError, match="amp_activation"):
        backend.save_bundle(handle, tmp_path, other)
    assert not (tmp_path / "wts.h5.zip").exists()


def _rewrite(path, out_dir, *, hparams=None, state=None, backend_name="pytorch", fmt=None):
    """A bundle with the same params but some payload parts replaced (valid checksums)."""
    from backends.bundle import read_bundle, write_bundle

    contents = read_bundle(path, expected_backend=None)
    files = dict(contents.payload("diffraction_to_obj"))
    if hparams is not None:
        files["hparams.json"] = json.dumps(hparams).encode()
    if state is not None:
        files.pop("model.safetensors")
        files.update(state)
    payload_format = fmt or contents.payload_format("diffraction_to_obj")
    return write_bundle(
        out_dir,
        backend=backend_name,
        payloads={"diffraction_to_obj": files, "autoencoder": {"alias_of": "diffraction_to_obj"}},
        payload_formats={"diffraction_to_obj": payload_format},
        params=contents.params,
        intensity_scale=contents.intensity_scale,
    )


def test_hparams_disagreeing_with_params_are_refused(backend, saved, tmp_path) -> None:
    hp = json.loads(_entries(saved[2])["diffraction_to_obj/hparams.json"])
    hp["model_config"]["probe_big"] = False
    hp["training_config"]["epochs"] = 3
    bad = _rewrite(saved[2], tmp_path, hparams=hp)
    from backends.pytorch.persistence import BundleConfigMismatchError

    with pytest.raises(BundleConfigMismatchError) as err:
        backend.load_bundle(bad)
    assert "probe.big" in str(err.value) and "nepochs" in str(err.value)


def test_unknown_hparams_field_is_refused(backend, saved, tmp_path) -> None:
    hp = json.loads(_entries(saved[2])["diffraction_to_obj/hparams.json"])
    hp["model_config"]["attention"] = True
    with pytest.raises(ValueError, match="attention"):
        backend.load_bundle(_rewrite(saved[2], tmp_path, hparams=hp))


def test_other_backend_bundles_are_refused(backend, saved, tmp_path) -> None:
    from backends.bundle import BundleBackendMismatchError

    with pytest.warns(UserWarning, match="backend='pytorch'"):
        tf_like = _rewrite(saved[2], tmp_path, backend_name="tensorflow", fmt="keras-weights-h5")
    with pytest.raises(BundleBackendMismatchError, match="tensorflow"):
        backend.load_bundle(tf_like)


@pytest.mark.parametrize("change", ["missing", "extra", "dtype", "shape"])
def test_state_dict_is_loaded_strictly(backend, saved, tmp_path, change) -> None:
    from safetensors.numpy import load, save

    state = dict(load(_entries(saved[2])["diffraction_to_obj/model.safetensors"]))
    if change == "missing":
        state.pop("enc1.conv1.bias")
    elif change == "extra":
        state["amp.head.extra.weight"] = np.zeros(3, np.float32)
    elif change == "dtype":
        state["enc1.conv1.bias"] = state["enc1.conv1.bias"].astype(np.float64)
    else:
        state["enc1.conv1.bias"] = np.zeros(5, np.float32)
    bad = _rewrite(saved[2], tmp_path, state={"model.safetensors": save(state)})
    with pytest.raises(WeightsMismatchError, match=r"enc1\.conv1\.bias|amp\.head\.extra"):
        backend.load_bundle(bad)


def test_state_dict_payload_is_read_weights_only(backend, saved, tmp_path) -> None:
    import torch
    from safetensors.numpy import load

    state = {
        k: torch.from_numpy(v)
        for k, v in load(_entries(saved[2])["diffraction_to_obj/model.safetensors"]).items()
    }
    buf = io.BytesIO()
    torch.save(state, buf)
    good = _rewrite(
        saved[2], tmp_path / "good", state={"model.pt": buf.getvalue()}, fmt="torch-state-dict"
    )
    loaded, _ = backend.load_bundle(good)
    batch = _batch(saved[0].config)
    np.testing.assert_array_equal(
        backend.forward(loaded, batch).outputs["trimmed_obj"],
        backend.forward(saved[0], batch).outputs["trimmed_obj"],
    )
    evil = io.BytesIO()
    torch.save({"enc1.conv1.bias": state["enc1.conv1.bias"], "payload": Batch(None, None)}, evil)
    bad = _rewrite(
        saved[2], tmp_path / "bad", state={"model.pt": evil.getvalue()}, fmt="torch-state-dict"
    )
    with pytest.raises(WeightsFileError, match=r"model\.pt: cannot be read") as info:
        backend.load_bundle(bad)
    assert isinstance(info.value.__cause__, pickle.UnpicklingError)
    assert "Weights only load failed" not in str(info.value)


def test_tampered_archive_fails_its_checksum(backend, saved, tmp_path) -> None:
    entries = _entries(saved[2])
    blob = bytearray(entries["diffraction_to_obj/model.safetensors"])
    blob[-1] ^= 0xFF
    entries["diffraction_to_obj/model.safetensors"] = bytes(blob)
    out = tmp_path / "wts.h5.zip"
    with zipfile.ZipFile(out, "w") as z:
        for name, data in sorted(entries.items()):
            z.writestr(name, data)
    with pytest.raises(ValueError, match="checksum"):
        backend.load_bundle(out)


@pytest.mark.parametrize(
    ("blob", "message"),
    [
        (b"\xff" * 64, "announces a 18446744073709551615-byte header"),
        (struct.pack("<Q", 8) + b"not json", "is not valid JSON"),
        (struct.pack("<Q", 2) + b"[]", "must be a mapping, got list"),
    ],
)
def test_garbage_safetensors_payload_is_a_weights_error(backend, saved, tmp_path, blob, message):
    bad = _rewrite(saved[2], tmp_path / "bad", state={"model.safetensors": blob})
    with pytest.raises(WeightsFileError, match=message):
        backend.load_bundle(bad)
