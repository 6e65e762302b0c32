"""The Keras model of docs/model.md: parameter counts, shapes, names, stages, initialisation,
determinism, weight transfer and the physics path against the float64 oracle."""

from __future__ import annotations

import math

import numpy as np
import pytest

import backends.physics as oracle
from backends import graph
from backends.config import ModelConfig

pytestmark = pytest.mark.tensorflow

# Physics stages of a built model against backends.physics.forward_physics fed with the
# model's own head outputs: max |tf - oracle| / max |oracle| per stage. The chain merge ->
# extract -> illuminate -> FFT accumulates a few float32 roundings of each op (test_ops.TOL);
# the x1000 border of the merge (probe_big) is compared relative to the canvas maximum.
FORWARD_TOL = 1e-5

# model.md section 7, every row: (config kwargs, total conv parameters).
PARAM_ROWS = [
    (dict(N=64, gridsize=1, probe_big=True), 2_331_772),
    (dict(N=64, gridsize=1, probe_big=False), 2_252_026),
    (dict(N=64, gridsize=2, probe_big=True), 2_340_208),
    (dict(N=64, gridsize=2, probe_big=False), 2_257_000),
    (dict(N=128, gridsize=1, probe_big=True), 4_661_212),
    (dict(N=128, gridsize=1, probe_big=False), 4_639_770),
    (dict(N=128, gridsize=2, probe_big=True), 4_667_056),
    (dict(N=128, gridsize=2, probe_big=False), 4_643_880),
    (dict(N=256, gridsize=1, probe_big=True), 12_912_268),
    (dict(N=256, gridsize=1, probe_big=False), 12_906_154),
    (dict(N=256, gridsize=2, probe_big=True), 12_916_816),
    (dict(N=256, gridsize=2, probe_big=False), 12_909_832),
    (dict(N=64, gridsize=1, pad_object=False), 2_399_810),
]


def _row_id(row) -> str:
    kw, _ = row
    return "-".join(f"{k}={v}" for k, v in kw.items())


def _param(row):
    marks = [pytest.mark.slow] if row[0]["N"] > 64 else []
    return pytest.param(*row, id=_row_id(row), marks=marks)


@pytest.fixture(scope="module")
def tfm():
    pytest.importorskip("tensorflow")
    from backends.tensorflow import model

    return model


def build(tfm, seed: int = 0, scale: float = 988.2118, **kw):
    cfg = ModelConfig(**kw)
    return tfm.build_model(cfg, oracle.default_probe(cfg.N), scale, seed=seed)


def inputs(cfg: ModelConfig, batch: int = 2, seed: int = 0, span: float = 3.0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 30, (batch, cfg.N, cfg.N, cfg.channels)).astype(np.float32)
    pos = rng.uniform(-span, span, (batch, 1, 2, cfg.channels)).astype(np.float32)
    if cfg.channels == 1:
        pos[:] = 0.0  # coords_relative is identically 0 at C = 1 (data.md 5)
    return x, pos


@pytest.mark.parametrize("kw,expected", [_param(r) for r in PARAM_ROWS])
def test_parameter_counts_and_weight_shapes(tfm, kw, expected):
    m = build(tfm, **kw)
    cfg = m.config
    assert graph.parameter_count(cfg) == expected
    for model in m:
        assert model.count_params() == expected
    exported = m.export_weights()
    assert {k: v.shape for k, v in exported.items()} == graph.weight_shapes(cfg)
    assert sum(v.size for v in exported.values()) == expected
    # every Keras variable is a canonical conv weight: l and the probe are not tracked
    assert len(m.autoencoder.weights) == len(graph.weight_shapes(cfg))
    # symbolic outputs: model.md section 6
    N, C = cfg.N, cfg.channels
    trimmed, amp, intensity = m.autoencoder.outputs
    assert tuple(trimmed.shape) == (None, N, N, 1) and trimmed.dtype == "complex64"
    assert tuple(amp.shape) == (None, N, N, C) and amp.dtype == "float32"
    assert tuple(intensity.shape) == (None, N, N, C) and intensity.dtype == "float32"
    assert tuple(m.diffraction_to_obj.outputs[0].shape) == (None, N, N, 1)
    assert tuple(m.autoencoder_no_nll.outputs[0].shape) == (None, N, N, C)


