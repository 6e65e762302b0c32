"""Fixtures shared by the PyTorch backend's tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def backend():
    """The PyTorch backend object (skipped where torch is not installed)."""
    pytest.importorskip("torch")
    from backends.pytorch.adapter import create_backend

    return create_backend()
