"""The OpenMP wait policy is chosen by importing ``backends``, whatever the import order."""

from __future__ import annotations

import subprocess
import sys

import pytest

SNIPPET = (
    "import os, sys\n"
    "{first}\n"
    "import backends\n"
    "print(backends.OPENMP_WAIT_POLICY, os.environ.get('OMP_WAIT_POLICY'), "
    "'torch' in sys.modules)\n"
)


def _run(first: str, env_policy: str | None) -> list[str]:
    import os

    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if env_policy:
        env["OMP_WAIT_POLICY"] = env_policy
    out = subprocess.run(
        [sys.executable, "-c", SNIPPET.format(first=first)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.split(maxsplit=1)


def test_importing_backends_sets_passive_without_loading_torch() -> None:
    policy, rest = _run("", None)
    assert policy == "PASSIVE"
    assert rest.split() == ["PASSIVE", "False"]


def test_a_policy_from_the_environment_is_kept() -> None:
    policy, _ = _run("", "active")
    assert policy == "ACTIVE"


def test_torch_loaded_first_is_reported_with_advice() -> None:
    pytest.importorskip("torch")
    from backends.core.threads import RUNTIME_DEFAULT, wait_policy_advice

    line = " ".join(_run("import torch", None))
    assert line.startswith(RUNTIME_DEFAULT)
    advice = wait_policy_advice(RUNTIME_DEFAULT)
    assert advice is not None and "OMP_WAIT_POLICY=PASSIVE" in advice
    assert wait_policy_advice("PASSIVE") is None