def test_n64_breakdown_by_layer(tfm):
    """model.md section 7: N=64 gs=1 per-conv parameter counts."""
    m = build(tfm)
    w = m.export_weights()

    def count(prefix: str) -> int:
        return w[f"{prefix}.kernel"].size + w[f"{prefix}.bias"].size

    enc = [count(f"enc{i}.conv{j}") for i in (1, 2, 3) for j in (1, 2)]
    assert enc == [640, 36_928, 73_856, 147_584, 295_168, 590_080]
    for head in ("amp", "phase"):
        dec = [count(f"{head}.dec{i}.conv{j}") for i in (1, 2) for j in (1, 2)]
        assert dec == [295_040, 147_584, 73_792, 36_928]
        assert count(f"{head}.head.conv_main") == 541
        assert count(f"{head}.head.border.conv1") == 2_368
        assert count(f"{head}.head.border.conv2") == 36_928
        assert count(f"{head}.head.conv_border_out") == 577


@pytest.mark.parametrize("kw", [dict(), dict(gridsize=2), dict(object_big=False, gridsize=2)])
def test_forward_shapes_and_dtypes(tfm, kw):
    m = build(tfm, **kw)
    cfg = m.config
    x, pos = inputs(cfg, batch=3)
    trimmed, amp, intensity = (np.asarray(t) for t in m.autoencoder([x, pos]))
    assert trimmed.shape == (3, 64, 64, 1) and trimmed.dtype == np.complex64
    assert amp.shape == (3, 64, 64, cfg.channels) and amp.dtype == np.float32
    assert intensity.shape == amp.shape and intensity.dtype == np.float32
    np.testing.assert_array_equal(intensity, np.square(amp))
    np.testing.assert_array_equal(np.asarray(m.diffraction_to_obj([x, pos])), trimmed)
    np.testing.assert_array_equal(np.asarray(m.autoencoder_no_nll([x, pos])), amp)


@pytest.mark.parametrize("N", [32, 96, 512])
def test_unsupported_n_raises_at_build(tfm, N):
    with pytest.warns(UserWarning):
        cfg = ModelConfig(N=N)
    with pytest.raises(ValueError, match="Unsupported input size"):
        tfm.build_model(cfg, np.ones((N, N), np.complex64), 10.0)


def test_stage_capture_n64_trace(tfm):
    """model.md section 11 shape trace (N=64, gs=1, s=2)."""
    m = build(tfm)
    x, pos = inputs(m.config, batch=2)
    acts = dict(zip(m.stage_names, (np.asarray(a) for a in m.capture([x, pos]))))
    assert list(acts) == [s.name for s in graph.stages(m.config)]
    want = {
        "intensity_scaler": (2, 64, 64, 1),
        "enc1": (2, 32, 32, 64),
        "enc2": (2, 16, 16, 128),
        "enc3": (2, 8, 8, 256),
        "amp.dec1": (2, 16, 16, 128),
        "amp.dec2": (2, 32, 32, 64),
        "amp": (2, 32, 32, 1),
        "amp.head": (2, 64, 64, 1),
        "phase.dec1": (2, 16, 16, 128),
        "phase.dec2": (2, 32, 32, 64),
        "phi": (2, 32, 32, 1),
        "phase.head": (2, 64, 64, 1),
        "obj": (2, 64, 64, 1),
        "padded_obj_2": (2, 74, 74, 1),
        "trimmed_obj": (2, 64, 64, 1),
        "padded_objs_with_offsets": (2, 64, 64, 1),
        "probe_illumination": (2, 64, 64, 1),
        "pred_amplitude": (2, 64, 64, 1),
        "pred_diff_channels": (2, 64, 64, 1),
        "intensity_scaler_inv": (2, 64, 64, 1),
        "pred_intensity": (2, 64, 64, 1),
    }
    assert {k: v.shape for k, v in acts.items()} == want
    complex_stages = {
        "obj",
        "padded_obj_2",
        "trimmed_obj",
        "padded_objs_with_offsets",
        "probe_illumination",
    }
    for name, value in acts.items():
        assert value.dtype == (np.complex64 if name in complex_stages else np.float32), name


@pytest.mark.parametrize(
    "kw", [dict(gridsize=2), dict(pad_object=False), dict(object_big=False, gridsize=2)]
)
def test_stage_capture_other_configs(tfm, kw):
    m = build(tfm, **kw)
    cfg = m.config
    C, c_o = cfg.channels, graph.output_channels(cfg)
    x, pos = inputs(cfg, batch=2)
    acts = dict(zip(m.stage_names, (np.asarray(a) for a in m.capture([x, pos]))))
    assert list(acts) == [s.name for s in graph.stages(cfg)]
    M = graph.padded_size(cfg)
    assert acts["intensity_scaler"].shape == (2, 64, 64, C)
    assert acts["amp.head"].shape == (2, 64, 64, c_o)
    assert acts["obj"].shape == (2, 64, 64, c_o)
    assert acts["padded_obj_2"].shape == (2, M, M, 1)
    assert acts["padded_objs_with_offsets"].shape == (2 * C, 64, 64, 1)
    assert acts["pred_amplitude"].shape == (2 * C, 64, 64, 1)
    assert acts["pred_intensity"].shape == (2, 64, 64, C)
    if cfg.pad_object:
        assert acts["amp"].shape == (2, 32, 32, c_o)
    else:
        assert "amp" not in acts and "phi" not in acts


