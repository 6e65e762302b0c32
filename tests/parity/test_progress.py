"""The progress display: plain timestamped lines off a terminal, a live display on one, never
anything on stdout."""

from __future__ import annotations

import io
import math
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from parity.progress import Progress, Silent

STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ train: ", re.MULTILINE)
REPO = Path(__file__).resolve().parents[2]


def _drive(progress: Any, epochs: int = 3, steps: int = 2) -> None:
    with progress:
        progress.stage("load data")
        progress.stage("train (pytorch)", total=epochs * steps)
        on_step = progress.training(epochs, steps)
        for i in range(epochs * steps):
            on_step(i, {"total": 1.0 / (1 + i)})
        progress.stage("save bundle")
        progress.finish("save bundle", "ok", 0.25)


def test_plain_lines_carry_stage_epoch_and_loss() -> None:
    out = io.StringIO()
    _drive(Progress("train", stream=out, live=False, interval=0))
    text = out.getvalue()
    lines = text.splitlines()
    assert lines and all(STAMP.match(line) for line in lines), text
    assert "train: stage load data" in text
    assert "train: stage train (pytorch) (6 steps)" in text
    # epoch 2 ran steps 2 and 3: mean loss (1/3 + 1/4) / 2
    assert any("step 4/6" in ln and "epoch 2/3" in ln and "loss 0.29167" in ln for ln in lines)
    assert any("step 6/6" in ln and "epoch 3/3" in ln and "eta 0:00" in ln for ln in lines)
    assert "train: ok save bundle (0.2 s)" in text or "train: ok save bundle (0.3 s)" in text


def test_plain_lines_are_periodic_not_per_step() -> None:
    """With a long interval only the stage changes and outcomes are written."""
    out = io.StringIO()
    _drive(Progress("train", stream=out, live=False, interval=3600), epochs=50, steps=4)
    lines = out.getvalue().splitlines()
    assert len(lines) == 4, lines
    assert not any("epoch" in ln for ln in lines)


def test_interval_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARITY_PROGRESS_INTERVAL", "2.5")
    assert Progress(stream=io.StringIO(), live=False).interval == 2.5
    monkeypatch.setenv("PARITY_PROGRESS_INTERVAL", "often")
    assert Progress(stream=io.StringIO(), live=False).interval == 10.0


def test_a_pipe_is_not_a_terminal() -> None:
    assert Progress(stream=io.StringIO()).live is False


def test_silent_has_the_same_api() -> None:
    _drive(Silent())
    assert Silent().training(2, 2)(0, {"total": 1.0}) is None


def test_steps_per_epoch_by_hand() -> None:
    """floor(0.95 G) training groups in batches of the batch size (last batch kept)."""
    from backends.training import steps_per_epoch

    assert steps_per_epoch(32, 16) == 2  # 30 groups
    assert steps_per_epoch(16, 16) == 1  # 15 groups
    assert steps_per_epoch(128, 16) == 8  # 121 groups: 7 full batches and one of 9
    assert steps_per_epoch(40, 2) == 19  # 38 groups


def test_epoch_and_advance_by_hand() -> None:
    out = io.StringIO()
    with Progress("sweep", stream=out, live=False, interval=0) as p:
        p.stage("points", total=4)
        p.advance(2, point="lr=1e-3")
        p.epoch(1, 5, loss=math.pi)
    text = out.getvalue()
    assert "step 2/4  point lr=1e-3" in text and "epoch 1/5  loss 3.1416" in text


SCRIPT = """
import sys
from parity.progress import Progress
with Progress("train") as p:
    p.stage("train (pytorch)", total=4)
    cb = p.training(2, 2)
    for i in range(4):
        cb(i, {"total": 0.5})
    p.finish("train (pytorch)", "ok", 1.0)
print("RESULT-ON-STDOUT")
"""


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pty")
def test_a_terminal_gets_the_live_display() -> None:
    import pty

    leader, follower = pty.openpty()
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "120"}
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT],
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=follower,
        env=env,
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    stdout, _ = proc.communicate(timeout=60)
    os.close(leader)
    terminal = b"".join(chunks).decode(errors="replace")
    assert proc.returncode == 0, terminal
    assert "\x1b[" in terminal  # cursor control of the live display
    assert "train (pytorch)" in terminal and "epoch 2/2" in terminal
    assert not STAMP.search(terminal)  # no plain log lines on a terminal
    assert stdout.decode().strip() == "RESULT-ON-STDOUT"


# ------------------------------------------------------------------ the commands


class SteppingBackend:
    """A stand-in backend that reports every optimiser step through ``on_step``."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def train(self, model: Any, train_data: Any, config: Any, **kwargs: Any) -> Any:
        from backends.training import steps_per_epoch

        on_step = kwargs.get("on_step")
        steps = steps_per_epoch(len(train_data), config.batch_size) * int(config.nepochs)
        for i in range(steps):
            if on_step is not None:
                on_step(i, {"total": 1.0 / (1 + i)})
        return self.inner.train(model, train_data, config, **kwargs)


@pytest.fixture
def stepping(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import backends
    from backends import workflows
    from tests.backends.test_workflows import FakeBackend

    monkeypatch.setenv("PTYCHOPINN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("PARITY_PROGRESS_INTERVAL", "0")
    made = {n: SteppingBackend(FakeBackend(n)) for n in ("tensorflow", "pytorch")}
    monkeypatch.setattr(workflows, "_backend", lambda name: made[name])
    monkeypatch.setattr(backends, "available", lambda: list(made))


def test_train_infer_convert_report_progress_on_stderr_only(
    stepping: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from parity.cli import main
    from tests.backends.test_workflows import SMALL

    model = tmp_path / "model"
    train = ["train", "--backend", "tensorflow", "--train-data", SMALL, "--n-groups", "32"]
    assert main([*train, "--epochs", "2", "--output-dir", str(model)]) == 0
    got = capsys.readouterr()
    assert "train: stage train (tensorflow)" in got.err
    assert re.search(r"train: train \(tensorflow\)  step \d+/\d+  epoch 2/2  loss ", got.err)
    assert "train: stage save bundle" in got.err
    assert not re.search(r"epoch \d+/|stage |eta ", got.out) and "epochs run" in got.out

    infer = ["infer", "--model", str(model), "--data", SMALL, "--output-dir", str(tmp_path / "i")]
    assert main(infer) == 0
    got = capsys.readouterr()
    assert "infer: stage load bundle" in got.err and "infer: stage infer (tensorflow" in got.err
    assert "stage" not in got.out

    convert = ["convert-bundle", str(model), "--to", "pytorch", "-o", str(tmp_path / "c")]
    assert main(convert) in (0, 1)
    got = capsys.readouterr()
    assert "convert-bundle: stage compare forward outputs" in got.err
    assert "stage" not in got.out

    assert (
        main([*train, "--epochs", "1", "--output-dir", str(tmp_path / "q"), "--no-progress"]) == 0
    )
    assert capsys.readouterr().err == ""
