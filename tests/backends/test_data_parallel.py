"""Data-parallel training (``devices`` > 1): the shard rule, the worker protocol, the settings
both backends refuse, and end to end per backend: N workers train as one worker does (to float32
reordering), and an interrupted N-worker run resumes bit for bit."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from backends import workflows
from backends.config.execution import execution_values, trainer_settings
from backends.core import parallel
from tests.backends.test_workflows import (  # noqa: F401  (fixtures)
    SMALL,
    data_cache,
    small_config,
)

# 18 groups: 17 train in batches of 8 (8, 8, 1): the last batch leaves worker 1 without a row
ODD = {"n_groups": 18, "batch_size": 8}

BACKENDS = [
    pytest.param("tensorflow", marks=pytest.mark.tensorflow),
    pytest.param("pytorch", marks=pytest.mark.pytorch),
]


# ----------------------------------------------------------------------------- shards


@given(batch=st.integers(1, 300), workers=st.integers(1, 9))
def test_shards_partition_the_batch_in_order(batch: int, workers: int) -> None:
    parts = parallel.shards(batch, workers)
    assert len(parts) == workers
    counted = [p for p in parts if p.size]
    rows = np.concatenate([p.rows for p in counted])
    assert np.array_equal(rows, np.arange(batch))
    assert sum(p.size for p in parts) == batch
    assert abs(sum(p.share for p in parts) - 1.0) < 1e-12
    for p in parts:
        assert p.share == pytest.approx(p.size / batch)
        if p.size == 0:  # an empty shard still computes one row, with weight 0
            assert len(p.rows) == 1 and p.share == 0.0
    sizes = [p.size for p in parts]
    assert max(sizes) - min(sizes) <= 1


def test_shards_refuse_nonsense() -> None:
    with pytest.raises(ValueError, match="workers"):
        parallel.shards(4, 0)
    with pytest.raises(ValueError, match="batch_size"):
        parallel.shards(0, 2)


# ----------------------------------------------------------------------------- settings


def test_devices_is_an_execution_setting() -> None:
    assert trainer_settings({"devices": "3"}, from_text=True) == dataclasses.replace(
        trainer_settings(None), devices=3
    )
    assert trainer_settings(None).devices == 1
    with pytest.raises(ValueError, match="devices"):
        execution_values({"devices": 0})


@pytest.mark.parametrize(
    ("key", "value", "neutral"), [("gradient_clip_val", 0.5, None), ("accum_steps", 2, 1)]
)
def test_data_parallel_refuses_clipping_and_accumulation(
    key: str, value: object, neutral: object
) -> None:
    with pytest.raises(ValueError, match=rf"{key}=.* cannot be combined with devices=2"):
        execution_values({"devices": 2, key: value})
    assert execution_values({"devices": 1, key: value})[key] == value
    assert execution_values({"devices": 2, key: neutral})[key] == neutral


# ----------------------------------------------------------------------------- protocol


@pytest.mark.usefixtures("data_cache")
def test_job_round_trip_keeps_config_weights_and_data(tmp_path: Path) -> None:
    from backends.config.io import config_to_dict
    from backends.data import load_training_data

    config = small_config(**ODD)
    container, _ = load_training_data(dataclasses.replace(config, train_data_file=SMALL))
    arrays, info = parallel.container_arrays(container)
    weights = {"enc1.conv1.kernel": np.arange(6, dtype=np.float32).reshape(1, 2, 3)}
    job = parallel.Job(
        backend="pytorch",
        workers=2,
        mode="fit",
        model=config_to_dict(config.model),
        training=config_to_dict(config),
        intensity_scale=2.5,
        seed=4,
        execution={"learning_rate": 5e-4},
        data_info=info,
        arrays={"probe": container.probe, "w/enc1.conv1.kernel": weights["enc1.conv1.kernel"]}
        | arrays,
    )
    parallel.write_job(tmp_path, job)
    back = parallel.read_job(tmp_path)
    assert back.training_config() == config
    assert back.execution == {"learning_rate": 5e-4} and back.seed == 4
    assert np.array_equal(back.weights()["enc1.conv1.kernel"], weights["enc1.conv1.kernel"])
    rebuilt = back.container()
    for name in ("X", "Y", "Y_I", "coords_nominal", "global_offsets", "probe"):
        assert np.array_equal(getattr(rebuilt, name), getattr(container, name)), name
    assert (rebuilt.nphotons, rebuilt.norm_Y_I) == (container.nphotons, container.norm_Y_I)


def test_progress_lines_are_read_once_and_only_when_complete(tmp_path: Path) -> None:
    seen: list[tuple[int, float]] = []
    reader = parallel._ProgressReader(
        tmp_path / parallel.PROGRESS, lambda i, t: seen.append((i, t["total"]))
    )
    reader.poll()  # no file yet
    parallel.ProgressWriter(tmp_path)(0, {"total": 1.5})
    with open(tmp_path / parallel.PROGRESS, "a", encoding="utf-8") as handle:
        handle.write('{"step": 1, "terms": {"tot')  # a line being written
    reader.poll()
    assert seen == [(0, 1.5)]
    with open(tmp_path / parallel.PROGRESS, "a", encoding="utf-8") as handle:
        handle.write('al": 2.5}}\n')
    reader.poll()
    reader.poll()
    assert seen == [(0, 1.5), (1, 2.5)]


@pytest.mark.pytorch
def test_a_failing_worker_is_reported_with_its_log(tmp_path: Path) -> None:
    """A worker that cannot start its job stops the run with the end of its log."""
    pytest.importorskip("lightning")
    from backends.config import ModelConfig, TrainingConfig
    from backends.config.io import config_to_dict

    config = TrainingConfig(model=ModelConfig())
    job = parallel.Job(
        backend="pytorch",
        workers=2,
        mode="steps",
        model=config_to_dict(config.model),
        training=config_to_dict(config),
        intensity_scale=1.0,
        arrays={},  # no probe: the workers fail reading the job
    )
    with pytest.raises(parallel.WorkerError, match=r"worker \d of 2 \(pytorch\)[\s\S]*KeyError"):
        parallel.run_job(job)


def test_worker_modules_exist_for_every_backend() -> None:
    import backends

    assert set(parallel.WORKER_MODULES) == set(backends.BACKEND_NAMES)
    for module in parallel.WORKER_MODULES.values():
        path = Path(__file__).resolve().parents[2] / (module.replace(".", "/") + ".py")
        assert path.is_file(), module


# ----------------------------------------------------------------------------- end to end


def _history(run: Path) -> dict:
    return json.loads((run / "history.json").read_text())


def _bundle_weights(name: str, run: Path) -> dict[str, np.ndarray]:
    import backends

    backend = backends.get(name)
    model, _ = backend.load_bundle(run)
    return dict(backend.export_weights(model))


@pytest.mark.slow
@pytest.mark.parametrize("name", BACKENDS)
@pytest.mark.usefixtures("data_cache")
def test_two_workers_train_as_one_and_resume_bit_for_bit(name: str, tmp_path: Path) -> None:
    """The first steps of a 2-worker run (global batch 8, shards 4 + 4, and 1 + 0 in the last
    batch) follow the 1-worker run to the per-step loss tolerance of the data_parallel
    family; 2 epochs straight on 2 workers equal 1 epoch, stop, resume to 2 on 2 workers, bit
    for bit."""
    pytest.importorskip("tensorflow" if name == "tensorflow" else "lightning")
    from parity.tolerances import Registry

    rtol = Registry.load().lookup("data_parallel", "loss").rtol
    two = {"devices": 2}
    one_run, straight, stopped = tmp_path / "one", tmp_path / "straight", tmp_path / "stopped"
    workflows.train(name, SMALL, None, small_config(nepochs=1, **ODD), one_run, seed=3)
    workflows.train(
        name, SMALL, None, small_config(nepochs=2, **ODD), straight, seed=3, execution=two
    )
    one, many = _history(one_run), _history(straight)
    assert many["execution"] == {"devices": 2}
    steps = 3  # the first epoch: batches of 8, 8 and 1 group(s)
    a = np.asarray(many["steps"]["loss"][:steps])
    b = np.asarray(one["steps"]["loss"][:steps])
    assert len(many["steps"]["loss"]) == 2 * steps
    np.testing.assert_allclose(a, b, rtol=rtol, atol=0)
    # worker 0 writes the training log (csv by default) with the whole batches' losses
    import pandas as pd

    from backends.core.training_log import METRICS_CSV, backend_log_dir

    log = pd.read_csv(backend_log_dir(straight, name) / "version_0" / METRICS_CSV)
    logged = log["loss_step"].dropna().to_numpy()
    np.testing.assert_array_equal(logged, np.asarray(many["steps"]["loss"]))

    workflows.train(
        name, SMALL, None, small_config(nepochs=1, **ODD), stopped, seed=3, execution=two
    )
    plan = workflows.resume_plan(stopped)
    assert plan.execution == {"devices": 2} and plan.state.epoch == 1
    workflows.train(
        plan.backend,
        None,
        None,
        dataclasses.replace(plan.config, nepochs=2),
        None,
        seed=plan.seed,
        execution=plan.execution,
        resume=plan.state,
    )
    assert _history(stopped)["steps"] == many["steps"]
    assert _history(stopped)["epochs"] == many["epochs"]
    x, y = _bundle_weights(name, straight), _bundle_weights(name, stopped)
    for key in x:
        assert np.array_equal(x[key], y[key]), key


def test_data_parallel_refuses_a_gpu_placed_backend() -> None:
    class OnGpu:
        name = "pytorch"
        device = "gpu"  # as the backends' ``device`` property reports it

    with pytest.raises(ValueError, match=r"devices=2\) runs its workers on the CPU.*--device cpu"):
        parallel.train_steps_with_workers(OnGpu(), None, [], None, 1e-3, 2)


@pytest.mark.pytorch
def test_a_real_backend_on_the_cpu_passes_the_device_check() -> None:
    pytest.importorskip("lightning")
    import backends

    backend = backends.get("pytorch")
    assert backend.device == "cpu"
    parallel._check_cpu(backend, 2)  # no error
    previous = backend.device
    try:
        backend.use_device("gpu", gpu_count=1)  # resolution only: pretends a GPU is visible
        with pytest.raises(ValueError, match="runs its workers on the CPU"):
            parallel._check_cpu(backend, 2)
    finally:
        backend.use_device(previous)