def test_run_stage_reproduces_capture(tfm):
    m = build(tfm, gridsize=2)
    x, pos = inputs(m.config)
    acts = dict(zip(m.stage_names, (np.asarray(a) for a in m.capture([x, pos]))))
    acts["input"], acts["input_positions"] = x, pos
    for stage in graph.stages(m.config):
        out = m.run_stage(stage.name, {k: acts[k] for k in stage.inputs})
        np.testing.assert_array_equal(out, acts[stage.name], err_msg=stage.name)
    with pytest.raises(KeyError, match="unknown stage"):
        m.run_stage("nope", {})


@pytest.mark.parametrize("probe_big", [True, False])
def test_head_geometry(tfm, probe_big):
    """Main path fills only the central N/2 square (zero padding N/4); with probe_big the
    border branch fills exactly the rest (model.md section 4)."""
    m = build(tfm, probe_big=probe_big)
    x, pos = inputs(m.config)
    acts = dict(zip(m.stage_names, (np.asarray(a) for a in m.capture([x, pos]))))
    for act, head in (("amp", "amp.head"), ("phi", "phase.head")):
        h = acts[head]
        np.testing.assert_array_equal(h[:, 16:48, 16:48, :], acts[act])
        border = h.copy()
        border[:, 16:48, 16:48, :] = 0
        if probe_big:
            assert np.count_nonzero(border) > 0
        else:
            assert np.count_nonzero(border) == 0
    assert np.all((acts["amp"] > 0) & (acts["amp"] < 1))  # sigmoid
    assert np.all(np.abs(acts["phi"]) < math.pi)  # pi tanh


@pytest.mark.parametrize(
    "kw",
    [
        dict(),
        dict(probe_big=False),
        dict(gridsize=2),
        dict(gridsize=2, probe_big=False, probe_mask=True),
        dict(object_big=False, gridsize=2),
        dict(gaussian_smoothing_sigma=0.8, combine_mode="legacy_rect"),
        dict(pad_object=False, amp_activation="swish"),
    ],
)
def test_physics_stages_match_oracle(tfm, kw):
    m = build(tfm, **kw)
    cfg = m.config
    x, pos = inputs(cfg, seed=3)
    acts = dict(zip(m.stage_names, (np.asarray(a) for a in m.capture([x, pos]))))
    want = oracle.forward_physics(
        acts["amp.head"],
        acts["phase.head"],
        pos,
        oracle.default_probe(cfg.N),
        cfg,
        float(m.log_scale.numpy()),
    )
    for stage in oracle.FORWARD_STAGES:
        ref = want[stage]
        err = np.max(np.abs(acts[stage] - ref)) / np.max(np.abs(ref))
        assert err <= FORWARD_TOL, (stage, err)


def test_probe_constant_is_oracle_normalised_bytes(tfm):
    m = build(tfm, probe_scale=10.0)
    want = oracle.normalize_probe(oracle.default_probe(64), 10.0).astype(np.complex64)
    assert m.probe.dtype == np.complex64
    assert np.array_equal(m.probe, want)
    layer = m.autoencoder.get_layer("probe_illumination")
    assert np.array_equal(layer.probe.numpy(), want)


def test_log_scale_frozen_and_untracked(tfm):
    s = 988.2118
    m = build(tfm, scale=s)
    assert m.log_scale.dtype.name == "float32"
    assert m.log_scale.numpy() == np.float32(math.log(s))
    assert not m.log_scale.trainable
    tracked = {id(v) for v in m.autoencoder.weights}
    assert id(m.log_scale) not in tracked
    scaler = m.autoencoder.get_layer("intensity_scaler")
    inv = m.autoencoder.get_layer("intensity_scaler_inv")
    assert scaler.log_scale is inv.log_scale is m.log_scale
    x = np.full((1, 64, 64, 1), 5.0, np.float32)
    np.testing.assert_array_equal(np.asarray(scaler(x)), x / np.exp(np.float32(math.log(s))))


def test_glorot_uniform_kernels_and_zero_biases(tfm):
    m = build(tfm, seed=5)
    for name, w in m.export_weights().items():
        if name.endswith(".bias"):
            assert not np.any(w), name
            continue
        kh, kw_, cin, cout = w.shape
        limit = math.sqrt(6.0 / (kh * kw_ * cin + kh * kw_ * cout))
        assert np.max(np.abs(w)) <= limit, name
        if w.size >= 10_000:  # uniform on [-limit, limit]: std = limit / sqrt(3)
            assert np.std(w) == pytest.approx(limit / math.sqrt(3), rel=0.03), name


