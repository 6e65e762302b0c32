"""The PyTorch network (docs/model.md 3-8): layer names, parameter counts, buffers,
initialisation, stage capture and single-step mode, and the torch-native configuration path."""

from __future__ import annotations

import math

import numpy as np
import pytest

from backends import graph, physics
from backends.base import Batch
from backends.config import ModelConfig, TrainingConfig

pytestmark = pytest.mark.pytorch

# model.md section 7, derived by hand there (not read from a run)
PARAMETER_COUNTS = [
    (dict(N=64), 2_331_772),
    (dict(N=64, probe_big=False), 2_252_026),
    (dict(N=64, gridsize=2), 2_340_208),
    (dict(N=64, gridsize=2, probe_big=False), 2_257_000),
    (dict(N=128), 4_661_212),
    (dict(N=128, probe_big=False), 4_639_770),
    (dict(N=128, gridsize=2), 4_667_056),
    (dict(N=128, gridsize=2, probe_big=False), 4_643_880),
    (dict(N=256), 12_912_268),
    (dict(N=256, probe_big=False), 12_906_154),
    (dict(N=256, gridsize=2), 12_916_816),
    (dict(N=256, gridsize=2, probe_big=False), 12_909_832),
    (dict(N=64, pad_object=False), 2_399_810),
]
SCALE = math.sqrt(1e9) / 32  # physics.md 5.2, N = 64


def _batch(cfg: ModelConfig, B: int = 2, seed: int = 0, spread: float = 3.0) -> Batch:
    rng = np.random.default_rng(seed)
    C = cfg.channels
    X = rng.uniform(0, 0.4, size=(B, cfg.N, cfg.N, C)).astype(np.float32)
    pos = (rng.normal(size=(B, 1, 2, C)) * spread).astype(np.float32)
    pos -= pos.mean(axis=3, keepdims=True)  # centroid-relative, as grouping produces
    return Batch(X, pos, rng.uniform(0, 1, size=X.shape).astype(np.float32))


@pytest.mark.parametrize(("kwargs", "count"), PARAMETER_COUNTS)
def test_parameter_counts_match_model_md(kwargs, count) -> None:
    pytest.importorskip("torch")
    from backends.pytorch.model import PtychoPINN

    cfg = ModelConfig(**kwargs)
    model = PtychoPINN(cfg, np.ones((cfg.N, cfg.N), np.complex64), SCALE)
    assert sum(p.numel() for p in model.parameters()) == count
    # state dict: canonical layer names (+ .weight/.bias), the log-scale and probe buffers only
    expected = {
        n.rsplit(".", 1)[0] + (".weight" if n.endswith(".kernel") else ".bias")
        for n in graph.weight_shapes(cfg)
    }
    assert set(model.state_dict()) == expected | {"log_scale", "probe"}
    for name, shape in graph.weight_shapes(cfg).items():
        prefix = name.rsplit(".", 1)[0]
        module = model.get_submodule(prefix)
        if name.endswith(".kernel"):
            assert tuple(module.weight.shape) == (shape[3], shape[2], shape[0], shape[1])
        else:
            assert tuple(module.bias.shape) == shape


def test_unsupported_patch_size_is_refused(backend) -> None:
    with pytest.warns(UserWarning, match="outside the sizes"):
        cfg = ModelConfig(N=32)
        with pytest.raises(ValueError, match="Unsupported input size: 32"):
            backend.build(cfg, np.ones((32, 32), np.complex64), SCALE)


def test_buffers_log_scale_and_probe(backend) -> None:
    import torch

    cfg = ModelConfig()
    raw = physics.default_probe(64) * (0.3 + 0.1j)
    handle = backend.build(cfg, raw, SCALE)
    m = handle.module
    assert m.log_scale.dtype == torch.float32
    assert float(m.log_scale) == float(np.float32(math.log(SCALE)))
    assert "log_scale" not in dict(m.named_parameters())  # frozen: never trained
    expected_probe = physics.normalize_probe(raw, cfg.probe_scale).astype(np.complex64)
    np.testing.assert_array_equal(m.probe.numpy(), expected_probe)


def test_glorot_uniform_initialisation_is_seeded(backend) -> None:
    cfg = ModelConfig()
    probe = physics.default_probe(64)
    a = backend.export_weights(backend.build(cfg, probe, SCALE, seed=7))
    b = backend.export_weights(backend.build(cfg, probe, SCALE, seed=7))
    c = backend.export_weights(backend.build(cfg, probe, SCALE, seed=8))
    for name, shape in graph.weight_shapes(cfg).items():
        np.testing.assert_array_equal(a[name], b[name])
        if name.endswith(".bias"):
            assert not a[name].any()
            continue
        assert not np.array_equal(a[name], c[name])
        kh, kw, cin, cout = shape
        limit = math.sqrt(6.0 / (kh * kw * cin + kh * kw * cout))
        assert np.abs(a[name]).max() <= limit
        if a[name].size > 5000:  # uniform(-l, l) has standard deviation l/sqrt(3)
            assert a[name].std() == pytest.approx(limit / math.sqrt(3), rel=0.05)


