"""``parity infer``: outputs, backend detection and refusals (NumPy stand-in backends)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from backends import workflows
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
def trained(monkeypatch: pytest.MonkeyPatch, cache: Path, tmp_path: Path) -> Path:
    import backends

    made = {"tensorflow": FakeBackend("tensorflow"), "pytorch": FakeBackend("pytorch")}
    monkeypatch.setattr(workflows, "_backend", lambda name: made[name])
    monkeypatch.setattr(backends, "available", lambda: list(made))
    out = tmp_path / "model"
    workflows.train("pytorch", SMALL, None, small_config(nepochs=1), out, progress=False)
    return out


def test_infer_command(trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "inf"
    args = [
        "infer",
        "--model",
        str(trained),
        "--data",
        f"{SMALL}:test",
        "--output-dir",
        str(out),
        "--n-groups",
        "24",
    ]
    assert main(args) == 0  # backend read from the bundle
    text = capsys.readouterr().out
    assert "backend         pytorch" in text and "groups          24" in text
    assert {p.name for p in out.iterdir()} == {
        "reconstruction.npz",
        "reconstructed_amplitude.png",
        "reconstructed_phase.png",
        "metrics.json",
    }
    with np.load(out / "reconstruction.npz", allow_pickle=False) as z:
        assert z["patches"].shape[0] == 24


def test_infer_archive_path_and_explicit_backend(trained: Path, tmp_path: Path) -> None:
    args = [
        "infer",
        "--backend",
        "pytorch",
        "--model",
        str(trained / "wts.h5.zip"),
        "--data",
        SMALL,
        "--output-dir",
        str(tmp_path / "inf"),
        "--n-groups",
        "16",
    ]
    assert main(args) == 0


def test_infer_wrong_backend_exit_2(
    trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [
        "infer",
        "--backend",
        "tensorflow",
        "--model",
        str(trained),
        "--data",
        SMALL,
        "--output-dir",
        str(tmp_path / "inf"),
    ]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "written by the 'pytorch' backend but the 'tensorflow' loader was used" in err
    assert not (tmp_path / "inf").exists()


def test_infer_missing_model_exit_2(
    trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "empty").mkdir()
    args = [
        "infer",
        "--model",
        str(tmp_path / "empty"),
        "--data",
        SMALL,
        "--output-dir",
        str(tmp_path / "inf"),
    ]
    assert main(args) == 2
    assert "Model archive not found" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize(
    "name",
    [
        pytest.param("tensorflow", marks=pytest.mark.tensorflow),
        pytest.param("pytorch", marks=pytest.mark.pytorch),
    ],
)
def test_real_infer_command(name: str, tmp_path: Path, cache: Path) -> None:
    import backends

    try:
        backends.get(name)
    except ModuleNotFoundError as exc:
        pytest.skip(f"{name} adapter unavailable: {exc}")
    workflows.train(name, SMALL, None, small_config(nepochs=1), tmp_path / "m", progress=False)
    args = [
        "infer",
        "--model",
        str(tmp_path / "m"),
        "--data",
        f"{SMALL}:test",
        "--output-dir",
        str(tmp_path / "i"),
        "--n-groups",
        "16",
    ]
    assert main(args) == 0
    assert (tmp_path / "i" / "reconstruction.npz").is_file()
