"""Data-parallel training in worker processes, the same protocol for both backends.

``devices = N > 1`` trains on N workers that start from identical weights. Every optimiser step
takes one global batch of B groups (the batch a one-worker run takes), splits it into N
consecutive shards (:func:`shards`), and each worker computes the loss terms of its shard. The
gradients are combined so that the step applies the gradient of the global batch mean:

* PyTorch (Lightning DDP, N processes, the ``gloo`` process group on the CPU) *averages* the
  workers' gradients, so worker r scales its shard-mean loss by ``N * n_r / B``;
* TensorFlow (``tf.distribute.MirroredStrategy`` over N logical devices in one process) *sums*
  the replicas' gradients, so replica r scales by ``n_r / B``.

A worker whose shard is empty (a last batch smaller than N) computes the loss of one row with
weight 0, so every worker takes part in every collective. Validation runs on every worker over
the whole validation part, so the plateau and early-stopping decisions agree everywhere.

The parent process and the workers exchange files in a private temporary directory: the job
(``job.json`` and ``job.npz``: configuration, initial weights, data or batches, and the resume
state in the checkpoint format of :mod:`backends.core.checkpoint`), the progress of worker 0
(``progress.jsonl``, one line per optimiser step) and its result (``result.json``,
``result.npz``). Nothing is pickled; arrays are read with ``allow_pickle=False``.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from backends.core.files import write_bytes_atomic, write_text_atomic

__all__ = [
    "JOB_JSON",
    "WORKER_MODULES",
    "Job",
    "Shard",
    "WorkerError",
    "die_with_parent",
    "read_job",
    "run_job",
    "shards",
    "steps_result",
    "train_steps_with_workers",
    "train_with_workers",
    "write_result",
]

JOB_JSON = "job.json"
JOB_NPZ = "job.npz"
RESULT_JSON = "result.json"
RESULT_NPZ = "result.npz"
PROGRESS = "progress.jsonl"
RESUME_DIR = "resume"
FORMAT = "ptychopinn-parity-data-parallel-job"
WORKER_MODULES = {
    "pytorch": "backends.pytorch.parallel",
    "tensorflow": "backends.tensorflow.parallel",
}
"""The module each backend's workers run (``python -m MODULE JOB_DIR [RANK]``)."""


class WorkerError(RuntimeError):
    """A data-parallel worker failed; the message holds the end of its log."""


@dataclass(frozen=True)
class Shard:
    """The rows of a global batch one worker computes, and the weight of its loss: the
    shard's share ``n_r / B`` of the batch (0 for an empty shard, which computes row 0)."""

    rows: np.ndarray
    share: float

    @property
    def size(self) -> int:
        """Groups that count (0 for an empty shard)."""
        return 0 if self.share == 0.0 else len(self.rows)


def shards(batch_size: int, workers: int) -> list[Shard]:
    """Consecutive shards of a global batch of ``batch_size`` rows over ``workers`` workers:
    the first ``batch_size % workers`` shards one row longer (``numpy.array_split``)."""
    if workers <= 0:
        raise ValueError(f"workers={workers!r} must be > 0")
    if batch_size <= 0:
        raise ValueError(f"batch_size={batch_size!r} must be > 0")
    out = []
    for rows in np.array_split(np.arange(batch_size, dtype=np.int64), workers):
        if len(rows) == 0:
            out.append(Shard(np.zeros(1, np.int64), 0.0))
        else:
            out.append(Shard(rows, len(rows) / batch_size))
    return out


