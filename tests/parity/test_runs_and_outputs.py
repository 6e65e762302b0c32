"""Outputs and runs: options checked before work, unique atomic reports, exclusive output
directories, no partial files, bounded and parent-bound subprocesses."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from parity import engine
from parity.cli import main
from parity.errors import InputError
from parity.options import OutputClaim, check_formats, check_output_root, tolerance
from parity.publish import publish, sweep_abandoned, work_directory
from tests.parity.helpers import CAND, ORACLE, REF, fake_scenario


def _work(root: Path, marker: str) -> Path:
    work = root / f".same.partial-{marker}"
    work.mkdir(parents=True)
    (work / "report.json").write_text(marker)
    return work


def test_two_runs_in_the_same_second_both_publish(tmp_path: Path) -> None:
    first, second = _work(tmp_path, "1"), _work(tmp_path, "2")
    a = publish(first, tmp_path, "20260101T000000Z-smoke")
    b = publish(second, tmp_path, "20260101T000000Z-smoke")
    assert (a.name, b.name) == ("20260101T000000Z-smoke", "20260101T000000Z-smoke-1")
    assert (a / "report.json").read_text() == "1" and (b / "report.json").read_text() == "2"
    assert sorted(p.name for p in tmp_path.iterdir()) == [a.name, b.name]


def test_the_rename_decides_a_race(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Both runs saw the name free; the later rename fails and takes the next name."""
    taken = tmp_path / "name"
    taken.mkdir()
    (taken / "report.json").write_text("other run")
    monkeypatch.setattr(Path, "exists", lambda self: False)
    final = publish(_work(tmp_path, "mine"), tmp_path, "name")
    monkeypatch.undo()
    assert final.name == "name-1" and (final / "report.json").read_text() == "mine"
    assert (taken / "report.json").read_text() == "other run"


