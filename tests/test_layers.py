"""The layers import downwards only: the application (``ptychopinn``) and the harness
(``parity``) use the backends; nothing in ``backends`` imports them (``backends.workflows`` is
the application's alias module and the one exception)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
UPPER = ("ptychopinn", "parity", "backends.workflows")
ALIAS = ROOT / "backends" / "workflows.py"


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append(node.module)
            out += [f"{node.module}.{alias.name}" for alias in node.names]
    return out


def test_backends_never_import_the_application_or_the_harness() -> None:
    offenders = []
    for path in sorted((ROOT / "backends").rglob("*.py")):
        if path == ALIAS:
            continue
        for name in _imports(path):
            if any(name == upper or name.startswith(upper + ".") for upper in UPPER):
                offenders.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not offenders, "\n".join(offenders)


def test_the_check_sees_imports_inside_functions(tmp_path: Path) -> None:
    sample = tmp_path / "m.py"
    sample.write_text(
        "def f():\n    from ptychopinn.workflows import train\n    from backends import workflows\n",
        encoding="utf-8",
    )
    found = _imports(sample)
    assert "ptychopinn.workflows" in found and "backends.workflows" in found
