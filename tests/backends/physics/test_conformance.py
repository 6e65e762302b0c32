"""The oracle provides every op of the Ops protocol with the protocol's signature, and imports
no framework."""

from __future__ import annotations

import inspect
import subprocess
import sys

import pytest

from backends import physics
from backends.base import OP_NAMES, Ops


@pytest.mark.parametrize("name", OP_NAMES)
def test_every_op_exists_with_the_protocol_signature(name: str) -> None:
    assert callable(getattr(physics, name, None)), f"backends.physics lacks {name}"
    protocol = list(inspect.signature(getattr(Ops, name)).parameters.values())[1:]
    oracle = list(inspect.signature(getattr(physics, name)).parameters.values())
    assert [p.name for p in oracle[: len(protocol)]] == [p.name for p in protocol]
    for p, o in zip(protocol, oracle):
        assert o.default == p.default, f"{name}({p.name}) default differs"
    # any extra parameter is optional
    assert all(o.default is not inspect.Parameter.empty for o in oracle[len(protocol) :])


def test_import_needs_no_framework() -> None:
    code = (
        "import sys; import backends.physics; "
        "bad = [m for m in ('tensorflow', 'torch', 'keras') if m in sys.modules]; "
        "sys.exit(1 if bad else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
