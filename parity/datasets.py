"""The data of a scenario: train and test containers built once, in NumPy, for both backends."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backends.data.container import ARRAY_FIELDS
from parity.errors import InputError

CONTAINER_FIELDS = (*ARRAY_FIELDS, "norm_Y_I", "nphotons")


@dataclass
class ScenarioData:
    """Train and test containers (``backends.data.PtychoData`` or anything with its fields)."""

    train: Any
    test: Any
    train_file: str
    test_file: str

    @property
    def nphotons(self) -> float:
        """Photons per pattern (NPZ metadata override applied by the loader)."""
        return float(self.train.nphotons)

    def intensity_scale(self, N: int) -> float:
        """Closed-form ``s = sqrt(nphotons) / (N/2)`` (physics.md 5.2)."""
        return math.sqrt(self.nphotons) / (N / 2)


def resolve_files(scenario: Any) -> tuple[str, str]:
    """Paths of the train and test files (built-ins generated on first use); a
    ``python:`` dataset is returned as given."""
    if scenario.dataset.startswith("python:"):
        return scenario.dataset, scenario.test_dataset
    from backends.data import resolve_data

    return str(resolve_data(scenario.dataset)), str(resolve_data(scenario.test_dataset))


def load(
    scenario: Any, n_groups: int | None = None, test_groups: int | None = None
) -> ScenarioData:
    """Load the scenario's containers. ``n_groups`` overrides the training group count
    (convergence); ``test_groups`` limits the test container."""
    if scenario.dataset.startswith("python:"):
        from parity.registry import _import_attr

        factory = _import_attr(scenario.dataset[len("python:") :], "dataset factory")
        train, test = factory(scenario, n_groups=n_groups, test_groups=test_groups)
        return ScenarioData(train, test, scenario.dataset, scenario.test_dataset)
    from backends.data import load_inference_data, load_training_data

    train_file, test_file = resolve_files(scenario)
    config = scenario.training_config(Path(train_file), None)
    if n_groups is not None:
        config.n_groups = n_groups
    train, _ = load_training_data(config)
    groups = test_groups if test_groups is not None else scenario.run.infer_groups
    test = load_inference_data(
        Path(test_file),
        gridsize=scenario.model_config().gridsize,
        n_groups=groups,
        seed=scenario.seeds.data,
    )
    if len(train) == 0:
        raise InputError(f"dataset {scenario.dataset!r} gave no training groups")
    return ScenarioData(train, test, train_file, test_file)


def container_arrays(container: Any) -> dict[str, Any]:
    """The container's fields that exist and are not None."""
    out = {}
    for name in CONTAINER_FIELDS:
        value = getattr(container, name, None)
        if value is not None:
            out[name] = value
    return out


def batch_indices(n_items: int, start: int, size: int) -> list[int]:
    """``size`` consecutive indices from ``start``, wrapping around a short container."""
    return [(start + i) % n_items for i in range(size)]