def test_two_engine_runs_forced_into_one_second(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(engine, "utc_stamp", lambda: "20260101T000000Z")
    sc = fake_scenario(checks=["params"])
    runs = [
        engine.run_scenario(sc, [REF, CAND], out_root=tmp_path, oracle=ORACLE, formats=["json"])
        for _ in range(2)
    ]
    dirs = [r.report_dir for r in runs]
    assert dirs[0] != dirs[1] and all((d / "report.json").is_file() for d in dirs)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(d.name for d in dirs)


def test_abandoned_work_and_temporaries_are_removed(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    host = re.sub(r"\W", "_", socket.gethostname())
    abandoned = _work(tmp_path, f"{host}-{dead.pid}")
    elsewhere = _work(tmp_path, f"otherhost-{dead.pid}")  # another machine's run: not ours
    mine = work_directory(tmp_path, "run")
    assert not abandoned.exists() and elsewhere.is_dir() and mine.is_dir()
    shutil.rmtree(elsewhere)
    (mine / "traces").mkdir()
    (mine / "traces" / ".0-tf.h5.4242.tmp").write_bytes(b"partial")
    (mine / "traces" / "0-tf.h5").write_bytes(b"complete")
    final = publish(mine, tmp_path, "run")
    assert sorted(p.name for p in (final / "traces").iterdir()) == ["0-tf.h5"]
    assert sweep_abandoned(tmp_path) == []


def test_options_refused_before_any_work(tmp_path: Path, capsys, monkeypatch) -> None:
    def no_work(*args, **kwargs):
        raise AssertionError("work started before the options were checked")

    monkeypatch.setattr(engine, "run_scenario", no_work)
    a_file = tmp_path / "file"
    a_file.write_text("x")
    cases = [
        (["run", "smoke", "--format", "pdf"], "unknown report format 'pdf'"),
        (["run", "smoke", "--backends", "tests.parity.fakes:absent"], "has no attribute 'absent'"),
        (["run", "smoke", "--out", str(a_file / "reports")], "is a file, not a directory"),
        (["run", "smoke", "--in-process", "--timeout", "5"], "drop one"),
        (["run", "smoke", "--isolate", "--timeout", "nan"], "must be finite"),
        (["convert-bundle", "b", "--to", "pytorch", "-o", "o", "--rtol", "nan"], "finite"),
        (["convert-bundle", "b", "--to", "pytorch", "-o", "o", "--rtol", "-1"], ">= 0"),
    ]
    for argv, message in cases:
        assert main(argv) == 2, argv
        assert message in capsys.readouterr().err, argv


@pytest.mark.parametrize("assignment", ["batch_size=3", "gridsize=0", "nphotons=-1", "N=100000"])
def test_diff_params_refuses_out_of_range_values(tmp_path, capsys, assignment) -> None:
    config = tmp_path / "c.toml"
    config.write_text("[model]\nN = 64\n")
    assert main(["diff-params", str(config), "--set", assignment]) == 2
    assert assignment.split("=")[0] in capsys.readouterr().err


def test_formats_and_tolerances() -> None:
    assert check_formats("json, md") == ["json", "md"] and check_formats(None) is None
    with pytest.raises(InputError, match="choose from json"):
        check_formats(",")
    assert tolerance("0") == 0.0 and tolerance("1e-4") == 1e-4


def test_output_claim_is_exclusive(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with OutputClaim(out, overwrite=False):
        (out / "wts.h5.zip").write_bytes(b"result")
        with pytest.raises(InputError, match="in use by another run"):
            OutputClaim(out, overwrite=True).__enter__()
    assert sorted(p.name for p in out.iterdir()) == ["wts.h5.zip"]  # the lock is gone
    with pytest.raises(InputError, match=r"already holds results; .* --overwrite"):
        OutputClaim(out, overwrite=False).__enter__()
    with OutputClaim(out, overwrite=True):
        pass
    (out / ".parity.lock").write_text("999999999")  # left by a killed run
    with OutputClaim(out, overwrite=True):
        assert (out / ".parity.lock").read_text() == str(os.getpid())
    with pytest.raises(InputError, match="is a file"):
        OutputClaim(out / "wts.h5.zip", overwrite=True).__enter__()
    with pytest.raises(InputError, match="is a file, not a directory"):
        check_output_root(out / "wts.h5.zip" / "below")


def test_a_failed_run_leaves_no_directory_it_created(tmp_path: Path) -> None:
    out = tmp_path / "new"
    with pytest.raises(KeyboardInterrupt), OutputClaim(out, overwrite=False):
        (out / "partial.h5").write_bytes(b"half")
        raise KeyboardInterrupt
    assert not out.exists()
    existing = tmp_path / "kept"
    existing.mkdir()
    with pytest.raises(RuntimeError), OutputClaim(existing, overwrite=False):
        raise RuntimeError
    assert existing.is_dir() and list(existing.iterdir()) == []


def test_train_refuses_an_output_dir_with_results(tmp_path: Path, capsys) -> None:
    out = tmp_path / "o"
    out.mkdir()
    (out / "history.json").write_text("{}")
    argv = ["train", "--train-data", "builtin:lines-64-small", "--output-dir", str(out)]
    assert main(argv) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (out / "history.json").read_text() == "{}"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal is Linux")
def test_backend_subprocess_dies_with_its_parent(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    parent = textwrap.dedent(
        f"""
        import subprocess, sys, time
        from backends.core.parallel import die_with_parent
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"],
                                 preexec_fn=die_with_parent)
        open({str(pid_file)!r}, "w").write(str(child.pid))
        time.sleep(60)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", parent], env=os.environ.copy())
    deadline = time.monotonic() + 30
    while not (pid_file.exists() and pid_file.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    child = int(pid_file.read_text())
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    with pytest.raises(ProcessLookupError):
        os.kill(child, 0)


def hanging() -> None:
    """A backend factory that never returns."""
    time.sleep(3600)


def test_isolated_backend_that_hangs_is_stopped(tmp_path: Path) -> None:
    sc = fake_scenario(checks=["params"])
    started = time.monotonic()
    with pytest.raises(subprocess.TimeoutExpired):
        engine.record_isolated(
            f"{__name__}:hanging", sc, tmp_path / "t.h5", reference=None, inject=[],
            oracle=None, workdir=tmp_path, bundle_dir=None, timeout=8,
        )  # fmt: skip
    assert time.monotonic() - started < 60
    assert not (tmp_path / "t.h5").exists()


def test_sections_after_training_see_the_initial_weights(tmp_path) -> None:
    """The training check steps the forward section's model in place (one model per recording,
    reloaded for each step list); the bundle and the inference that follow must still come from
    the initial weights: the same tensors as a recording without the training check."""
    import numpy as np

    from parity.record import record
    from parity.trace import Trace
    from tests.parity import fake_physics
    from tests.parity.helpers import REF, fake_scenario

    with_training = fake_scenario(checks=["forward", "training", "bundles", "inference"])
    without = fake_scenario(checks=["forward", "bundles", "inference"])
    a = record(REF, with_training, tmp_path / "a.h5", oracle=fake_physics)
    b = record(REF, without, tmp_path / "b.h5", oracle=fake_physics)
    with Trace(a) as ta, Trace(b) as tb:
        later = [(s, n) for s, n in tb.walk("") if s.split("/")[0] in ("bundles", "inference")]
        assert later
        for stage, name in later:
            np.testing.assert_array_equal(ta.get(stage, name), tb.get(stage, name))
        trained = dict(ta.walk("training/weights"))
        assert trained  # the training check did move weights
        stage, name = "training/weights", next(iter(trained.values()))
        assert not np.array_equal(ta.get(stage, name), ta.get("weights/initial", name))