@dataclass
class Job:
    """What the workers of one data-parallel run need.

    ``mode`` is ``"steps"`` (one optimiser step per given batch, in order, from a fresh
    optimiser: the harness's training check) or ``"fit"`` (full training on ``data``).
    ``arrays`` holds the probe (``probe``), the initial weights (``w/<name>``), the batches
    (``batch<i>/X``, ``batch<i>/positions``, ``batch<i>/Y_I``) or the data container
    (``data/<field>``).
    """

    backend: str
    workers: int
    mode: str
    model: dict[str, Any]
    training: dict[str, Any]
    intensity_scale: float
    seed: int = 0
    epochs: int | None = None
    learning_rate: float = 1e-3
    execution: dict[str, Any] = field(default_factory=dict)
    checkpoint: dict[str, Any] | None = None
    data_info: dict[str, Any] = field(default_factory=dict)
    resume: bool = False
    arrays: dict[str, np.ndarray] = field(default_factory=dict)

    # ---- views the workers use
    def weights(self) -> dict[str, np.ndarray]:
        """The initial weights by canonical name."""
        return {k[2:]: v for k, v in self.arrays.items() if k.startswith("w/")}

    def batches(self) -> list[Any]:
        """The batches of a ``steps`` job, in order (:class:`backends.base.Batch`)."""
        from backends.base import Batch

        return [
            Batch(
                X=self.arrays[f"batch{i}/X"],
                positions=self.arrays[f"batch{i}/positions"],
                Y_I=self.arrays.get(f"batch{i}/Y_I"),
            )
            for i in range(int(self.data_info.get("batches", 0)))
        ]

    def training_config(self) -> Any:
        """The training config, its ``model`` the configuration the model was built with."""
        from backends.config.io import config_from_dict

        data = {**self.training, "model": self.model}
        return config_from_dict(data, kind="training", source=JOB_JSON, validate=False)

    def checkpoint_hook(self) -> Any:
        """The checkpoint hook worker 0 calls (None: no checkpoints)."""
        if self.checkpoint is None:
            return None
        from backends.core.checkpoint import EveryNEpochs

        c = self.checkpoint
        return EveryNEpochs(Path(c["output_dir"]), int(c["every"]), dict(c["run"]))

    def resume_state(self, directory: Path | str) -> Any:
        """The training state to continue from (None: a new run)."""
        if not self.resume:
            return None
        from backends.core.checkpoint import load_checkpoint

        return load_checkpoint(resume_dir(directory))

    def container(self) -> Any:
        """The data container of a ``fit`` job (:class:`backends.data.PtychoData`)."""
        from backends.data import PtychoData
        from backends.data.container import ARRAY_FIELDS

        values: dict[str, Any] = {f: self.arrays[f"data/{f}"] for f in ARRAY_FIELDS}
        values["norm_Y_I"] = np.float32(self.data_info["norm_Y_I"])
        values["nphotons"] = float(self.data_info["nphotons"])
        values["has_ground_truth"] = bool(self.data_info["has_ground_truth"])
        return PtychoData(**values)


