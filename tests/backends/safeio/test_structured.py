"""JSON, TOML and YAML: bounded size, depth and aliases; wrong types are errors, not tracebacks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from backends.config import io as config_io
from backends.safeio import (
    ConfigFileError,
    expect,
    expect_finite,
    parse_json,
    parse_toml,
    parse_yaml,
)
from backends.safeio.structured import MAX_DEPTH

DEEP = 100_000


def _laughs(levels: int) -> str:
    """The "billion laughs" document: each level aliases the previous one nine times."""
    lines = ['l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels + 1):
        lines.append(f"l{i}: &l{i} [" + ",".join([f"*l{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("deep.json", "[" * DEEP + "]" * DEEP),
        ("deep.toml", "a = " + "[" * DEEP + "]" * DEEP),
        ("deep.yaml", "a: " + "[" * DEEP + "]" * DEEP),
        ("inline.toml", "a = " + "{b = " * 200 + "1" + "}" * 200),
    ],
)
def test_deep_nesting_is_a_config_error(tmp_path: Path, name: str, text: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ConfigFileError, match=f"nested more than {MAX_DEPTH} levels deep"):
        config_io.load_config(path)


def test_nesting_at_the_limit_is_accepted() -> None:
    text = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    assert parse_json(text, "x.json", ConfigFileError) == json.loads(text)
    with pytest.raises(ConfigFileError):
        parse_json("[" + text + "]", "x.json", ConfigFileError)


def test_billion_laughs_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "laughs.yaml"
    path.write_text(_laughs(8))  # 72 aliases standing for 9**9 strings
    with pytest.raises(ConfigFileError, match="more than 64 aliases"):
        config_io.load_config(path)
    with pytest.raises(ConfigFileError, match="more than 200000 nodes once aliases are expanded"):
        parse_yaml(_laughs(6), "c.yaml", ConfigFileError)  # 54 aliases, 9**7 strings
    assert len(parse_yaml(_laughs(3), "c.yaml", ConfigFileError)["l3"]) == 9


def test_many_aliases_are_refused() -> None:
    text = "a: &a 1\nb: [" + ", ".join(["*a"] * 100) + "]\n"
    with pytest.raises(ConfigFileError, match="more than 64 aliases"):
        parse_yaml(text, "c.yaml", ConfigFileError)
    assert parse_yaml("a: &a 1\nb: [*a, *a]\n", "c.yaml", ConfigFileError) == {"a": 1, "b": [1, 1]}


def test_recursive_alias_is_refused() -> None:
    with pytest.raises(ConfigFileError):
        parse_yaml("a: &a [*a]\n", "c.yaml", ConfigFileError)


def test_large_document_is_refused_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text("a: [" + "1, " * 600_000 + "1]\n")
    with pytest.raises(ConfigFileError, match="more than the limit of 1048576"):
        config_io.load_config(path)


def test_integer_too_large_for_a_float(tmp_path: Path) -> None:
    with pytest.raises(ConfigFileError, match="too large for a floating-point number"):
        expect_finite(10**400, "m.json", ConfigFileError, "intensity_scale")
    with pytest.raises(ConfigFileError, match="not valid JSON"):
        parse_json("1" * 5000, "m.json", ConfigFileError)
    path = tmp_path / "c.toml"
    path.write_text(f"nphotons = {10**400}\n")
    with pytest.raises(ValueError, match="nphotons") as info:
        config_io.load_config(path)
    assert not isinstance(info.value, OverflowError)


def test_nan_literal_is_not_json() -> None:
    with pytest.raises(ConfigFileError, match="NaN"):
        parse_json('{"a": NaN}', "m.json", ConfigFileError)


@pytest.mark.parametrize("value", [None, [], "1", True, {"a": 1}])
def test_expect_names_the_key_and_the_types(value: object) -> None:
    with pytest.raises(ConfigFileError, match=r"'models': must be an integer or a number, got"):
        expect(value, (int, float), "m.json", ConfigFileError, "models")


def test_toml_and_yaml_still_parse() -> None:
    assert parse_toml("[model]\nN = 64\n", "c.toml", ConfigFileError) == {"model": {"N": 64}}
    assert parse_yaml("", "c.yaml", ConfigFileError) is None
    with pytest.raises(ConfigFileError, match="could not determine a constructor"):
        parse_yaml("a: !!python/name:os.system\n", "c.yaml", ConfigFileError)
