"""The OpenMP wait policy is chosen by importing ``backends``, and PyTorch's spinning is limited
where torch was loaded first, so that the import order does not matter."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

SNIPPET = (
    "import os, sys\n"
    "{first}\n"
    "import backends\n"
    "{then}\n"
    "print(repr(backends.OPENMP_WAIT_POLICY), os.environ.get('OMP_WAIT_POLICY'), "
    "'torch' in sys.modules, {probe})\n"
)


def _run(first: str = "", env_policy: str | None = None, then: str = "", probe: str = "None"):
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if env_policy:
        env["OMP_WAIT_POLICY"] = env_policy
    code = SNIPPET.format(first=first, then=then, probe=probe)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout.rsplit(maxsplit=3)


def test_importing_backends_sets_passive_without_loading_torch() -> None:
    assert _run() == ["'PASSIVE'", "PASSIVE", "False", "None"]


def test_a_policy_from_the_environment_is_kept() -> None:
    assert _run(env_policy="active")[:2] == ["'ACTIVE'", "active"]


@pytest.mark.parametrize(("first", "limited"), [("import torch", True), ("", False)])
def test_spinning_is_limited_only_where_torch_was_loaded_first(first: str, limited: bool) -> None:
    pytest.importorskip("torch")
    from backends.core.threads import RUNTIME_DEFAULT

    policy, _, _, held = _run(
        first=first,
        then="from backends.pytorch.adapter import configure_threads; configure_threads(2)",
        probe="__import__('backends.pytorch.openmp').pytorch.openmp.spin_limited()",
    )
    assert (policy == repr(RUNTIME_DEFAULT)) is limited
    assert held == str(limited)
