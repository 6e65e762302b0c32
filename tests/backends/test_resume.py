"""Resume and warm start: 2 epochs straight equal 1 epoch, stop, resume to 2, bit for bit on
CPU with the same seed, for both backends; ``init_from`` starts from a bundle's weights."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from backends import workflows
from backends.core.checkpoint import CHECKPOINT_DIR, TrainingState
from tests.backends.test_workflows import (  # noqa: F401  (fixtures)
    SMALL,
    FakeBackend,
    data_cache,
    fakes,
    small_config,
)

# N=64, n_filters_scale=1 (the defaults), 16 groups in batches of 8: 2 Adam steps per epoch
TINY = {"n_groups": 16, "batch_size": 8}


def _bundle_weights(name: str, run: Path) -> dict[str, np.ndarray]:
    import backends

    backend = backends.get(name)
    model, _ = backend.load_bundle(run)
    return dict(backend.export_weights(model))


@pytest.mark.slow
@pytest.mark.parametrize(
    "name",
    [
        pytest.param("tensorflow", marks=pytest.mark.tensorflow),
        pytest.param("pytorch", marks=pytest.mark.pytorch),
    ],
)
@pytest.mark.usefixtures("data_cache")
def test_resume_equals_straight_run(name: str, tmp_path: Path) -> None:
    pytest.importorskip("tensorflow" if name == "tensorflow" else "lightning")
    straight, stopped = tmp_path / "straight", tmp_path / "stopped"
    workflows.train(
        name, SMALL, None, small_config(nepochs=2, **TINY), straight, progress=False, seed=3
    )
    workflows.train(
        name, SMALL, None, small_config(nepochs=1, **TINY), stopped, progress=False, seed=3
    )
    plan = workflows.resume_plan(stopped)
    assert (plan.backend, plan.seed, plan.state.epoch, plan.state.iterations) == (name, 3, 1, 2)
    outcome = workflows.train(
        plan.backend,
        None,
        None,
        dataclasses.replace(plan.config, nepochs=2),
        None,
        progress=False,
        seed=plan.seed,
        execution=plan.execution,
        resume=plan.state,
    )
    assert outcome.epochs_run == 2
    a, b = _bundle_weights(name, straight), _bundle_weights(name, stopped)
    assert set(a) == set(b)
    for key in a:
        assert np.array_equal(a[key], b[key]), key
    history = [json.loads((d / "history.json").read_text()) for d in (straight, stopped)]
    assert history[0]["epochs"] == history[1]["epochs"]
    assert history[0]["steps"] == history[1]["steps"]
    assert len(history[1]["steps"]["loss"]) == 4
    assert workflows.resume_plan(stopped).state.iterations == 4


@pytest.mark.usefixtures("fakes")
def test_init_from_starts_from_the_bundle_weights(tmp_path: Path) -> None:
    workflows.train("tensorflow", SMALL, None, small_config(), tmp_path / "a", progress=False)
    workflows.train(
        "pytorch",
        SMALL,
        None,
        small_config(),
        tmp_path / "b",
        progress=False,
        seed=9,
        init_from=tmp_path / "a",
        checkpoint_every=0,
    )
    source = workflows.bundle_weights(tmp_path / "a")
    warm = workflows.bundle_weights(tmp_path / "b")
    assert set(source) == set(warm)
    assert all(np.array_equal(source[k], warm[k]) for k in source)
    fake: FakeBackend = workflows._backend("pytorch")
    fresh = fake.export_weights(fake.build(small_config().model, np.ones((64, 64)), 1.0, seed=9))
    assert not all(np.array_equal(source[k], fresh[k]) for k in source)
    assert not (tmp_path / "b" / CHECKPOINT_DIR).exists()


@pytest.mark.usefixtures("fakes")
def test_resume_and_init_from_exclude_each_other(tmp_path: Path) -> None:
    from tests.backends.test_checkpoint_format import make_state

    with pytest.raises(ValueError, match="give one of them"):
        workflows.train(
            "pytorch",
            SMALL,
            None,
            small_config(),
            tmp_path,
            resume=make_state(),
            init_from=tmp_path,
        )


@pytest.mark.usefixtures("fakes")
def test_resume_needs_enough_epochs(tmp_path: Path) -> None:
    from tests.backends.test_checkpoint_format import make_state

    with pytest.raises(ValueError, match="give --epochs 4 or more"):
        workflows.train(
            "pytorch", SMALL, None, small_config(nepochs=2), tmp_path, resume=make_state(epoch=4)
        )


@pytest.mark.slow
@pytest.mark.pytorch
@pytest.mark.usefixtures("data_cache")
def test_interrupted_command_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``parity train`` failing after the first epoch's checkpoint (a full disk) keeps the
    directory;
    ``--resume`` finishes it with the straight run's weights; Lightning writes no .ckpt."""
    pytest.importorskip("lightning")
    from backends.core.checkpoint import EveryNEpochs
    from parity.cli import main

    def train(out: Path) -> int:
        options = f"--n-groups 16 --batch-size 8 --epochs 2 --no-progress --output-dir {out}"
        return main(["train", "--backend", "pytorch", "--train-data", SMALL, *options.split()])

    assert train(tmp_path / "straight") == 0
    save = EveryNEpochs.save

    def save_then_stop(self: EveryNEpochs, state: TrainingState) -> None:
        save(self, state)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(EveryNEpochs, "save", save_then_stop)
    run = tmp_path / "interrupted"
    assert train(run) == 2
    monkeypatch.setattr(EveryNEpochs, "save", save)
    assert workflows.resume_plan(run).state.epoch == 1
    capsys.readouterr()
    assert train(run) == 2
    assert f"--resume {run}" in capsys.readouterr().err
    assert main(["train", "--resume", str(run), "--no-progress"]) == 0
    a, b = _bundle_weights("pytorch", tmp_path / "straight"), _bundle_weights("pytorch", run)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not list(tmp_path.rglob("*.ckpt"))