def test_weights_round_trip_and_strict_import(backend) -> None:
    cfg = ModelConfig(gridsize=2, probe_big=False)
    handle = backend.build(cfg, physics.default_probe(64), SCALE, seed=1)
    w = backend.export_weights(handle)
    assert {k: v.shape for k, v in w.items()} == graph.weight_shapes(cfg)
    other = backend.build(cfg, physics.default_probe(64), SCALE, weights=w, seed=2)
    for k, v in backend.export_weights(other).items():
        np.testing.assert_array_equal(v, w[k])
    # exported arrays are copies: changing the model later never changes them
    snapshot = {k: v.copy() for k, v in w.items()}
    backend.import_weights(handle, {k: v + 1 for k, v in w.items()})
    for k, v in snapshot.items():
        np.testing.assert_array_equal(w[k], v)
    bad = dict(w)
    bad.pop("enc1.conv1.bias")
    with pytest.raises(ValueError, match=r"enc1\.conv1\.bias"):
        backend.import_weights(handle, bad)
    extra = dict(w, **{"amp.head.border.conv1.bias": np.zeros(64, np.float32)})
    with pytest.raises(ValueError, match="extra"):
        backend.import_weights(handle, extra)


STAGE_SHAPES = {  # physics.md 11 (TF layout), N=64, gridsize 2, n_filters_scale 2, B=2
    "intensity_scaler": (2, 64, 64, 4),
    "enc1": (2, 32, 32, 64),
    "enc3": (2, 8, 8, 256),
    "amp.dec2": (2, 32, 32, 64),
    "amp": (2, 32, 32, 4),
    "amp.head": (2, 64, 64, 4),
    "obj": (2, 64, 64, 4),
    "padded_obj_2": (2, 78, 78, 1),
    "trimmed_obj": (2, 64, 64, 1),
    "padded_objs_with_offsets": (8, 64, 64, 1),
    "probe_illumination": (8, 64, 64, 1),
    "pred_amplitude": (8, 64, 64, 1),
    "pred_diff_channels": (2, 64, 64, 4),
    "intensity_scaler_inv": (2, 64, 64, 4),
    "pred_intensity": (2, 64, 64, 4),
}


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(gridsize=2),
        dict(gridsize=2, probe_big=False, object_big=False),
        dict(
            pad_object=False, gaussian_smoothing_sigma=0.6, probe_mask=True, amp_activation="relu"
        ),
        dict(combine_mode="legacy_rect", amp_activation="softplus"),
    ],
)
def test_capture_and_single_step_mode(backend, kwargs) -> None:
    cfg = ModelConfig(**kwargs)
    handle = backend.build(cfg, physics.default_probe(64), SCALE, seed=3)
    batch = _batch(cfg)
    res = backend.forward(handle, batch, capture=True)
    names = [s.name for s in graph.stages(cfg)]
    assert list(res.activations) == names
    if kwargs == dict(gridsize=2):
        for name, shape in STAGE_SHAPES.items():
            assert res.activations[name].shape == shape, name
    assert res.activations["obj"].dtype == np.complex64
    np.testing.assert_array_equal(res.outputs["trimmed_obj"], res.activations["trimmed_obj"])
    np.testing.assert_array_equal(
        res.outputs["pred_amp_scaled"], res.activations["intensity_scaler_inv"]
    )
    plain = backend.forward(handle, batch)
    for key, value in plain.outputs.items():
        np.testing.assert_array_equal(value, res.outputs[key])
    # single-step: each stage re-run from the captured inputs reproduces its activation
    feeds = {
        "input": batch.X * np.float32(SCALE),
        "input_positions": batch.positions,
        **res.activations,
    }
    for stage in graph.stages(cfg):
        out = backend.run_stage(handle, stage.name, {k: feeds[k] for k in stage.inputs})
        np.testing.assert_array_equal(out, res.activations[stage.name], err_msg=stage.name)


