"""Training logs (``logger_backend`` csv / tensorboard / none) for both backends: where they
land, and that their values are the run's history (``history.json``)."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from backends import workflows
from backends.config.execution import check_backend_settings, trainer_settings
from backends.core import training_log
from backends.core.losses import LOSS_TERMS
from tests.backends.test_workflows import SMALL, data_cache, small_config  # noqa: F401
from tests.parity.test_train_command import cache, stand_ins  # noqa: F401

# 16 groups in batches of 8: 2 optimiser steps per epoch
TINY = {"n_groups": 16, "batch_size": 8}
EPOCHS = 2

Run = tuple[Path, dict[str, Any]]


@pytest.fixture(scope="module")
def trained(
    tmp_path_factory: pytest.TempPathFactory,
    data_cache: Path,  # noqa: F811
) -> Callable[[str, str], Run]:
    """``(backend, logger) -> (output_dir, history.json)`` of a 2-epoch run, trained once."""
    runs: dict[tuple[str, str], Run] = {}

    def run(backend: str, logger: str) -> Run:
        if (backend, logger) not in runs:
            pytest.importorskip("tensorflow" if backend == "tensorflow" else "lightning")
            if logger == "tensorboard":
                pytest.importorskip("tensorboard")
            out = tmp_path_factory.mktemp(f"{backend}-{logger}")
            workflows.train(
                backend,
                SMALL,
                None,
                small_config(nepochs=EPOCHS, **TINY),
                out,
                progress=False,
                seed=1,
                execution={"logger_backend": logger},
            )
            history = json.loads((out / "history.json").read_text())
            runs[backend, logger] = (out, history)
        return runs[backend, logger]

    return run


BACKENDS = [
    pytest.param("tensorflow", marks=pytest.mark.tensorflow),
    pytest.param("pytorch", marks=pytest.mark.pytorch),
]
EPOCH_KEYS = ("loss", "val_loss", "lr", *LOSS_TERMS[1:])


def _version_dir(out: Path, backend: str) -> Path:
    root = out / "logs" / backend
    assert sorted(p.name for p in root.iterdir()) == ["version_0"]
    return root / "version_0"


def _read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


def _last_steps(history: dict[str, Any]) -> list[int]:
    """The global index of each epoch's last step."""
    per_epoch = len(history["steps"]["loss"]) // len(history["epochs"]["loss"])
    return [(e + 1) * per_epoch - 1 for e in range(len(history["epochs"]["loss"]))]


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_csv_log_holds_the_history(trained: Callable[[str, str], Run], backend: str) -> None:
    out, history = trained(backend, "csv")
    _, rows = _read_csv(_version_dir(out, backend) / "metrics.csv")
    epochs = history["epochs"]
    steps = history["steps"]["loss"]
    assert len(epochs["loss"]) == EPOCHS and len(steps) == 2 * EPOCHS
    epoch_rows = [r for r in rows if r["loss"]]
    step_rows = [r for r in rows if r["loss_step"]]
    assert len(epoch_rows) + len(step_rows) == len(rows)
    for key in EPOCH_KEYS:
        if epochs[key]:
            assert [float(r[key]) for r in epoch_rows] == epochs[key], key
        else:
            assert all(r[key] == "" for r in rows), key
    assert [int(r["epoch"]) for r in epoch_rows] == list(range(EPOCHS))
    assert [int(r["step"]) for r in epoch_rows] == _last_steps(history)
    assert [float(r["loss_step"]) for r in step_rows] == steps
    assert [int(r["step"]) for r in step_rows] == list(range(len(steps)))
    assert [int(r["epoch"]) for r in step_rows] == [i * EPOCHS // len(steps) for i in range(4)]
    for term in LOSS_TERMS[1:]:
        assert all(np.isfinite(float(r[f"{term}_step"])) for r in step_rows), term


def _event_scalars(log_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar of the event files, by tag: ``(step, value)`` in write order. Reads the
    plain (``simple_value``) and the tensor form alike."""
    from tensorboard.backend.event_processing import plugin_event_accumulator as pea
    from tensorboard.util import tensor_util

    acc = pea.EventAccumulator(str(log_dir), size_guidance={pea.TENSORS: 0})
    acc.Reload()
    return {
        tag: [(e.step, float(tensor_util.make_ndarray(e.tensor_proto))) for e in acc.Tensors(tag)]
        for tag in acc.Tags()["tensors"]
    }


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_tensorboard_log_holds_the_history(
    trained: Callable[[str, str], Run], backend: str
) -> None:
    out, history = trained(backend, "tensorboard")
    log_dir = _version_dir(out, backend)
    assert list(log_dir.glob("events.out.tfevents.*"))
    assert not (log_dir / "metrics.csv").exists()
    scalars = _event_scalars(log_dir)
    steps = history["steps"]["loss"]
    f32 = [float(np.float32(v)) for v in steps]
    assert scalars["loss_step"] == list(zip(range(len(steps)), f32))
    for key in EPOCH_KEYS:
        values = history["epochs"][key]
        if values:
            expected = [float(np.float32(v)) for v in values]
            assert scalars[key] == list(zip(_last_steps(history), expected)), key
        else:
            assert key not in scalars
    for term in LOSS_TERMS[1:]:
        assert len(scalars[f"{term}_step"]) == len(steps)


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_no_logger_writes_no_log(trained: Callable[[str, str], Run], backend: str) -> None:
    out, history = trained(backend, "none")
    assert len(history["epochs"]["loss"]) == EPOCHS
    assert not (out / "logs").exists()
    assert not (out / "lightning_logs").exists()


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_logging_changes_no_number(trained: Callable[[str, str], Run], backend: str) -> None:
    """The same seed gives the same steps, epochs and weights with any logger."""
    import backends

    be = backends.get(backend)
    runs = [trained(backend, logger) for logger in ("none", "csv", "tensorboard")]
    weights = [dict(be.export_weights(be.load_bundle(out)[0])) for out, _ in runs]
    for (_, history), w in zip(runs[1:], weights[1:]):
        assert history["steps"] == runs[0][1]["steps"]
        assert history["epochs"] == runs[0][1]["epochs"]
        for key, value in weights[0].items():
            assert np.array_equal(w[key], value), key


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_resumed_run_logs_into_the_next_version(
    trained: Callable[[str, str], Run], backend: str, tmp_path: Path
) -> None:
    """1 epoch, then resumed to 2: version_0 and version_1 hold the straight run's rows."""
    import dataclasses

    straight, _ = trained(backend, "csv")
    out = tmp_path / "run"
    config = small_config(nepochs=1, **TINY)
    workflows.train(backend, SMALL, None, config, out, progress=False, seed=1)
    plan = workflows.resume_plan(out)
    workflows.train(
        plan.backend,
        None,
        None,
        dataclasses.replace(plan.config, nepochs=EPOCHS),
        None,
        progress=False,
        seed=plan.seed,
        execution=plan.execution,
        resume=plan.state,
    )
    root = out / "logs" / backend
    assert sorted(p.name for p in root.iterdir()) == ["version_0", "version_1"]
    header, rows = _read_csv(_version_dir(straight, backend) / "metrics.csv")
    first = _read_csv(root / "version_0" / "metrics.csv")
    second = _read_csv(root / "version_1" / "metrics.csv")
    assert first[0] == second[0] == header
    assert first[1] + second[1] == rows
    assert {r["epoch"] for r in second[1]} == {"1"}


@pytest.mark.slow
@pytest.mark.both
def test_both_backends_write_the_same_columns(trained: Callable[[str, str], Run]) -> None:
    headers = []
    for backend in ("tensorflow", "pytorch"):
        out, history = trained(backend, "csv")
        header, rows = _read_csv(_version_dir(out, backend) / "metrics.csv")
        assert len(rows) == len(history["steps"]["loss"]) + len(history["epochs"]["loss"])
        headers.append(header)
    assert headers[0] == headers[1]
    assert headers[0] == sorted(headers[0])
    assert {"epoch", "step", "loss", "lr", "loss_step"} <= set(headers[0])


# ----------------------------------------------------------------------------- settings


@pytest.mark.parametrize(("given", "kept"), [("csv", "csv"), ("tensorboard", "tensorboard")])
def test_logger_setting_accepts_the_loggers(given: str, kept: str) -> None:
    assert trainer_settings({"logger_backend": given}).logger == kept
    assert trainer_settings({"logger_backend": "none"}).logger is None
    assert trainer_settings(None).logger == "csv"
    for backend in ("tensorflow", "pytorch"):
        check_backend_settings(backend, {"logger_backend": given})


@pytest.mark.parametrize("value", ["mlflow", "wandb", "CSV-ish", ""])
def test_logger_setting_refuses_other_values(value: str) -> None:
    with pytest.raises(ValueError, match=r"run\.toml: logger_backend="):
        trainer_settings({"logger_backend": value}, source="run.toml")


def test_missing_tensorboard_package_is_named_before_training(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(training_log, "_installed", lambda package: False)
    with pytest.raises(ValueError, match=r"logger_backend='tensorboard' needs the 'tensorboard'"):
        check_backend_settings("pytorch", {"logger_backend": "tensorboard"})
    with pytest.raises(ValueError, match=r"pip install tensorboard"):
        workflows.train("pytorch", None, execution={"logger_backend": "tensorboard"})
    check_backend_settings("tensorflow", {"logger_backend": "tensorboard"})
    check_backend_settings("pytorch", {"logger_backend": "csv"})


def test_logger_option_of_the_train_command(
    stand_ins: dict[str, Any],  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from parity.cli import main

    monkeypatch.setattr(training_log, "_installed", lambda package: True)

    base = ["train", "--train-data", SMALL, "--no-progress", "--n-groups", "32", "--epochs", "1"]
    for backend in ("tensorflow", "pytorch"):
        for choice, expected in (("tensorboard", "tensorboard"), ("none", None), ("csv", "csv")):
            out = tmp_path / f"{backend}-{choice}"
            args = [*base, "--backend", backend, "--output-dir", str(out), "--logger", choice]
            assert main(args) == 0
            trained_with = stand_ins[backend].trained_with["execution"]
            assert trained_with == {"logger_backend": expected}
    same = ["--logger", "csv", "--exec", "logger_backend=csv"]
    assert main([*base, "--output-dir", str(tmp_path / "same"), *same]) == 0
    clash = ["--logger", "csv", "--exec", "logger_backend=none"]
    assert main([*base, "--output-dir", str(tmp_path / "clash"), *clash]) == 2
    assert "--logger csv and logger_backend=none disagree" in capsys.readouterr().err
    assert main([*base, "--output-dir", str(tmp_path / "bad"), "--logger", "mlflow"]) == 2
    assert "--logger: invalid choice: 'mlflow'" in capsys.readouterr().err


@pytest.mark.pytorch
def test_csv_writer_writes_what_lightning_writes(tmp_path: Path) -> None:
    pytest.importorskip("lightning")
    from lightning.pytorch.loggers import CSVLogger

    rows = [({"b": 0.1, "epoch": 0, "a": 2.5}, 0), ({"c": 1e-7, "epoch": 1}, 5), ({"a": 3.0}, 6)]
    ours = training_log.CsvMetricsLog(tmp_path / "ours")
    theirs = CSVLogger(save_dir=str(tmp_path), name="", version="theirs")
    for metrics, step in rows:
        ours.log_metrics(metrics, step=step)
        theirs.log_metrics(metrics, step=step)
    ours.close()
    theirs.finalize("success")
    expected = (tmp_path / "theirs" / "metrics.csv").read_bytes()
    assert (tmp_path / "ours" / "metrics.csv").read_bytes() == expected


def test_versions_count_up_per_backend(tmp_path: Path) -> None:
    first, n = training_log.run_log_dir(tmp_path, "tensorflow")
    assert (first, n) == (tmp_path / "logs" / "tensorflow" / "version_0", 0)
    (tmp_path / "logs" / "tensorflow" / "version_3").mkdir(parents=True)
    (tmp_path / "logs" / "tensorflow" / "version_x").mkdir()
    assert training_log.run_log_dir(tmp_path, "tensorflow")[1] == 4
    assert training_log.run_log_dir(tmp_path, "pytorch")[1] == 0
