"""Shared test configuration: hypothesis profiles, framework markers and the ``gpu`` marker."""

from __future__ import annotations

import functools
import importlib.util
import os

import pytest
from hypothesis import HealthCheck, settings

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

settings.register_profile(
    "ci",
    derandomize=True,
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    print_blob=True,
)
settings.register_profile(
    "dev",
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.register_profile(
    "fuzz",
    max_examples=500,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    print_blob=True,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

HAS_TF = importlib.util.find_spec("tensorflow") is not None
HAS_TORCH = importlib.util.find_spec("torch") is not None


@functools.cache
def _gpus(framework: str) -> int:
    """GPUs visible to ``framework`` (imported only when a ``gpu`` test asks; torch first)."""
    if framework == "pytorch":
        if not HAS_TORCH:
            return 0
        import torch

        return torch.cuda.device_count() if torch.cuda.is_available() else 0
    if not HAS_TF:
        return 0
    if HAS_TORCH:
        import torch  # torch goes first when both share a process
    import tensorflow as tf

    return len(tf.config.list_physical_devices("GPU"))


def _gpu_missing(item: pytest.Item) -> str:
    """Why a ``gpu`` test cannot run here (empty when it can): it needs a GPU visible to the
    frameworks its other markers name (``pytorch``, ``tensorflow``, ``both``; none: both)."""
    wanted = [
        f
        for f, markers in (("pytorch", ("pytorch", "both")), ("tensorflow", ("tensorflow", "both")))
        if any(m in item.keywords for m in markers)
    ] or ["pytorch", "tensorflow"]
    if all(_gpus(f) > 0 for f in wanted):
        return ""
    return "no GPU visible to torch/TensorFlow"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip_tf = pytest.mark.skip(reason="TensorFlow is not installed in this environment")
    skip_torch = pytest.mark.skip(reason="PyTorch is not installed in this environment")
    for item in items:
        needs_tf = "tensorflow" in item.keywords or "both" in item.keywords
        needs_torch = "pytorch" in item.keywords or "both" in item.keywords
        if needs_tf and not HAS_TF:
            item.add_marker(skip_tf)
        if needs_torch and not HAS_TORCH:
            item.add_marker(skip_torch)
        if item.get_closest_marker("gpu") is not None:
            reason = _gpu_missing(item)
            if reason:
                item.add_marker(pytest.mark.skip(reason=reason))