def test_same_seed_same_model_other_seed_differs(tfm):
    a, b, c = build(tfm, seed=7), build(tfm, seed=7), build(tfm, seed=8)
    wa, wb, wc = a.export_weights(), b.export_weights(), c.export_weights()
    assert all(np.array_equal(wa[k], wb[k]) for k in wa)
    assert all(not np.array_equal(wa[k], wc[k]) for k in wa if k.endswith(".kernel"))
    # distinct layers get distinct initial kernels even when their shapes agree
    assert not np.array_equal(wa["amp.dec1.conv1.kernel"], wa["phase.dec1.conv1.kernel"])
    x, pos = inputs(a.config)
    for oa, ob in zip(a.autoencoder([x, pos]), b.autoencoder([x, pos])):
        np.testing.assert_array_equal(np.asarray(oa), np.asarray(ob))


def test_weights_export_import_round_trip(tfm):
    a, b = build(tfm, seed=1, gridsize=2), build(tfm, seed=2, gridsize=2)
    b.import_weights(a.export_weights())
    x, pos = inputs(a.config)
    for oa, ob in zip(a.autoencoder([x, pos]), b.autoencoder([x, pos])):
        np.testing.assert_array_equal(np.asarray(oa), np.asarray(ob))
    w = a.export_weights()
    missing = dict(w)
    missing.pop("enc1.conv1.bias")
    with pytest.raises(ValueError, match=r"missing: enc1\.conv1\.bias"):
        b.import_weights(missing)
    with pytest.raises(ValueError, match=r"extra: extra\.kernel"):
        b.import_weights({**w, "extra.kernel": np.zeros(1)})
    bad = {**w, "enc1.conv1.kernel": np.zeros((3, 3, 1, 64), np.float32)}
    with pytest.raises(ValueError, match=r"misshapen: enc1\.conv1\.kernel"):
        b.import_weights(bad)


def test_layer_names_and_no_lambda(tfm):
    from backends.tensorflow import layers

    m = build(tfm)
    names = {layer.name for layer in m.autoencoder.layers}
    for canonical in graph.weight_shapes(m.config):
        assert canonical.rsplit(".", 1)[0].replace(".", "_") in names
    for stage in (
        "intensity_scaler",
        "amp",
        "phi",
        "obj",
        "padded_obj_2",
        "trimmed_obj",
        "padded_objs_with_offsets",
        "probe_illumination",
        "pred_amplitude",
        "pred_diff_channels",
        "intensity_scaler_inv",
        "pred_intensity",
    ):
        assert stage in names
    import keras

    assert not [layer for layer in m.autoencoder.layers if isinstance(layer, keras.layers.Lambda)]
    for layer in m.autoencoder.layers:
        if type(layer).__module__.startswith("backends."):
            key = f"{layers.PACKAGE}>{type(layer).__name__}"
            assert keras.saving.get_registered_object(key) is type(layer)


def test_unknown_activation_raises(tfm):
    from backends.tensorflow.layers import HeadActivation

    with pytest.raises(ValueError, match="Unknown activation"):
        HeadActivation("tanh")


@pytest.mark.parametrize("kind", ["sigmoid", "swish", "softplus", "relu", "pi_tanh"])
def test_head_activation_values(tfm, kind):
    from backends.tensorflow.layers import HeadActivation

    x = np.linspace(-4, 4, 17, dtype=np.float32)
    want = {
        "sigmoid": 1 / (1 + np.exp(-x.astype(np.float64))),
        "swish": x / (1 + np.exp(-x.astype(np.float64))),
        "softplus": np.log1p(np.exp(x.astype(np.float64))),
        "relu": np.maximum(x, 0),
        "pi_tanh": np.pi * np.tanh(x.astype(np.float64)),
    }[kind]
    np.testing.assert_allclose(np.asarray(HeadActivation(kind)(x)), want, rtol=1e-6, atol=1e-6)


def test_custom_layers_serialise_in_safe_mode(tfm):
    """get_config / from_config of every custom layer through Keras' registry, safe mode."""
    import keras

    m = build(tfm, gridsize=2)
    for layer in m.autoencoder.layers:
        if not type(layer).__module__.startswith("backends."):
            continue
        cfg = keras.saving.serialize_keras_object(layer)
        clone = keras.saving.deserialize_keras_object(cfg, safe_mode=True)
        assert type(clone) is type(layer)
        assert clone.get_config() == layer.get_config()
