"""Subsampling and grouping (data.md sections 3-4) and the grouping rows of section 2."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from scipy.spatial import cKDTree

from backends.data import RawData, check_counts, group, group_indices, subsample
from tests.backends.data._reference import reference_group
from tests.backends.data.conftest import make_arrays


def _positions(P: int, seed: int, raster: bool = False) -> tuple[np.ndarray, np.ndarray]:
    if raster:
        side = int(np.ceil(np.sqrt(P)))
        yy, xx = np.divmod(np.arange(P), side)
        return xx.astype(float) * 3.0, yy.astype(float) * 3.0
    r = np.random.RandomState(seed)
    return r.uniform(0, 50, P), r.uniform(0, 50, P)


# ----------------------------------------------------------------- properties
@given(
    P=st.integers(1, 60),
    gridsize=st.integers(1, 3),
    extra_k=st.integers(0, 4),
    n_groups=st.integers(1, 80),
    seed=st.integers(0, 2**31 - 1),
    raster=st.booleans(),
)
def test_random_mode_matches_literal_rederivation(P, gridsize, extra_k, n_groups, seed, raster):
    C = gridsize**2
    K = max(C, 1) + extra_k
    assume(P >= C and (C == 1 or n_groups <= P))
    x, y = _positions(P, seed, raster)
    nn = group_indices(
        x,
        y,
        gridsize=gridsize,
        n_groups=n_groups,
        neighbor_count=K,
        rng=np.random.RandomState(seed),
    )
    expected = reference_group(
        x, y, gridsize=gridsize, n_groups=n_groups, K=K, rng=np.random.RandomState(seed)
    )
    G = min(n_groups, P)
    assert nn.shape == (G, C) and nn.dtype == np.int64
    np.testing.assert_array_equal(nn, expected)
    # Same stream, same groups.
    again = group_indices(
        x,
        y,
        gridsize=gridsize,
        n_groups=n_groups,
        neighbor_count=K,
        rng=np.random.RandomState(seed),
    )
    np.testing.assert_array_equal(nn, again)


@given(
    P=st.integers(4, 60),
    gridsize=st.integers(2, 3),
    extra_k=st.integers(0, 4),
    n_groups=st.integers(1, 60),
    seed=st.integers(0, 1000),
)
def test_members_are_among_the_k_nearest_excluding_the_seed(P, gridsize, extra_k, n_groups, seed):
    C = gridsize**2
    K = C + extra_k
    assume(P > K and n_groups <= P)
    x, y = _positions(P, seed)
    rng = np.random.RandomState(seed)
    nn = group_indices(x, y, gridsize=gridsize, n_groups=n_groups, neighbor_count=K, rng=rng)
    seeds = (
        np.random.RandomState(seed).choice(P, n_groups, replace=False)
        if n_groups < P
        else np.arange(P)
    )
    points = np.column_stack([x, y])
    for g, s in enumerate(seeds):
        d = np.hypot(x - x[s], y - y[s])
        order = np.argsort(d, kind="stable")
        kth = d[order[K]]  # distance of the K-th neighbour after the seed itself
        members = nn[g]
        assert len(set(members.tolist())) == C  # without replacement
        assert s not in members.tolist()  # random positions: no duplicate of the seed
        assert np.all(np.hypot(*(points[members] - points[s]).T) <= kth + 1e-12)


def test_random_mode_draw_order_is_seeds_then_one_choice_per_seed():
    x, y = _positions(30, 3)
    rng = np.random.RandomState(7)
    nn = group_indices(x, y, gridsize=2, n_groups=10, neighbor_count=5, rng=rng)
    manual = np.random.RandomState(7)
    seeds = manual.choice(30, 10, replace=False)
    tree = cKDTree(np.column_stack([x, y]))
    for g, s in enumerate(seeds):
        _, idx = tree.query([x[s], y[s]], k=6)
        np.testing.assert_array_equal(nn[g], manual.choice(idx[1:6], 4, replace=False))
    # The caller's stream continued from exactly there.
    assert rng.randint(1 << 30) == manual.randint(1 << 30)


def test_all_points_used_without_a_draw_when_n_groups_reaches_p():
    x, y = _positions(12, 0)
    rng = np.random.RandomState(5)
    nn = group_indices(x, y, gridsize=1, n_groups=50, rng=rng)
    np.testing.assert_array_equal(nn[:, 0], np.arange(12))
    assert rng.randint(1 << 30) == np.random.RandomState(5).randint(1 << 30)


def test_sequential_mode_uses_arange_seeds_and_randomstate_zero():
    x, y = _positions(40, 2)
    caller = np.random.RandomState(99)
    nn = group_indices(
        x,
        y,
        gridsize=2,
        n_groups=15,
        neighbor_count=6,
        rng=caller,
        sequential_sampling=True,
        seed=1234,
    )  # seed ignored in this mode
    expected = reference_group(
        x, y, gridsize=2, n_groups=15, K=6, rng=np.random.RandomState(12), sequential=True
    )
    np.testing.assert_array_equal(nn, expected)
    tree = cKDTree(np.column_stack([x, y]))
    r0 = np.random.RandomState(0)
    for g in range(15):
        _, idx = tree.query([x[g], y[g]], k=7)
        np.testing.assert_array_equal(nn[g], r0.choice(idx[1:], 4, replace=False))
    assert caller.randint(1 << 30) == np.random.RandomState(99).randint(1 << 30)


def test_seed_argument_replaces_the_stream_and_leaves_the_callers_alone():
    x, y = _positions(40, 4)
    caller = np.random.RandomState(3)
    nn = group_indices(x, y, gridsize=2, n_groups=10, rng=caller, seed=11)
    expected = reference_group(x, y, gridsize=2, n_groups=10, K=4, rng=np.random.RandomState(11))
    np.testing.assert_array_equal(nn, expected)
    assert caller.randint(1 << 30) == np.random.RandomState(3).randint(1 << 30)


def test_duplicate_position_drops_the_first_result_whatever_it_is():
    # Points 0 and 1 coincide; the seed's own entry may come second. Exactly K remain.
    x = np.array([0.0, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
    y = np.zeros(7)
    nn = group_indices(x, y, gridsize=2, n_groups=7, neighbor_count=4, rng=np.random.RandomState(0))
    expected = reference_group(x, y, gridsize=2, n_groups=7, K=4, rng=np.random.RandomState(0))
    np.testing.assert_array_equal(nn, expected)


# ----------------------------------------------------------------- oversampling
@given(
    P=st.integers(4, 25),
    gridsize=st.sampled_from([2]),
    pool=st.integers(4, 7),
    factor=st.integers(2, 6),
    seed=st.integers(0, 1000),
    sequential=st.booleans(),
)
def test_oversampling_matches_literal_rederivation(P, gridsize, pool, factor, seed, sequential):
    n_groups = P * factor
    x, y = _positions(P, seed)
    nn = group_indices(
        x,
        y,
        gridsize=gridsize,
        n_groups=n_groups,
        neighbor_count=4,
        rng=np.random.RandomState(seed),
        enable_oversampling=True,
        neighbor_pool_size=pool,
        sequential_sampling=sequential,
    )
    expected = reference_group(
        x,
        y,
        gridsize=gridsize,
        n_groups=n_groups,
        K=4,
        rng=np.random.RandomState(seed),
        oversampling=True,
        pool_size=pool,
        sequential=sequential,
    )
    assert nn.shape == (n_groups, 4)
    np.testing.assert_array_equal(nn, expected)


def test_oversampling_stops_at_twice_n_groups():
    # per = C(7, 4) = 35 tuples per seed; n_groups 60 -> need 2 -> 4 seeds -> 140 tuples, of
    # which only the first 120 enter the pool: the 4th seed contributes its first 15 only.
    import itertools

    x, y = _positions(30, 1)
    nn = group_indices(
        x,
        y,
        gridsize=2,
        n_groups=60,
        neighbor_count=4,
        rng=np.random.RandomState(2),
        enable_oversampling=True,
        neighbor_pool_size=7,
    )
    seeds = np.random.RandomState(2).choice(30, 4, replace=False)
    tree = cKDTree(np.column_stack([x, y]))
    allowed = set()
    for i, s in enumerate(seeds):
        _, idx = tree.query([x[s], y[s]], k=8)
        combos = list(itertools.combinations(idx[1:].tolist(), 4))
        allowed.update(combos if i < 3 else combos[:15])
    assert {tuple(row) for row in nn.tolist()} <= allowed
    assert len(nn) == 60


# ----------------------------------------------------------------- error rows
def test_counts_must_be_positive():
    for kwargs, name in (
        ({"n_subsample": 0}, "n_subsample"),
        ({"n_groups": 0}, "n_groups"),
        ({"neighbor_count": -1}, "neighbor_count"),
    ):
        with pytest.raises(ValueError, match=f"{name}.*must be an integer >= 1"):
            check_counts(**kwargs)
    x, y = _positions(10, 0)
    with pytest.raises(ValueError, match="n_groups=0"):
        group_indices(x, y, gridsize=1, n_groups=0, rng=np.random.RandomState(0))


def test_oversampling_needed_but_not_enabled_names_the_flag():
    x, y = _positions(10, 0)
    with pytest.raises(ValueError, match="enable_oversampling=True"):
        group_indices(x, y, gridsize=2, n_groups=11, rng=np.random.RandomState(0))


def test_oversampling_pool_smaller_than_c():
    x, y = _positions(10, 0)
    with pytest.raises(ValueError, match=r"pool of at least C=4.*is 3"):
        group_indices(
            x,
            y,
            gridsize=2,
            n_groups=11,
            neighbor_count=3,
            rng=np.random.RandomState(0),
            enable_oversampling=True,
        )
    # Oversampling checks only the pool: K < C is fine when the pool is large enough.
    nn = group_indices(
        x,
        y,
        gridsize=2,
        n_groups=11,
        neighbor_count=3,
        rng=np.random.RandomState(0),
        enable_oversampling=True,
        neighbor_pool_size=5,
    )
    assert nn.shape == (11, 4)


def test_fewer_points_than_channels():
    x, y = _positions(3, 0)
    with pytest.raises(ValueError, match="dataset has only 3 points but C=4"):
        group_indices(x, y, gridsize=2, n_groups=2, rng=np.random.RandomState(0))


def test_k_smaller_than_c_without_oversampling():
    x, y = _positions(20, 0)
    with pytest.raises(ValueError, match="K must be ≥ C"):
        group_indices(x, y, gridsize=2, n_groups=5, neighbor_count=3, rng=np.random.RandomState(0))


def test_grouping_rows_in_table_order():
    x, y = _positions(3, 0)
    # n_groups > P at C = 4 without the flag is reported before P < C and K < C.
    with pytest.raises(ValueError, match="enable_oversampling"):
        group_indices(x, y, gridsize=2, n_groups=5, neighbor_count=2, rng=np.random.RandomState(0))
    with pytest.raises(ValueError, match="pool of at least"):
        group_indices(
            x,
            y,
            gridsize=2,
            n_groups=5,
            neighbor_count=2,
            rng=np.random.RandomState(0),
            enable_oversampling=True,
        )
    with pytest.raises(ValueError, match="dataset has only 3 points"):
        group_indices(x, y, gridsize=2, n_groups=2, neighbor_count=2, rng=np.random.RandomState(0))


# ----------------------------------------------------------------- subsampling
def test_subsample_draws_sorted_choice_from_the_stream():
    raw = RawData.from_mapping(make_arrays(M=12, N=4))
    rng = np.random.RandomState(42)
    sub = subsample(raw, n_subsample=5, n_groups=512, rng=rng)
    expected = np.sort(np.random.RandomState(42).choice(12, 5, replace=False))
    np.testing.assert_array_equal(sub.sample_indices, expected)
    np.testing.assert_array_equal(sub.xcoords, raw.xcoords[expected])
    np.testing.assert_array_equal(sub.diff3d, raw.diff3d[expected])


def test_subsample_legacy_coupling_and_no_draw_when_keeping_all():
    raw = RawData.from_mapping(make_arrays(M=12, N=4))
    rng = np.random.RandomState(42)
    sub = subsample(raw, n_subsample=None, n_groups=7, rng=rng)  # n_use = min(n_groups, M)
    assert sub.n_patterns == 7
    rng = np.random.RandomState(42)
    sub = subsample(raw, n_subsample=None, n_groups=512, rng=rng)
    np.testing.assert_array_equal(sub.sample_indices, np.arange(12))
    assert rng.randint(1 << 30) == np.random.RandomState(42).randint(1 << 30)


# ----------------------------------------------------------------- coordinates
def test_coordinates_of_groups():
    raw = RawData.from_mapping(make_arrays(M=12, N=4))
    grouped = group(raw, gridsize=2, n_groups=6, neighbor_count=5, rng=np.random.RandomState(1))
    nn = grouped["nn_indices"]
    G = nn.shape[0]
    assert grouped["coords_nn"].shape == (G, 1, 2, 4)
    np.testing.assert_array_equal(grouped["coords_nn"][:, 0, 0, :], raw.xcoords[nn])
    np.testing.assert_array_equal(grouped["coords_nn"][:, 0, 1, :], raw.ycoords[nn])
    np.testing.assert_array_equal(grouped["coords_start_nn"][:, 0, 0, :], raw.xcoords_start[nn])
    centroid_x = np.mean(raw.xcoords[nn], axis=1)
    np.testing.assert_array_equal(grouped["coords_offsets"][:, 0, 0, 0], centroid_x)
    np.testing.assert_array_equal(
        grouped["coords_relative"][:, 0, 0, :], centroid_x[:, None] - raw.xcoords[nn]
    )
    start_cy = np.mean(raw.ycoords_start[nn], axis=1)
    np.testing.assert_array_equal(
        grouped["coords_start_relative"][:, 0, 1, :], start_cy[:, None] - raw.ycoords_start[nn]
    )


def test_gridsize_one_has_zero_relative_coordinates():
    raw = RawData.from_mapping(make_arrays(M=12, N=4))
    grouped = group(raw, gridsize=1, n_groups=8, rng=np.random.RandomState(0))
    assert grouped["nn_indices"].shape == (8, 1)
    assert np.all(grouped["coords_relative"] == 0) and np.all(grouped["coords_start_relative"] == 0)
    i = grouped["nn_indices"][:, 0]
    np.testing.assert_array_equal(
        grouped["coords_offsets"][:, 0, :, 0], np.column_stack([raw.xcoords[i], raw.ycoords[i]])
    )
