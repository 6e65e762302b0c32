"""``parity train``: options, config-file precedence and outputs (NumPy stand-in backends)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from backends import workflows
from backends.bundle import read_bundle
from parity.cli import main
from tests.backends.test_workflows import SMALL, FakeBackend


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


def _train(out: Path, *extra: str) -> int:
    return main(
        [
            "train",
            "--train-data",
            SMALL,
            "--output-dir",
            str(out),
            "--no-progress",
            "--n-groups",
            "32",
            *extra,
        ]
    )


def test_train_command_outputs(
    stand_ins: dict[str, FakeBackend], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _train(tmp_path / "o", "--backend", "pytorch", "--epochs", "1", "--seed", "5") == 0
    out = capsys.readouterr().out
    assert "bundle" in out and str(tmp_path / "o" / "wts.h5.zip") in out
    assert "amplitude PSNR" in out
    assert stand_ins["pytorch"].trained_with == {
        "groups": 32,
        "epochs": 1,
        "seed": 5,
        "progress": False,
    }
    assert {p.name for p in (tmp_path / "o").iterdir()} == {
        "wts.h5.zip",
        "history.json",
        "metrics.json",
        "reconstructed_amplitude.png",
        "reconstructed_phase.png",
    }
    assert read_bundle(tmp_path / "o", expected_backend="pytorch").params["nepochs"] == 1


def test_config_file_then_command_line(stand_ins: dict[str, FakeBackend], tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        'backend = "pytorch"\nnepochs = 5\nn_groups = 64\nbatch_size = 32\n'
        "[model]\nprobe_big = false\nprobe_scale = 2.0\n"
    )
    assert (
        _train(
            tmp_path / "o",
            "--config",
            str(cfg),
            "--epochs",
            "1",
            "--set",
            "model.probe_scale=3.0",
            "--set",
            "batch_size=8",
            "--batch-size",
            "16",
            "--probe-mask",
            "true",
        )
        == 0
    )
    p = read_bundle(tmp_path / "o", expected_backend="pytorch").params  # backend from the file
    assert p["nepochs"] == 1  # --epochs beats the file
    assert p["n_groups"] == 32  # --n-groups beats the file
    assert p["probe.big"] is False  # from the file
    assert p["probe_scale"] == 3.0  # --set beats the file
    assert p["batch_size"] == 16  # the named option beats --set
    assert p["probe.mask"] is True
    history = json.loads((tmp_path / "o" / "history.json").read_text())
    assert len(history["steps"]["loss"]) == 2  # 32 groups / batch 16, one epoch


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "nphoton=1e6"], "nphotons"),  # did-you-mean suggestion
        (["--set", "nphotons"], "KEY=VALUE"),
        (["--batch-size", "12"], "power of 2"),
        (["--probe-big", "maybe"], "probe_big"),
        (["--backend", "jax"], "backend"),
        (["--backend", "pytorch", "--exec", "num_workers=2"], "num_workers=2 is not supported"),
        (["--backend", "pytorch", "--exec", "lerning_rate=1"], "did you mean 'learning_rate'"),
        (["--backend", "pytorch", "--exec", "learning_rate"], "expected KEY=VALUE"),
        (["--backend", "pytorch", "--exec", "accum_steps=two"], "'accum_steps' must be an integer"),
        (
            ["--backend", "tensorflow", "--exec", "deterministic=false"],
            "not supported by the TensorFlow trainer",
        ),
        (
            ["--backend", "pytorch", "--execution-config", "no.toml"],
            "execution config file not found",
        ),
    ],
)
def test_bad_options_exit_2(
    stand_ins: dict[str, FakeBackend],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    assert _train(tmp_path / "o", *args) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
    assert stand_ins["pytorch"].trained_with == {} and stand_ins["tensorflow"].trained_with == {}


def test_missing_data_and_config(
    stand_ins: dict[str, FakeBackend], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["train", "--output-dir", str(tmp_path / "o")]) == 2
    assert "--train-data" in capsys.readouterr().err
    assert main(["train", "--config", str(tmp_path / "none.toml"), "--train-data", SMALL]) == 2
    assert "config file not found" in capsys.readouterr().err
    assert (
        main(
            ["train", "--train-data", str(tmp_path / "x.npz"), "--output-dir", str(tmp_path / "o")]
        )
        == 2
    )
    assert "x.npz" in capsys.readouterr().err


def test_execution_settings_reach_the_pytorch_trainer(
    stand_ins: dict[str, FakeBackend], tmp_path: Path
) -> None:
    exec_file = tmp_path / "exec.toml"
    exec_file.write_text("learning_rate = 2e-4\naccum_steps = 2\n")
    args = ["--backend", "pytorch", "--epochs", "1", "--execution-config", str(exec_file)]
    extra = ["--exec", "learning_rate=3e-4", "--exec", "logger_backend=none"]
    assert _train(tmp_path / "o", *args, *extra) == 0
    expected = {"learning_rate": 3e-4, "accum_steps": 2, "logger_backend": None}
    assert stand_ins["pytorch"].trained_with["execution"] == expected
    history = json.loads((tmp_path / "o" / "history.json").read_text())
    assert history["execution"] == expected
    assert _train(tmp_path / "p", "--backend", "pytorch", "--epochs", "1") == 0
    assert "execution" not in stand_ins["pytorch"].trained_with


def test_backend_not_installed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import backends

    monkeypatch.setattr(backends, "available", lambda: ["tensorflow"])
    assert _train(tmp_path / "o", "--backend", "pytorch") == 2
    assert "'pytorch' backend is not available" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize(
    "name",
    [
        pytest.param("tensorflow", marks=pytest.mark.tensorflow),
        pytest.param("pytorch", marks=pytest.mark.pytorch),
    ],
)
def test_real_train_command(name: str, tmp_path: Path, cache: Path) -> None:
    import backends

    try:
        backends.get(name)
    except ModuleNotFoundError as exc:
        pytest.skip(f"{name} adapter unavailable: {exc}")
    assert _train(tmp_path / "o", "--backend", name, "--epochs", "1") == 0
    assert read_bundle(tmp_path / "o", expected_backend=name).backend == name
    assert (tmp_path / "o" / "reconstructed_phase.png").is_file()
