"""Fixtures of the configuration tests: the legacy params singleton is restored after every
test, and a fresh params object is available."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from backends.config import legacy


@pytest.fixture(autouse=True)
def _restore_legacy_singleton() -> Iterator[None]:
    state = legacy.params.snapshot()
    yield
    legacy.params.restore(state)


@pytest.fixture
def fresh_params() -> legacy.LegacyParams:
    """A legacy params object holding the import-time defaults."""
    return legacy.LegacyParams()
