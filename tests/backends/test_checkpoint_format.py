"""The checkpoint format: a lossless round trip, and a clear error for every damaged or foreign
checkpoint (NumPy only; no framework needed)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from backends.core import checkpoint as ck
from backends.core.checkpoint import CHECKPOINT_DIR, STATE_JSON, TrainingState


def make_state(seed: int = 0, epoch: int = 1) -> TrainingState:
    rng = np.random.default_rng(seed)
    shapes = {"enc1.conv1.kernel": (3, 3, 1, 4), "enc1.conv1.bias": (4,)}
    draw = {n: rng.standard_normal(s).astype(np.float32) for n, s in shapes.items()}
    return TrainingState(
        epoch=epoch,
        iterations=3 * epoch,
        learning_rate=5e-4,
        plateau={"best": math.inf, "wait": 1.0, "cooldown_counter": 0.0},
        early_stopping={"best": -2.5, "wait": 0.0, "epoch": float(epoch - 1)},
        history={"loss": [1.0] * epoch, "val_loss": [], "lr": [1e-3] * epoch},
        step_loss=[0.5, 0.25, float("nan")],
        stopped_epoch=None,
        weights=draw,
        m={n: w * 0.5 for n, w in draw.items()},
        v={n: w * w for n, w in draw.items()},
        run={"backend": "pytorch", "seed": 7},
    )


@given(seed=st.integers(0, 2**32 - 1), epoch=st.integers(1, 500))
def test_round_trip_is_exact(
    tmp_path_factory: pytest.TempPathFactory, seed: int, epoch: int
) -> None:
    out = tmp_path_factory.mktemp("ck")
    state = make_state(seed, epoch)
    ck.save_checkpoint(out, state)
    back = ck.load_checkpoint(out)
    for kind in ("weights", "m", "v"):
        a, b = getattr(state, kind), getattr(back, kind)
        assert set(a) == set(b)
        for name in a:
            assert b[name].dtype == np.float32 and np.array_equal(a[name], b[name])
    assert (back.epoch, back.iterations, back.learning_rate) == (epoch, 3 * epoch, 5e-4)
    assert back.plateau == state.plateau and back.early_stopping == state.early_stopping
    assert back.history == state.history and back.run == state.run
    assert back.step_loss[:2] == [0.5, 0.25] and math.isnan(back.step_loss[2])


def test_only_the_latest_arrays_file_is_kept(tmp_path: Path) -> None:
    ck.save_checkpoint(tmp_path, make_state(epoch=1))
    ck.save_checkpoint(tmp_path, make_state(epoch=2))
    names = sorted(p.name for p in (tmp_path / CHECKPOINT_DIR).iterdir())
    assert names == ["arrays-epoch0002.npz", STATE_JSON]
    assert ck.load_checkpoint(tmp_path).epoch == 2


@pytest.mark.parametrize(
    ("every", "expected"),
    [(1, [1, 2, 3, 4, 5]), (2, [2, 4, 5]), (0, [])],
)
def test_every_n_epochs_and_the_last(tmp_path: Path, every: int, expected: list[int]) -> None:
    hook = ck.EveryNEpochs(tmp_path, every, {"backend": "tensorflow"})
    assert [e for e in range(1, 6) if hook.due(e, final=e == 5)] == expected


def _state_doc(root: Path) -> dict:
    return json.loads((root / CHECKPOINT_DIR / STATE_JSON).read_text())


def _corrupt(root: Path, how: str) -> None:
    state_path = root / CHECKPOINT_DIR / STATE_JSON
    doc = _state_doc(root)
    arrays = root / CHECKPOINT_DIR / doc["arrays"]["file"]
    if how == "arrays truncated":
        arrays.write_bytes(arrays.read_bytes()[:100])
    elif how == "arrays missing":
        arrays.unlink()
    elif how == "state not json":
        state_path.write_text("{ not json")
    elif how == "foreign format":
        doc["format"] = "something-else"
        state_path.write_text(json.dumps(doc))
    elif how == "future version":
        doc["version"] = 99
        state_path.write_text(json.dumps(doc))
    elif how == "arrays path escapes":
        doc["arrays"]["file"] = "../elsewhere.npz"
        state_path.write_text(json.dumps(doc))
    elif how == "counter missing":
        del doc["plateau"]["wait"]
        state_path.write_text(json.dumps(doc))
    elif how == "pickled array":
        import hashlib
        import io

        buf = io.BytesIO()
        np.savez(buf, **{"w/x": np.array([{"a": 1}], dtype=object)})
        arrays.write_bytes(buf.getvalue())
        doc["arrays"]["sha256"] = hashlib.sha256(buf.getvalue()).hexdigest()
        state_path.write_text(json.dumps(doc))
    else:  # pragma: no cover
        raise AssertionError(how)


CORRUPTIONS = [
    ("arrays truncated", "SHA-256"),
    ("arrays missing", "missing"),
    ("state not json", "not valid JSON"),
    ("foreign format", "not a ptychopinn-parity-checkpoint"),
    ("future version", "version 99"),
    ("arrays path escapes", "plain .npz file name"),
    ("counter missing", "'plateau'"),
    ("pickled array", "not a readable NumPy archive"),
]


@pytest.mark.parametrize(("how", "says"), CORRUPTIONS)
def test_damaged_checkpoint_is_named(tmp_path: Path, how: str, says: str) -> None:
    ck.save_checkpoint(tmp_path, make_state())
    _corrupt(tmp_path, how)
    with pytest.raises(ck.CheckpointError, match=None) as info:
        ck.load_checkpoint(tmp_path)
    assert says in str(info.value)
    assert str(tmp_path / CHECKPOINT_DIR) in str(info.value)


def test_no_checkpoint(tmp_path: Path) -> None:
    with pytest.raises(ck.CheckpointError, match="no checkpoint to resume from"):
        ck.load_checkpoint(tmp_path)


@pytest.mark.parametrize(("how", "says"), CORRUPTIONS[:3])
def test_resume_command_exits_2_on_damage(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], how: str, says: str
) -> None:
    from parity.cli import main

    ck.save_checkpoint(tmp_path, make_state())
    _corrupt(tmp_path, how)
    assert main(["train", "--resume", str(tmp_path), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert says in err and "Traceback" not in err


def test_resume_refuses_changed_settings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from parity.cli import main

    ck.save_checkpoint(tmp_path, make_state())
    assert main(["train", "--resume", str(tmp_path), "--seed", "3", "--batch-size", "8"]) == 2
    err = capsys.readouterr().err
    assert "--seed" in err and "batch_size" in err and "only --epochs may change" in err
