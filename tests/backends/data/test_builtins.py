"""Built-in datasets (data.md 10.4): recipe, deterministic generation, caching."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from backends.data import BUILTINS, UnknownDatasetError, load_npz, resolve_data
from backends.data import builtins as builtins_module
from backends.data.objects import lines


def test_cache_dir_follows_the_environment(cache_dir, monkeypatch, tmp_path):
    assert builtins_module.cache_dir() == cache_dir
    monkeypatch.delenv("PTYCHOPINN_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert builtins_module.cache_dir() == tmp_path / "xdg" / "ptychopinn-parity"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert builtins_module.cache_dir() == Path.home() / ".cache" / "ptychopinn-parity"


def test_recipes():
    assert {"lines-64", "lines-128", "lines-256", "lines-64-small"} <= set(BUILTINS)
    for name, N in (("lines-64", 64), ("lines-128", 128), ("lines-256", 256)):
        recipe = BUILTINS[name]
        assert (recipe.N, recipe.object_size, recipe.n_images, recipe.nphotons) == (
            N,
            int(3.5 * N),
            500,
            1e9,
        )
    small = BUILTINS["lines-64-small"]
    assert (small.N, small.object_size, small.n_images) == (64, 224, 128)


def test_small_builtin_generated_once_and_reused(cache_dir, monkeypatch):
    train = resolve_data("builtin:lines-64-small")
    test = resolve_data("builtin:lines-64-small:test")
    assert train.parent == cache_dir and train != test
    assert resolve_data("builtin:lines-64-small:train") == train
    raw = load_npz(train)
    assert raw.n_patterns == 128 and raw.N == 64 and raw.objectGuess.shape == (224, 224)
    assert raw.nphotons == 1e9
    assert raw.metadata["seeds"] == {"object_seed": 1, "positions_seed": 42, "poisson_seed": 1001}
    assert raw.metadata["builtin"]["name"] == "lines-64-small"
    # The recipe: lines object from RandomState(1), positions from RandomState(42).
    np.testing.assert_array_equal(
        raw.objectGuess, lines(224, np.random.RandomState(1)).astype(np.complex64)
    )
    r = np.random.RandomState(42)
    np.testing.assert_array_equal(raw.xcoords, r.uniform(32, 224 - 32, 128))
    t = load_npz(test)
    assert t.metadata["seeds"] == {"object_seed": 2, "positions_seed": 43, "poisson_seed": 1002}
    assert not np.array_equal(t.objectGuess, raw.objectGuess)
    # Second use: no regeneration.
    stamp = train.stat().st_mtime_ns

    def boom(*args, **kwargs):
        raise AssertionError("regenerated a cached built-in")

    monkeypatch.setattr(builtins_module.Recipe, "simulate", boom)
    assert resolve_data("builtin:lines-64-small") == train
    assert train.stat().st_mtime_ns == stamp
    assert sorted(p.name for p in cache_dir.iterdir() if not p.name.endswith(".lock")) == [
        test.name,
        train.name,
    ]


def test_generation_is_deterministic_across_cache_dirs(tmp_path, monkeypatch):
    paths = []
    for sub in ("a", "b"):
        monkeypatch.setenv("PTYCHOPINN_CACHE_DIR", str(tmp_path / sub))
        paths.append(resolve_data("builtin:lines-64-small:test"))
    a, b = (load_npz(p, ground_truth_patches=True) for p in paths)
    assert a.ground_truth_patches is not None and a.ground_truth_patches.shape == (128, 64, 64, 1)
    for key in (
        "diff3d",
        "xcoords",
        "ycoords",
        "probeGuess",
        "objectGuess",
        "ground_truth_patches",
    ):
        np.testing.assert_array_equal(getattr(a, key), getattr(b, key))


def test_two_processes_generating_at_once(cache_dir):
    code = (
        "from backends.data import resolve_data, load_npz; "
        "p = resolve_data('builtin:lines-64-small'); print(p); load_npz(p)"
    )
    env = dict(os.environ, PTYCHOPINN_CACHE_DIR=str(cache_dir))
    root = Path(__file__).resolve().parents[3]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code],
            cwd=root,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    assert outputs[0][0] == outputs[1][0]
    leftovers = [p.name for p in cache_dir.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []


def test_unknown_builtin_lists_the_names(cache_dir):
    with pytest.raises(
        UnknownDatasetError, match="available: builtin:lines-64, builtin:lines-128"
    ) as info:
        resolve_data("builtin:lines-32")
    assert isinstance(info.value, ValueError)
    with pytest.raises(UnknownDatasetError, match="unknown split 'val'"):
        resolve_data("builtin:lines-64:val")
    assert not cache_dir.exists()


def test_plain_paths(tmp_path):
    with pytest.raises(FileNotFoundError, match="data file not found"):
        resolve_data(tmp_path / "nope.npz")
    f = tmp_path / "x.npz"
    f.write_bytes(b"")
    assert resolve_data(str(f)) == f


def test_directory_is_not_a_data_file(tmp_path):
    with pytest.raises(ValueError, match="is a directory"):
        resolve_data(tmp_path)
