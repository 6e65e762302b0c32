"""Fixtures of the harness's tests: fake-backend scenarios and reference traces recorded once."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from parity.record import record
from parity.scenario import Scenario
from tests.parity import fake_physics
from tests.parity.helpers import REF, fake_scenario


class TraceCache:
    """Records the reference fake once per scenario (keyed by scenario hash)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._paths: dict[str, Path] = {}

    def reference(self, scenario: Scenario) -> Path:
        if scenario.hash not in self._paths:
            path = self.root / f"ref-{scenario.hash}.h5"
            record(REF, scenario, path, oracle=fake_physics)
            self._paths[scenario.hash] = path
        return self._paths[scenario.hash]


@pytest.fixture(scope="session")
def trace_cache(tmp_path_factory: pytest.TempPathFactory) -> TraceCache:
    return TraceCache(tmp_path_factory.mktemp("reference-traces"))


@pytest.fixture(scope="session")
def make_scenario() -> Callable[..., Scenario]:
    return fake_scenario
