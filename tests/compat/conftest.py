"""tests/compat runs in the ``compat`` nox session, with ptychodus 1.7.0 and the facade
distribution (``pip install ./compat``) installed; other sessions leave it out."""

from __future__ import annotations

import importlib.util

import pytest

_MISSING = [
    name
    for name in ("ptychodus", "ptycho", "ptycho_torch")
    if importlib.util.find_spec(name) is None
]
if _MISSING:
    raise pytest.UsageError(
        f"tests/compat needs {', '.join(_MISSING)}: run `nox -s compat`, or install "
        "`pip install ./compat 'ptychodus==1.7.0'` into this environment"
    )
