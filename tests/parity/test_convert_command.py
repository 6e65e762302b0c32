"""``parity convert-bundle``: conversion, the forward check and refusals (stand-in backends)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from backends import workflows
from backends.bundle import read_bundle
from parity.cli import main
from tests.backends.test_workflows import SMALL, FakeBackend, small_config


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    d = tmp_path_factory.mktemp("builtin-cache")
    old = os.environ.get("PTYCHOPINN_CACHE_DIR")
    os.environ["PTYCHOPINN_CACHE_DIR"] = str(d)
    yield d
    if old is None:
        del os.environ["PTYCHOPINN_CACHE_DIR"]
    else:
        os.environ["PTYCHOPINN_CACHE_DIR"] = old


@pytest.fixture
def stand_ins(monkeypatch: pytest.MonkeyPatch, cache: Path) -> dict[str, FakeBackend]:
    import backends

    made = {"tensorflow": FakeBackend("tensorflow"), "pytorch": FakeBackend("pytorch")}
    monkeypatch.setattr(workflows, "_backend", lambda name: made[name])
    monkeypatch.setattr(backends, "available", lambda: list(made))
    return made


@pytest.fixture
def tf_bundle(stand_ins: dict[str, FakeBackend], tmp_path: Path) -> Path:
    workflows.train(
        "tensorflow", SMALL, None, small_config(nepochs=1), tmp_path / "tf", progress=False
    )
    return tmp_path / "tf"


def test_convert_command(
    tf_bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(["convert-bundle", str(tf_bundle), "--to", "pytorch", "-o", str(tmp_path / "pt")]) == 0
    )
    out = capsys.readouterr().out
    assert "converted tensorflow -> pytorch" in out
    assert (
        "max difference of the object (trimmed_obj)" in out and "largest relative difference" in out
    )
    assert read_bundle(tmp_path / "pt", expected_backend="pytorch").backend == "pytorch"
    # and back again, from the archive path
    assert (
        main(
            [
                "convert-bundle",
                str(tmp_path / "pt" / "wts.h5.zip"),
                "--to",
                "tensorflow",
                "--output-dir",
                str(tmp_path / "tf2"),
            ]
        )
        == 0
    )


def test_convert_failure_exit_1(
    tf_bundle: Path,
    tmp_path: Path,
    stand_ins: dict[str, FakeBackend],
    capsys: pytest.CaptureFixture[str],
) -> None:
    stand_ins["pytorch"].broken_import = True
    assert (
        main(["convert-bundle", str(tf_bundle), "--to", "pytorch", "-o", str(tmp_path / "pt")]) == 1
    )
    assert "FAILED" in capsys.readouterr().out
    assert not (tmp_path / "pt").exists()


@pytest.mark.parametrize(
    ("target", "message"),
    [("tensorflow", "already a 'tensorflow' bundle"), ("jax", "unknown backend")],
)
def test_convert_refusals(
    tf_bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], target: str, message: str
) -> None:
    assert main(["convert-bundle", str(tf_bundle), "--to", target, "-o", str(tmp_path / "x")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_convert_missing_bundle(
    stand_ins: dict[str, FakeBackend], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(
            [
                "convert-bundle",
                str(tmp_path / "nothing"),
                "--to",
                "pytorch",
                "-o",
                str(tmp_path / "x"),
            ]
        )
        == 2
    )
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.both
def test_real_convert_command(tmp_path: Path, cache: Path) -> None:
    import backends

    for name in ("tensorflow", "pytorch"):
        try:
            backends.get(name)
        except ModuleNotFoundError as exc:
            pytest.skip(f"{name} adapter unavailable: {exc}")
    workflows.train(
        "tensorflow", SMALL, None, small_config(nepochs=1), tmp_path / "tf", progress=False
    )
    assert (
        main(
            ["convert-bundle", str(tmp_path / "tf"), "--to", "pytorch", "-o", str(tmp_path / "pt")]
        )
        == 0
    )
    assert (
        main(
            [
                "convert-bundle",
                str(tmp_path / "pt"),
                "--to",
                "tensorflow",
                "-o",
                str(tmp_path / "tf2"),
            ]
        )
        == 0
    )
