"""Normalisation, ground-truth patches, the container, splits and the loaders (data.md 3-9)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from backends.base import Batch
from backends.config import InferenceConfig, ModelConfig, TrainingConfig
from backends.data import (
    PtychoData,
    RawData,
    extract_object_patches,
    group,
    load_inference_data,
    load_training_data,
    save_npz,
    train_test_split,
    validation_split,
)
from tests.backends.data._reference import bilinear_sample, reference_group
from tests.backends.data.conftest import make_arrays


# ----------------------------------------------------------------- normalisation
@given(
    gridsize=st.integers(1, 2),
    n_groups=st.integers(4, 20),
    scale=st.floats(1e-3, 1e4),
    seed=st.integers(0, 99),
)
def test_normalised_energy_is_n_over_2_squared(gridsize, n_groups, scale, seed):
    arrays = make_arrays(M=20, N=8, seed=seed)
    arrays["diff3d"] = (arrays["diff3d"] * scale).astype(np.float32)
    raw = RawData.from_mapping(arrays)
    g = group(
        raw,
        gridsize=gridsize,
        n_groups=n_groups,
        neighbor_count=4 + gridsize,
        rng=np.random.RandomState(seed),
    )
    X = g["X_full"]
    assert X.dtype == np.float32 and X.shape == (min(n_groups, 20), 8, 8, gridsize**2)
    energy = np.mean(np.sum(X.astype(np.float64) ** 2, axis=(1, 2)))
    assert energy == pytest.approx((8 / 2) ** 2, rel=1e-6)
    # X_full is the grouped diffraction times one float64 factor (then float32).
    d = g["diffraction"].astype(np.float64)
    f = math.sqrt(16.0 / np.mean(np.sum(d**2, axis=(1, 2))))
    np.testing.assert_array_equal(X, (d * f).astype(np.float32))


def test_grouped_diffraction_is_channel_last_gather():
    raw = RawData.from_mapping(make_arrays(M=12, N=4))
    g = group(raw, gridsize=2, n_groups=5, neighbor_count=6, rng=np.random.RandomState(0))
    nn = g["nn_indices"]
    for c in range(4):
        np.testing.assert_array_equal(g["diffraction"][:, :, :, c], raw.diff3d[nn[:, c]])


# ----------------------------------------------------------------- ground truth
def test_patches_at_integer_positions_are_object_slices():
    r = np.random.RandomState(0)
    obj = (r.normal(size=(30, 36)) + 1j * r.normal(size=(30, 36))).astype(np.complex64)
    N = 8
    xs = np.array([4.0, 10.0, 31.0, 20.0])
    ys = np.array([4.0, 13.0, 25.0, 26.0])
    patches = extract_object_patches(obj, xs, ys, N)
    for p, (x, y) in enumerate(zip(xs.astype(int), ys.astype(int))):
        np.testing.assert_array_equal(
            patches[p], obj[y - N // 2 : y + N // 2, x - N // 2 : x + N // 2]
        )
    # Near the border the zero padding shows: position (2, 2) reads two rows/cols of zeros.
    edge = extract_object_patches(obj, np.array([2.0]), np.array([2.0]), N)[0]
    assert np.all(edge[:2] == 0) and np.all(edge[:, :2] == 0)
    np.testing.assert_array_equal(edge[2:, 2:], obj[:6, :6])


@given(x=st.floats(-6, 45), y=st.floats(-6, 40))
def test_sub_pixel_patches_match_pointwise_bilinear(x, y):
    r = np.random.RandomState(1)
    obj = (r.normal(size=(30, 36)) + 1j * r.normal(size=(30, 36))).astype(np.complex64)
    N = 6
    patch = extract_object_patches(obj, np.array([x]), np.array([y]), N)[0]
    x32, y32 = np.float32(x), np.float32(y)
    for row in (0, 2, 5):
        for col in (0, 3, 5):
            # sample coordinate formed in float32 in the padded frame (physics.md 7.1), then - N/2
            sx = float(np.float32(col) + x32) - N / 2
            sy = float(np.float32(row) + y32) - N / 2
            assert patch[row, col] == pytest.approx(bilinear_sample(obj, sy, sx), abs=1e-12)


def test_labels_use_true_positions_not_reflected():
    arrays = make_arrays(M=12, N=8)
    raw = RawData.from_mapping(arrays)
    g = group(raw, gridsize=2, n_groups=6, neighbor_count=5, rng=np.random.RandomState(3))
    nn = g["nn_indices"]
    for c in range(4):
        idx = nn[:, c]
        expected = extract_object_patches(raw.objectGuess, raw.xcoords[idx], raw.ycoords[idx], 8)
        np.testing.assert_array_equal(g["Y"][..., c], expected.astype(np.complex64))


def test_per_image_y_has_priority_over_object():
    arrays = make_arrays(M=12, N=4)
    arrays["Y"] = (np.arange(12 * 16).reshape(12, 4, 4) * (1 + 1j)).astype(np.complex64)
    raw = RawData.from_mapping(arrays)
    g = group(raw, gridsize=1, n_groups=12, rng=np.random.RandomState(0))
    np.testing.assert_array_equal(g["Y"][..., 0], arrays["Y"][g["nn_indices"][:, 0]])


def test_no_ground_truth_gives_ones_placeholder():
    raw = RawData.from_mapping(make_arrays(M=12, N=4, with_object=False))
    g = group(raw, gridsize=1, n_groups=5, rng=np.random.RandomState(0))
    assert g["Y"] is None
    c = PtychoData.from_grouped(g, raw.probeGuess)
    assert not c.has_ground_truth
    assert c.Y.dtype == np.complex64 and np.all(c.Y == 1) and c.Y.shape == c.X.shape


# ----------------------------------------------------------------- container
def _container(gridsize: int = 2, nphotons: float = 1e9) -> tuple[PtychoData, dict]:
    raw = RawData.from_mapping(make_arrays(M=20, N=8))
    g = group(raw, gridsize=gridsize, n_groups=10, neighbor_count=5, rng=np.random.RandomState(0))
    return PtychoData.from_grouped(g, raw.probeGuess, nphotons=nphotons, N=8), g


def test_container_fields_and_dtypes():
    c, g = _container()
    assert len(c) == 10 and c.N == 8 and c.C == 4
    assert c.X.dtype == np.float32 and c.Y.dtype == np.complex64
    assert c.Y_I.dtype == np.float32 and c.Y_phi.dtype == np.float32
    np.testing.assert_array_equal(c.Y_I, np.abs(g["Y"]))
    assert np.all(np.abs(c.Y_phi) <= np.pi)
    np.testing.assert_array_equal(c.coords_nominal, g["coords_start_relative"].astype(np.float32))
    np.testing.assert_array_equal(c.coords_true, c.coords_nominal)
    assert c.coords is c.coords_nominal
    assert c.global_offsets.dtype == np.float64 and c.global_offsets.shape == (10, 1, 2, 1)
    np.testing.assert_array_equal(c.local_offsets, g["coords_relative"])
    assert c.nn_indices.dtype == np.int64 and c.probe.shape == (8, 8)
    expected_norm = np.float32(
        math.sqrt(1e9 / np.mean(np.sum(c.X.astype(np.float64) ** 2, axis=(1, 2))))
    )
    assert c.norm_Y_I == expected_norm
    assert c.norm_Y_I == pytest.approx(math.sqrt(1e9) / 4, rel=1e-6)  # closed-form s
    assert c.YY_full is None


def test_container_accepts_either_coordinate_pair():
    _, g = _container()
    raw = RawData.from_mapping(make_arrays(M=20, N=8))
    canonical = {k: v for k, v in g.items() if not k.startswith("coords_start")}
    start_only = {k: v for k, v in g.items() if k not in ("coords_offsets", "coords_relative")}
    start_only["coords_start_relative"] = g["coords_relative"]
    start_only["coords_start_offsets"] = g["coords_offsets"]
    a = PtychoData.from_grouped(canonical, raw.probeGuess)
    b = PtychoData.from_grouped(start_only, raw.probeGuess)
    for name in ("coords_nominal", "local_offsets", "global_offsets"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


def test_container_model_n_mismatch():
    _, g = _container()
    with pytest.raises(ValueError, match="model's N=64 differs from the diffraction side 8"):
        PtychoData.from_grouped(g, np.ones((8, 8)), N=64)


def test_container_channel_mismatch():
    _, g = _container()
    g = dict(g, Y=g["Y"][..., :1])
    with pytest.raises(ValueError, match="channel mismatch"):
        PtychoData.from_grouped(g, np.ones((8, 8)))


def test_batch_and_subset():
    c, _ = _container()
    b = c.batch([3, 1])
    assert isinstance(b, Batch)
    np.testing.assert_array_equal(b.X, c.X[[3, 1]])
    np.testing.assert_array_equal(b.positions, c.coords_nominal[[3, 1]])
    np.testing.assert_array_equal(b.Y_I, c.Y_I[[3, 1]])
    assert b.X.dtype == np.float32 and b.positions.dtype == np.float32
    s = c.subset(np.array([9, 0]))
    assert len(s) == 2
    np.testing.assert_array_equal(s.nn_indices, c.nn_indices[[9, 0]])
    np.testing.assert_array_equal(s.global_offsets, c.global_offsets[[9, 0]])


@pytest.mark.parametrize("G", [1, 10, 19, 20, 21, 100])
def test_validation_split_takes_the_last_groups(G):
    c, _ = _container()
    big = c.subset(np.arange(G) % len(c))
    train, val = validation_split(big)
    n_val = G - math.floor(0.95 * G)
    assert len(train) == G - n_val
    if n_val == 0:
        assert val is None
    else:
        assert val is not None and len(val) == n_val
        np.testing.assert_array_equal(val.X, big.X[G - n_val :])
    np.testing.assert_array_equal(train.X, big.X[: G - n_val])


def test_legacy_train_test_split():
    c, _ = _container()
    a, b = train_test_split(c, 0.75)
    assert len(a) == 7 and len(b) == 3
    np.testing.assert_array_equal(b.X, c.X[7:])


# ----------------------------------------------------------------- loaders
def _files(tmp_path: Path, nphotons_meta: float | None = None) -> tuple[Path, Path]:
    train = make_arrays(M=30, N=8, seed=1)
    if nphotons_meta is not None:
        train["_metadata"] = json.dumps({"physics_parameters": {"nphotons": nphotons_meta}})
    test = make_arrays(M=16, N=8, seed=2)
    return save_npz(train, tmp_path / "train.npz"), save_npz(test, tmp_path / "test.npz")


def _config(train: Path, test: Path | None, **kw) -> TrainingConfig:
    return TrainingConfig(
        model=ModelConfig(N=64, gridsize=kw.pop("gridsize", 2)),
        train_data_file=train,
        test_data_file=test,
        **kw,
    )


@pytest.mark.filterwarnings("ignore:N=8 is outside")
def test_training_loader_uses_one_stream_across_train_and_test(tmp_path):
    train_path, test_path = _files(tmp_path, nphotons_meta=5e8)
    cfg = _config(
        train_path, test_path, n_groups=12, n_subsample=20, subsample_seed=7, neighbor_count=5
    )
    cfg.model = ModelConfig(N=8, gridsize=2)
    train, test = load_training_data(cfg)
    rng = np.random.RandomState(7)
    tr = RawData.from_mapping(make_arrays(M=30, N=8, seed=1))
    sel = np.sort(rng.choice(30, 20, replace=False))
    nn_train = reference_group(
        tr.xcoords[sel], tr.ycoords[sel], gridsize=2, n_groups=12, K=5, rng=rng
    )
    te = RawData.from_mapping(make_arrays(M=16, N=8, seed=2))
    nn_test = reference_group(te.xcoords, te.ycoords, gridsize=2, n_groups=12, K=5, rng=rng)
    np.testing.assert_array_equal(train.nn_indices, nn_train)
    np.testing.assert_array_equal(train.sample_indices, sel)
    assert test is not None
    np.testing.assert_array_equal(test.nn_indices, nn_test)
    assert train.nphotons == 5e8 and test.nphotons == 5e8  # metadata override
    np.testing.assert_array_equal(train.X, load_training_data(cfg)[0].X)  # reproducible


def test_training_loader_default_seed_42_and_configured_nphotons(tmp_path):
    train_path, _ = _files(tmp_path)
    cfg = _config(train_path, None, gridsize=1, n_groups=10, nphotons=2e6)  # model N = 64
    with pytest.raises(ValueError, match="model's N=64"):
        load_training_data(cfg)
    with pytest.warns(UserWarning, match="N=8"):
        cfg.model = ModelConfig(N=8, gridsize=1)
    train, test = load_training_data(cfg)
    rng = np.random.RandomState(42)
    sel = np.sort(rng.choice(30, 10, replace=False))  # legacy coupling: n_subsample := n_groups
    np.testing.assert_array_equal(train.sample_indices, sel)
    assert test is None and train.nphotons == 2e6


@pytest.mark.filterwarnings("ignore:N=8 is outside")
def test_training_loader_validates_config_and_counts(tmp_path):
    train_path, _ = _files(tmp_path)
    cfg = _config(train_path, None, batch_size=3)
    with pytest.raises(ValueError, match="batch_size=3"):
        load_training_data(cfg)
    cfg = _config(train_path, None, n_groups=10, neighbor_count=0)
    cfg.model = ModelConfig(N=8, gridsize=2)
    with pytest.raises(ValueError, match="neighbor_count"):
        load_training_data(cfg)
    cfg = _config(train_path, None, n_groups=10, n_subsample=0)
    with pytest.raises(ValueError, match="n_subsample=0"):
        load_training_data(cfg)


@pytest.mark.filterwarnings("ignore:N=8 is outside")
def test_test_file_smaller_than_n_groups_needs_oversampling(tmp_path):
    train_path, test_path = _files(tmp_path)
    cfg = _config(train_path, test_path, n_groups=20, neighbor_count=5)
    cfg.model = ModelConfig(N=8, gridsize=2)
    with pytest.raises(ValueError, match="enable_oversampling"):
        load_training_data(cfg)  # test file has 16 points < 20 groups at C = 4


def test_inference_loader_seed_45_and_cap(tmp_path):
    _, test_path = _files(tmp_path)
    data = load_inference_data(test_path, gridsize=2)
    # cap = P // C = 4 groups from RandomState(45), K = 4
    te = RawData.from_mapping(make_arrays(M=16, N=8, seed=2))
    expected = reference_group(
        te.xcoords, te.ycoords, gridsize=2, n_groups=4, K=4, rng=np.random.RandomState(45)
    )
    np.testing.assert_array_equal(data.nn_indices, expected)
    assert data.nphotons == 1e9
    data = load_inference_data(test_path, gridsize=1, n_groups=100, seed=3)
    assert len(data) == 16  # min(n_groups, cap = P)


@pytest.mark.filterwarnings("ignore:N=8 is outside")
def test_inference_loader_from_config(tmp_path):
    _, test_path = _files(tmp_path)
    cfg = InferenceConfig(
        model=ModelConfig(N=8, gridsize=2),
        model_path=tmp_path,
        test_data_file=test_path,
        n_groups=3,
        neighbor_count=6,
    )
    te = RawData.from_mapping(make_arrays(M=16, N=8, seed=2))
    # legacy coupling keeps min(n_groups, M) = 3 points; 3 < C = 4 fails
    with pytest.raises(ValueError, match="dataset has only 3 points"):
        load_inference_data(None, cfg)
    cfg.n_groups = None
    data = load_inference_data(None, cfg)
    expected = reference_group(
        te.xcoords, te.ycoords, gridsize=2, n_groups=4, K=6, rng=np.random.RandomState(45)
    )
    np.testing.assert_array_equal(data.nn_indices, expected)
