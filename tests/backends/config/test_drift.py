"""The default-drift table computed from the code reproduces docs/config.md (g)."""

from __future__ import annotations

from pathlib import Path

import pytest

from backends.config import bridge, drift
from backends.config import torch_native as tn

# docs/config.md (g): canonical field -> (TF, Legacy, Torch, Factory) with "absent", "required"
# and "error" for the descriptive entries. Client column omitted (not in this code base).
SPEC_G = {
    "N": (64, 128, 64, 64),
    "gridsize": (1, 2, 2, 1),
    "amp_activation": ("sigmoid", "sigmoid", "swish", "swish"),
    "object_big": (True, True, False, True),
    "probe_big": (True, False, True, False),
    "probe_mask": (False, True, False, False),
    "probe_scale": (4.0, 10.0, 1.0, 1.0),
    "nepochs": (50, 60, 50, 50),
    "nphotons": (1e9, 1e9, 1e5, 1e5),
    "neighbor_count": (4, "absent", 6, 4),
    "positions_provided": (True, False, True, True),
    "intensity_scale_trainable": (True, False, False, False),
    "output_dir": (Path("training_outputs"), "outputs", Path("training_outputs"), "required"),
    "debug": (False, True, False, None),
    "n_groups": (512, "absent", "error", "required"),
    "n_subsample": (None, "absent", 7, None),
}
SAME_EVERYWHERE = {
    "n_filters_scale": 2, "model_type": "pinn", "pad_object": True,
    "gaussian_smoothing_sigma": 0.0, "batch_size": 16, "mae_weight": 0.0, "nll_weight": 1.0,
    "realspace_mae_weight": 0.0, "realspace_weight": 0.0, "probe_trainable": False,
}  # fmt: skip


@pytest.fixture(scope="module")
def rows():
    return {r.field: r for r in drift.compute_drift()}


def _matches(cell, expected) -> bool:
    if expected in ("absent", "required"):
        return cell.kind == expected
    if expected == "error":
        return cell.kind == "error" and "error" in cell.text
    if expected is None and cell.kind == "na":
        return True
    return (
        cell.kind in ("value", "error")
        and cell.train == expected
        and (type(cell.train) is type(expected) or expected is None)
    )


@pytest.mark.parametrize("field", sorted(SPEC_G))
def test_drift_row_reproduces_spec(rows, field):
    row = rows[field]
    assert row.status == "drift"
    for layer, expected in zip(drift.LAYERS, SPEC_G[field]):
        cell = row.cells[layer]
        if field == "debug" and layer == "factory":
            assert cell.kind == "na"
            continue
        if field == "debug" and layer in ("tensorflow", "torch"):
            assert cell.infer == expected  # debug is an inference field
            continue
        assert _matches(cell, expected), (field, layer, cell)


def test_inference_side_of_output_dir_and_n_groups(rows):
    assert rows["output_dir"].cells["tensorflow"].infer.name == "inference_outputs"
    assert rows["n_groups"].cells["tensorflow"].infer is None


def test_torch_n_subsample_is_flagged_as_not_forwarded(rows):
    assert any(
        "n_subsample=7" in note and "not forwarded" in note for note in rows["n_subsample"].notes
    )


def test_factory_n_comes_from_the_npz(rows):
    assert "NPZ" in rows["N"].cells["factory"].text


@pytest.mark.parametrize(("field", "value"), sorted(SAME_EVERYWHERE.items()))
def test_same_in_every_layer(rows, field, value):
    row = rows[field]
    assert row.status == "same"
    for layer in drift.LAYERS:
        assert row.cells[layer].train == value, (field, layer)


def test_exactly_the_documented_fields_drift(rows):
    assert drift.drifting(list(rows.values())) == set(SPEC_G)
    assert drift.undocumented(list(rows.values())) == []
    assert drift.resolved(list(rows.values())) == []


def test_backend_differs_by_design(rows):
    row = rows["backend"]
    assert row.status == "by design"
    assert row.cells["tensorflow"].train == "tensorflow" and row.cells["torch"].train == "pytorch"


def test_flipped_bridge_constant_is_an_undocumented_drift(monkeypatch):
    monkeypatch.setitem(bridge.TRAINING_CONSTANTS, "sequential_sampling", True)
    rows = drift.compute_drift()
    assert drift.undocumented(rows) == ["sequential_sampling"]


def test_flipped_torch_default_changes_the_table(monkeypatch):
    original = tn.DataConfig.__init__

    def init(self, *args, K=4, **kwargs):
        original(self, *args, K=K, **kwargs)

    monkeypatch.setattr(tn.DataConfig, "__init__", init)
    rows = {r.field: r for r in drift.compute_drift()}
    assert rows["neighbor_count"].cells["torch"].train == 4
    assert "neighbor_count" in drift.resolved(list(rows.values()))
