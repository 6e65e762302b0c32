"""Traces: layout, atomic writing, refusal of foreign traces, slim baselines."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from parity.trace import TRACE_FORMAT_VERSION, Trace, TraceError, TraceWriter, open_pair, slim
from tests.parity.helpers import fake_scenario


def _write(path: Path, scenario=None, backend: str = "b") -> Path:
    sc = scenario or fake_scenario()
    with TraceWriter(path, backend, sc) as w:
        w.put("forward/outputs", "x", np.arange(20000, dtype=np.float32).reshape(100, 200))
        w.put("gradients/losses", "total", np.float64(1.5))
        w.put("ops/diffract[a]/inputs", "psi", np.ones((2, 2), np.complex64))
        w.put_json("params", "legacy", {"N": 64, "probe": np.ones(3), "path": Path("/x")})
        w.put_json("params", "metrics", {"frc": float("inf"), "low": -np.inf, "x": [np.nan, 1.0]})
        w.record_section("forward", status="ok", seconds=0.1)
    return path


def test_layout_and_round_trip(tmp_path: Path) -> None:
    path = _write(tmp_path / "t.h5")
    with h5py.File(path) as f:
        assert {"meta", "params", "tensors", "bundles"} <= set(f)
        assert f["meta"].attrs["format_version"] == TRACE_FORMAT_VERSION
        assert f["tensors/forward/outputs/x"].compression == "lzf"
    with Trace(path) as t:
        assert t.backend == "b" and t.scenario_name == "fake"
        assert t.get("forward/outputs", "x")[99, 199] == 19999
        assert float(t.get("gradients/losses", "total")) == 1.5
        assert t.names("forward/outputs") == ["x"] and t.groups("ops") == ["diffract[a]"]
        assert t.has("ops/diffract[a]/inputs", "psi") and not t.has("forward/outputs", "y")
        legacy = t.json("params", "legacy")
        assert legacy["N"] == 64 and legacy["path"] == "/x" and legacy["probe"]["$array"]
        metrics = t.json("params", "metrics")
        assert metrics["frc"] == np.inf and metrics["low"] == -np.inf
        assert np.isnan(metrics["x"][0]) and metrics["x"][1] == 1.0
        assert t.sections["forward"]["status"] == "ok"
        assert t.scenario().hash == fake_scenario().hash
        assert t.tensor_bytes() == 20000 * 4 + 8 + 2 * 2 * 8


def test_a_failed_write_leaves_nothing(tmp_path: Path) -> None:
    path = tmp_path / "t.h5"
    with pytest.raises(RuntimeError), TraceWriter(path, "b", fake_scenario()) as w:
        w.put("a", "b", np.zeros(3))
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_foreign_and_incompatible_traces_are_refused(tmp_path: Path) -> None:
    a = _write(tmp_path / "a.h5")
    b = _write(tmp_path / "b.h5", fake_scenario(gridsize=2))
    with pytest.raises(TraceError, match="different scenarios"):
        open_pair(a, b)
    with (
        Trace(a) as t,
        pytest.raises(TraceError, match="recorded for scenario 'fake', not 'other'"),
    ):
        t.check_scenario("other", t.scenario_hash)
    with Trace(a) as t, pytest.raises(TraceError, match="different version of scenario"):
        t.check_scenario("fake", "0" * 16)
    with h5py.File(a, "a") as f:
        f["meta"].attrs["format_version"] = "9.0"
    with pytest.raises(TraceError, match=r"trace format 9\.0"):
        Trace(a)
    (tmp_path / "junk.h5").write_bytes(b"not hdf5")
    with pytest.raises(TraceError, match="not a readable HDF5"):
        Trace(tmp_path / "junk.h5")
    with pytest.raises(TraceError, match="does not exist"):
        Trace(tmp_path / "missing.h5")


def test_slim_replaces_large_tensors_by_summaries(tmp_path: Path) -> None:
    full = _write(tmp_path / "a.h5")
    small = slim(full, tmp_path / "s.h5", max_elements=100)
    assert small.stat().st_size < full.stat().st_size
    with Trace(full) as a, Trace(small) as s:
        assert s.is_summary("forward/outputs", "x") and not s.is_summary(
            "gradients/losses", "total"
        )
        assert s.summary("forward/outputs", "x") == a.summary("forward/outputs", "x")
        assert s.summary("forward/outputs", "x")["max_abs"] == 19999.0
