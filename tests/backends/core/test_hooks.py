"""The kernel hook replaces public functions of named modules only, and restores them."""

from __future__ import annotations

import json

import pytest

from backends.core.hooks import kernels_replaced

MODULES = {"codec": "json"}


def test_functions_are_replaced_inside_and_restored_after() -> None:
    original = json.dumps

    def factory(wrapped):
        return lambda obj, **kw: "patched:" + wrapped(obj, **kw)

    with kernels_replaced(MODULES, [("codec", "dumps", factory)]):
        assert json.dumps([1]) == "patched:[1]"
    assert json.dumps is original


def test_restored_after_an_error() -> None:
    original = json.loads
    with pytest.raises(RuntimeError), kernels_replaced(MODULES, [("codec", "loads", lambda f: f)]):
        raise RuntimeError("boom")
    assert json.loads is original


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        (("codec", "_default_decoder", lambda f: f), "not a public function"),
        (("codec", "no_such_function", lambda f: f), "not a public function"),
        (("ops", "dumps", lambda f: f), "kernel module 'ops' is unknown; choose one of: codec"),
    ],
)
def test_private_or_unknown_names_are_refused_before_anything_changes(patch, message) -> None:
    original = json.dumps
    hook = kernels_replaced(MODULES, [("codec", "dumps", lambda f: None), patch])
    with pytest.raises(ValueError, match=message), hook:
        pass
    assert json.dumps is original