def container_arrays(container: Any) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The arrays and scalars of a data container that training reads (:meth:`Job.container`)."""
    from backends.data.container import ARRAY_FIELDS

    arrays = {f"data/{f}": np.asarray(getattr(container, f)) for f in ARRAY_FIELDS}
    info = {
        "norm_Y_I": float(container.norm_Y_I),
        "nphotons": float(container.nphotons),
        "has_ground_truth": bool(container.has_ground_truth),
    }
    return arrays, info


def batch_arrays(batches: Sequence[Any]) -> dict[str, np.ndarray]:
    """``batch<i>/<name>`` arrays of :class:`backends.base.Batch` objects."""
    out: dict[str, np.ndarray] = {}
    for i, b in enumerate(batches):
        out[f"batch{i}/X"] = np.asarray(b.X, np.float32)
        out[f"batch{i}/positions"] = np.asarray(b.positions, np.float32)
        if b.Y_I is not None:
            out[f"batch{i}/Y_I"] = np.asarray(b.Y_I, np.float32)
    return out


# ----------------------------------------------------------------------------- files


def _npz_bytes(arrays: Mapping[str, np.ndarray]) -> bytes:
    import io

    buf = io.BytesIO()
    np.savez(buf, **{k: np.ascontiguousarray(v) for k, v in arrays.items()})  # type: ignore[arg-type]
    return buf.getvalue()


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def write_job(directory: Path, job: Job) -> None:
    """``job.json`` and ``job.npz`` in ``directory``."""
    doc = {k: v for k, v in job.__dict__.items() if k != "arrays"}
    doc["format"] = FORMAT
    write_bytes_atomic(directory / JOB_NPZ, _npz_bytes(job.arrays))
    write_text_atomic(directory / JOB_JSON, json.dumps(doc, indent=1))


def read_job(directory: Path | str) -> Job:
    """The job a parent process wrote into ``directory``."""
    directory = Path(directory)
    doc = json.loads((directory / JOB_JSON).read_text(encoding="utf-8"))
    if doc.pop("format", None) != FORMAT:
        raise ValueError(f"{directory / JOB_JSON}: not a {FORMAT} file")
    return Job(**doc, arrays=_read_npz(directory / JOB_NPZ))


def resume_dir(directory: Path | str) -> Path:
    """Where a job keeps the training state it resumes from (a checkpoint's parent)."""
    return Path(directory) / RESUME_DIR


def steps_result(
    step_terms: Sequence[Mapping[str, float]], weights: Mapping[str, np.ndarray]
) -> Any:
    """The :class:`backends.base.TrainResult` of a ``steps`` job: the loss terms of every step
    and the weights after the last."""
    from backends.base import TrainResult

    terms = [dict(t) for t in step_terms]
    return TrainResult(
        history={},
        step_loss=[t["total"] for t in terms],
        weights=dict(weights),
        step_terms=terms,
    )


def write_result(directory: Path | str, result: Any) -> None:
    """Worker 0 writes its outcome, a :class:`backends.base.TrainResult` (``result.npz``
    first, then ``result.json``)."""
    directory = Path(directory)
    write_bytes_atomic(directory / RESULT_NPZ, _npz_bytes(dict(result.weights)))
    doc = {
        "history": {k: [float(x) for x in v] for k, v in result.history.items()},
        "step_loss": [float(x) for x in result.step_loss],
        "step_terms": [{k: float(x) for k, x in t.items()} for t in result.step_terms],
        "stopped_epoch": result.stopped_epoch,
        "seconds": float(result.seconds),
    }
    write_text_atomic(directory / RESULT_JSON, json.dumps(doc))


def _read_result(directory: Path) -> Any:
    from backends.base import TrainResult

    doc = json.loads((directory / RESULT_JSON).read_text(encoding="utf-8"))
    return TrainResult(
        weights=_read_npz(directory / RESULT_NPZ),
        history={k: list(v) for k, v in doc["history"].items()},
        step_loss=list(doc["step_loss"]),
        step_terms=list(doc["step_terms"]),
        stopped_epoch=doc["stopped_epoch"],
        seconds=float(doc["seconds"]),
    )


class ProgressWriter:
    """Worker 0's ``on_step``: one JSON line per optimiser step, flushed at once."""

    def __init__(self, directory: Path | str) -> None:
        self.path = Path(directory) / PROGRESS

    def __call__(self, step: int, terms: Mapping[str, float]) -> None:
        line = json.dumps({"step": int(step), "terms": {k: float(v) for k, v in terms.items()}})
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")
            handle.flush()


class _ProgressReader:
    def __init__(self, path: Path, on_step: Callable[[int, Mapping[str, float]], None]) -> None:
        self.path = path
        self.on_step = on_step
        self.offset = 0

    def poll(self) -> None:
        if not self.path.is_file():
            return
        with open(self.path, encoding="utf-8") as handle:
            handle.seek(self.offset)
            while True:
                line = handle.readline()
                if not line.endswith("\n"):
                    break
                self.offset = handle.tell()
                entry = json.loads(line)
                self.on_step(int(entry["step"]), entry["terms"])


# ----------------------------------------------------------------------------- launching


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _worker_env(workers: int) -> dict[str, str]:
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    threads = max(1, (os.cpu_count() or 1) // workers)
    env.setdefault("OMP_NUM_THREADS", str(threads))
    env["PTYCHOPINN_WORKER_THREADS"] = str(threads)
    return env


def _commands(job: Job, directory: Path) -> list[tuple[list[str], dict[str, str]]]:
    module = WORKER_MODULES.get(job.backend)
    if module is None:
        raise ValueError(f"no data-parallel workers for backend {job.backend!r}")
    env = _worker_env(job.workers)
    if job.backend == "tensorflow":
        return [([sys.executable, "-m", module, str(directory)], env)]
    port = str(_free_port())
    out = []
    for rank in range(job.workers):
        rank_env = dict(env)
        rank_env.update(
            MASTER_ADDR="127.0.0.1",
            MASTER_PORT=port,
            WORLD_SIZE=str(job.workers),
            NODE_RANK="0",
            LOCAL_RANK=str(rank),
            GLOBAL_RANK=str(rank),
        )
        out.append(([sys.executable, "-m", module, str(directory), str(rank)], rank_env))
    return out


def die_with_parent() -> None:
    """In a child before ``exec``: be killed when the parent dies, even by SIGKILL (Linux)."""
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


def _tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.strip().splitlines()[-lines:])


def run_job(
    job: Job,
    *,
    on_step: Callable[[int, Mapping[str, float]], None] | None = None,
    resume_state: Any = None,
    poll_seconds: float = 0.2,
) -> Any:
    """Run ``job`` in its worker processes and return worker 0's result (a
    :class:`backends.base.TrainResult`).

    ``on_step`` receives worker 0's steps as they happen; ``resume_state`` (a
    :class:`backends.core.checkpoint.TrainingState`) is handed to the workers in the checkpoint
    format. A failing worker stops the others and raises :class:`WorkerError` with the end of
    its log.
    """
    directory = Path(tempfile.mkdtemp(prefix="ptychopinn-workers-"))
    procs: list[tuple[subprocess.Popen[bytes], Path]] = []
    try:
        if resume_state is not None:
            from backends.core.checkpoint import save_checkpoint

            save_checkpoint(resume_dir(directory), resume_state)
            job.resume = True
        write_job(directory, job)
        for i, (cmd, env) in enumerate(_commands(job, directory)):
            log = directory / f"worker-{i}.log"
            with open(log, "wb") as handle:
                proc = subprocess.Popen(
                    cmd,
                    env=env,
                    stdout=handle,
                    stderr=subprocess.STDOUT,
                    preexec_fn=die_with_parent,
                )
                procs.append((proc, log))
        reader = _ProgressReader(directory / PROGRESS, on_step) if on_step else None
        while True:
            if reader is not None:
                reader.poll()
            codes = [p.poll() for p, _ in procs]
            failed = [(i, c) for i, c in enumerate(codes) if c not in (None, 0)]
            if failed:
                rank, code = failed[0]
                raise WorkerError(
                    f"data-parallel worker {rank} of {job.workers} ({job.backend}) exited with "
                    f"status {code}; the end of its log:\n{_tail(procs[rank][1])}"
                )
            if all(c == 0 for c in codes):
                break
            time.sleep(poll_seconds)
        if reader is not None:
            reader.poll()
        if not (directory / RESULT_JSON).is_file():
            raise WorkerError(
                f"the {job.backend} data-parallel workers finished without a result; the end of "
                f"worker 0's log:\n{_tail(procs[0][1])}"
            )
        return _read_result(directory)
    finally:
        for proc, _ in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        shutil.rmtree(directory, ignore_errors=True)


def _check_cpu(backend: Any, workers: int) -> None:
    """Data-parallel workers compute on the CPU; refuse a backend placed on a GPU."""
    device = getattr(backend, "device", "cpu")  # a property of the backends: "cpu" or "gpu"
    if device != "cpu":
        raise ValueError(
            f"data-parallel training (devices={workers}) runs its workers on the CPU (gloo "
            "processes, logical CPU devices); data-parallel training over several GPUs is not "
            "implemented: add --device cpu, or train on one GPU with devices=1"
        )


def _job(
    backend: Any,
    model: Any,
    config: Any,
    workers: int,
    mode: str,
    weights: Mapping[str, np.ndarray],
    arrays: Mapping[str, np.ndarray],
    **fields: Any,
) -> Job:
    """The job of ``model`` (a backend's model handle) from ``weights``; ``arrays`` holds the
    batches or the data."""
    from backends.config.io import config_to_dict

    model_arrays = {"probe": np.asarray(model.probe, np.complex64)}
    model_arrays.update({f"w/{k}": np.asarray(v, np.float32) for k, v in weights.items()})
    return Job(
        backend=backend.name,
        workers=workers,
        mode=mode,
        model=config_to_dict(model.config),
        training=config_to_dict(config),
        intensity_scale=float(model.intensity_scale),
        arrays=model_arrays | dict(arrays),
        **fields,
    )


def train_steps_with_workers(
    backend: Any,
    model: Any,
    batches: Sequence[Any],
    config: Any,
    learning_rate: float,
    workers: int,
) -> Any:
    """``backend.train_steps`` on ``workers`` workers from the model's weights (a ``steps``
    job): a :class:`backends.base.StepsResult`; the model holds worker 0's weights afterwards
    (every worker holds the same)."""
    from backends.base import StepsResult

    _check_cpu(backend, workers)
    job = _job(
        backend,
        model,
        config,
        workers,
        "steps",
        backend.export_weights(model),
        batch_arrays(batches),
        learning_rate=float(learning_rate),
        data_info={"batches": len(batches)},
    )
    result = run_job(job)
    backend.import_weights(model, result.weights)
    return StepsResult(
        step_losses=result.step_terms,
        weights=backend.export_weights(model),
        learning_rates=[float(learning_rate)] * len(result.step_terms),
    )


def train_with_workers(
    backend: Any,
    model: Any,
    train_data: Any,
    config: Any,
    seed: int,
    epochs: int | None,
    on_step: Callable[[int, Mapping[str, float]], None] | None,
    execution: Mapping[str, Any] | None,
    checkpoint: Any,
    resume: Any,
) -> Any:
    """``backend.train`` (same arguments) on the ``devices`` workers its execution settings
    name (a ``fit`` job): a :class:`backends.base.TrainResult`; the model holds the trained
    weights afterwards. ``checkpoint`` must be a
    :class:`backends.core.checkpoint.EveryNEpochs` (worker 0 writes it); ``resume`` a
    :class:`backends.core.checkpoint.TrainingState`."""
    from backends.config.execution import trainer_settings
    from backends.core.checkpoint import EveryNEpochs

    execution = dict(execution or {})
    workers = trainer_settings(execution).devices
    _check_cpu(backend, workers)
    hook = None
    if checkpoint is not None:
        if not isinstance(checkpoint, EveryNEpochs):
            raise ValueError(
                "data-parallel training writes checkpoints every N epochs (EveryNEpochs); "
                f"a {type(checkpoint).__name__} hook cannot be handed to worker processes"
            )
        hook = {
            "output_dir": str(checkpoint.output_dir),
            "every": int(checkpoint.every),
            "run": dict(checkpoint.run),
        }
    data_arrays, info = container_arrays(train_data)
    job = _job(
        backend,
        model,
        config,
        workers,
        "fit",
        resume.weights if resume is not None else backend.export_weights(model),
        data_arrays,
        seed=int(seed),
        epochs=None if epochs is None else int(epochs),
        execution={k: v for k, v in execution.items() if k != "devices"},
        checkpoint=hook,
        data_info=info,
    )
    result = run_job(job, on_step=on_step, resume_state=resume)
    backend.import_weights(model, result.weights)
    result.weights = backend.export_weights(model)
    return result


def worker_threads() -> int:
    """The threads a worker process should use (its share of the machine's cores)."""
    return int(os.environ.get("PTYCHOPINN_WORKER_THREADS", "1"))
