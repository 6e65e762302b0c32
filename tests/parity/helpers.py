"""Scenarios on the fake backends for the harness's tests."""

from __future__ import annotations

import copy
from typing import Any

from parity import scenario as sc

REF = "tests.parity.fakes:reference"
CAND = "tests.parity.fakes:candidate"
ORACLE = "tests.parity.fake_physics"

BASE: dict[str, Any] = {
    "name": "fake",
    "description": "fake backends, small model",
    "dataset": "python:tests.parity.fakes:make_data",
    "checks": ["params", "data", "ops", "forward", "gradients", "training", "bundles", "inference"],
    "seeds": {"data": 1, "weights": 7, "ops": 11},
    "run": {
        "batch_size": 2,
        "train_steps": 2,
        "train_batch_size": 2,
        "infer_groups": 6,
        "infer_batch_size": 6,
        "op_batch": 1,
    },
    "config": {"n_groups": 8, "model": {"N": 64, "gridsize": 1, "n_filters_scale": 1}},
}


def fake_scenario(checks: list[str] | None = None, **model: Any) -> sc.Scenario:
    """A scenario on the fake data with ``model`` fields overridden."""
    raw = copy.deepcopy(BASE)
    raw["config"]["model"].update(model)
    if checks is not None:
        raw["checks"] = checks
    return sc.from_dict(raw, source="<test>")