def test_head_geometry(backend) -> None:
    cfg = ModelConfig(probe_big=False)
    handle = backend.build(cfg, physics.default_probe(64), SCALE, seed=4)
    acts = backend.forward(handle, _batch(cfg), capture=True).activations
    q = physics.center_mask(64)[None, :, :, None].astype(bool)
    # probe_big=False: only the central N/2 square is filled (sigmoid > 0 there)
    assert not acts["amp.head"][~np.broadcast_to(q, acts["amp.head"].shape)].any()
    assert (acts["amp.head"][np.broadcast_to(q, acts["amp.head"].shape)] > 0).all()
    big = ModelConfig()
    acts = backend.forward(
        backend.build(big, physics.default_probe(64), SCALE, seed=4), _batch(big), capture=True
    ).activations
    main_padded = np.pad(acts["amp"], ((0, 0), (16, 16), (16, 16), (0, 0)))
    border = acts["amp.head"] - main_padded
    # probe_big=True: the border branch fills exactly the complement of the centre
    assert not border[np.broadcast_to(q, border.shape)].any()


def test_intensity_scaler_divides_and_multiplies(backend) -> None:
    cfg = ModelConfig()
    handle = backend.build(cfg, physics.default_probe(64), SCALE, seed=5)
    batch = _batch(cfg)
    acts = backend.forward(handle, batch, capture=True).activations
    e = np.float32(np.exp(np.float32(np.log(SCALE))))
    np.testing.assert_allclose(acts["intensity_scaler"], batch.X * np.float32(SCALE) / e, rtol=1e-6)
    np.testing.assert_allclose(
        acts["intensity_scaler_inv"], acts["pred_diff_channels"] * e, rtol=1e-6
    )
    np.testing.assert_allclose(acts["pred_intensity"], acts["intensity_scaler_inv"] ** 2, rtol=1e-6)


def test_physics_stages_match_the_oracle(backend) -> None:
    cfg = ModelConfig(gridsize=2)
    handle = backend.build(cfg, physics.default_probe(64), SCALE, seed=6)
    batch = _batch(cfg)
    acts = backend.forward(handle, batch, capture=True).activations
    M = graph.padded_size(cfg)
    canvas = physics.merge_patches(acts["obj"], batch.positions, M)
    scale = np.abs(canvas).max()
    assert np.abs(acts["padded_obj_2"] - canvas).max() <= 2e-5 * scale
    patches = physics.extract_patches(acts["padded_obj_2"], batch.positions, 64)
    assert np.abs(acts["padded_objs_with_offsets"] - patches).max() <= 2e-6 * np.abs(patches).max()
    probe = physics.normalize_probe(physics.default_probe(64), cfg.probe_scale)
    amp = physics.diffract(physics.illuminate(acts["padded_objs_with_offsets"], probe))
    assert np.abs(acts["pred_amplitude"] - amp).max() <= 1e-5 * amp.max()


def test_forward_is_deterministic(backend) -> None:
    cfg = ModelConfig(gridsize=2)
    handle = backend.build(cfg, physics.default_probe(64), SCALE, seed=9)
    batch = _batch(cfg)
    a = backend.forward(handle, batch).outputs
    b = backend.forward(handle, batch).outputs
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])


# ----------------------------------------------------------------------------- config path


def test_model_is_built_from_the_bridged_config(backend, monkeypatch) -> None:
    from backends.config import bridge

    cfg = ModelConfig(combine_mode="legacy_rect", amp_activation="swish", probe_mask=True)
    handle = backend.build(cfg, physics.default_probe(64), SCALE)
    assert handle.config == cfg
    assert handle.torch_configs.model.amp_activation == "silu"  # the torch-native spelling
    original = bridge.to_model_config

    def defective(data, model, overrides=None):  # a bridge that drops probe_big
        return ModelConfig(**{**original(data, model, overrides).__dict__, "probe_big": False})

    monkeypatch.setattr(bridge, "to_model_config", defective)
    broken = backend.build(cfg, physics.default_probe(64), SCALE)
    assert broken.config.probe_big is False
    assert "amp.head.border.conv1.kernel" not in backend.export_weights(broken)


def test_legacy_params_follow_the_bridge(backend, monkeypatch) -> None:
    from backends.config import bridge
    from backends.config.legacy import LegacyParams, update_legacy_dict

    cfg = TrainingConfig(model=ModelConfig(gridsize=2), n_groups=128, nepochs=3)
    reference = LegacyParams()
    update_legacy_dict(reference, cfg)
    assert backend.legacy_params(cfg) == dict(reference)
    original = bridge.to_training_config

    def defective(*args, **kwargs):
        return TrainingConfig(**{**original(*args, **kwargs).__dict__, "nepochs": 99})

    monkeypatch.setattr(bridge, "to_training_config", defective)
    assert backend.legacy_params(cfg)["nepochs"] == 99
