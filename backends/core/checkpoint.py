"""Training checkpoints in this project's own format: NumPy arrays + JSON, no pickles.

A checkpoint is the directory ``<output_dir>/checkpoint/`` holding

* ``arrays-epochNNNN.npz``: the weights (``w/<name>``) and the Adam moments (``m/<name>``,
  ``v/<name>``) by canonical weight name in the reference layout, float32, read back with
  ``allow_pickle=False``;
* ``state.json``: the format tag and version, the epoch count, the optimiser's step count and
  learning rate, the plateau and early-stopping counters, the history so far, the run's
  context (backend, seed, config, execution settings) and the SHA-256 of the arrays file.

Each file is written atomically; ``state.json`` is written last and names its arrays file, so a
run killed while writing leaves the previous checkpoint intact. Reading checks every field and
raises :class:`CheckpointError` (a ``ValueError``) that names the file and the fault.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from backends.core.files import write_bytes_atomic, write_text_atomic

CHECKPOINT_DIR = "checkpoint"
STATE_JSON = "state.json"
FORMAT = "ptychopinn-parity-checkpoint"
VERSION = 1
_KINDS = ("w", "m", "v")
PLATEAU_FIELDS = ("best", "wait", "cooldown_counter")
EARLY_STOPPING_FIELDS = ("best", "wait", "epoch")


class CheckpointError(ValueError):
    """A checkpoint that is missing, damaged or not of this format."""


@dataclass
class TrainingState:
    """Everything a training loop needs to continue after ``epoch`` completed epochs.

    ``weights`` and the Adam moments ``m`` / ``v`` are keyed by canonical weight name in the
    reference layout (:mod:`backends.weights`), so both backends read and write the same form.
    The batch order needs no stored generator state: epoch ``e`` visits
    ``epoch_permutation(n, e, seed)`` (:mod:`backends.training`).
    """

    epoch: int
    iterations: int
    learning_rate: float
    plateau: dict[str, float]
    early_stopping: dict[str, float]
    history: dict[str, list[float]]
    step_loss: list[float]
    stopped_epoch: int | None
    weights: dict[str, np.ndarray]
    m: dict[str, np.ndarray]
    v: dict[str, np.ndarray]
    run: dict[str, Any] = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        """True when early stopping ended the run."""
        return self.stopped_epoch is not None


class CheckpointHook(Protocol):
    """What a training loop calls at the end of each epoch."""

    def due(self, epochs_done: int, final: bool) -> bool:
        """Whether a checkpoint is wanted after ``epochs_done`` epochs (``final``: the loop
        ends after this epoch)."""
        ...

    def save(self, state: TrainingState) -> None:
        """Write ``state``."""
        ...


def schedule_counters(
    plateau: Any, early_stopping: Any
) -> tuple[dict[str, float], dict[str, float]]:
    """The counters of a ``KerasPlateau`` and a ``KerasEarlyStopping`` (:mod:`backends.training`):
    the ``plateau`` and ``early_stopping`` fields of a :class:`TrainingState`."""
    return (
        {n: float(getattr(plateau, n)) for n in PLATEAU_FIELDS},
        {n: float(getattr(early_stopping, n)) for n in EARLY_STOPPING_FIELDS},
    )


def restore_schedules(plateau: Any, early_stopping: Any, state: TrainingState) -> None:
    """Set the counters of both objects from ``state`` (integer counters stay integers)."""
    for obj, values, names in (
        (plateau, state.plateau, PLATEAU_FIELDS),
        (early_stopping, state.early_stopping, EARLY_STOPPING_FIELDS),
    ):
        for n in names:
            current = getattr(obj, n)
            setattr(obj, n, int(values[n]) if isinstance(current, int) else float(values[n]))


# ----------------------------------------------------------------------------- writing


def _arrays_bytes(state: TrainingState) -> bytes:
    arrays: dict[str, np.ndarray] = {}
    for kind, source in zip(_KINDS, (state.weights, state.m, state.v)):
        for name, value in source.items():
            arrays[f"{kind}/{name}"] = np.ascontiguousarray(value, dtype=np.float32)
    buf = io.BytesIO()
    np.savez(buf, **arrays)  # type: ignore[arg-type]
    return buf.getvalue()


def save_checkpoint(output_dir: Path | str, state: TrainingState) -> Path:
    """Write ``state`` into ``<output_dir>/checkpoint/``; returns the path of ``state.json``."""
    directory = Path(output_dir) / CHECKPOINT_DIR
    data = _arrays_bytes(state)
    arrays_name = f"arrays-epoch{state.epoch:04d}.npz"
    write_bytes_atomic(directory / arrays_name, data)
    doc = {
        "format": FORMAT,
        "version": VERSION,
        "epoch": int(state.epoch),
        "iterations": int(state.iterations),
        "learning_rate": float(state.learning_rate),
        "plateau": state.plateau,
        "early_stopping": state.early_stopping,
        "stopped_epoch": state.stopped_epoch,
        "history": state.history,
        "step_loss": state.step_loss,
        "run": state.run,
        "arrays": {"file": arrays_name, "sha256": hashlib.sha256(data).hexdigest()},
    }
    path = write_text_atomic(directory / STATE_JSON, json.dumps(doc, indent=1) + "\n")
    for old in directory.glob("arrays-epoch*.npz"):
        if old.name != arrays_name:
            old.unlink(missing_ok=True)
    return path


# ----------------------------------------------------------------------------- reading


def _need(doc: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    value = doc.get(key)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise CheckpointError(f"{where}: field {key!r} is missing or not a {_kind_name(kind)}")
    return value


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(k.__name__ for k in kinds)


def _numbers(value: Any, key: str, where: str, names: tuple[str, ...]) -> dict[str, float]:
    if not isinstance(value, dict) or set(value) != set(names):
        raise CheckpointError(f"{where}: field {key!r} must hold exactly {', '.join(names)}")
    for n in names:
        _need(value, n, (int, float), f"{where} ({key})")
    return {n: float(value[n]) for n in names}


def _float_lists(value: Any, key: str, where: str) -> dict[str, list[float]]:
    if not isinstance(value, dict) or not all(
        isinstance(v, list) and all(isinstance(x, (int, float)) for x in v) for v in value.values()
    ):
        raise CheckpointError(f"{where}: field {key!r} must map names to lists of numbers")
    return {str(k): [float(x) for x in v] for k, v in value.items()}


def _read_arrays(path: Path, digest: str) -> dict[str, dict[str, np.ndarray]]:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CheckpointError(
            f"{path}: the arrays file named by {STATE_JSON} is missing; the checkpoint is "
            "incomplete"
        ) from None
    if hashlib.sha256(data).hexdigest() != digest:
        raise CheckpointError(
            f"{path}: content does not match the SHA-256 recorded in {STATE_JSON}; the "
            "checkpoint is damaged"
        )
    out: dict[str, dict[str, np.ndarray]] = {k: {} for k in _KINDS}
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            for key in npz.files:
                kind, sep, name = key.partition("/")
                if kind not in _KINDS or not sep or not name:
                    raise CheckpointError(f"{path}: unexpected array {key!r}")
                arr = npz[key]
                if arr.dtype != np.float32:
                    raise CheckpointError(f"{path}: array {key!r} is {arr.dtype}, not float32")
                out[kind][name] = arr
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        if isinstance(exc, CheckpointError):
            raise
        raise CheckpointError(f"{path}: not a readable NumPy archive ({exc})") from None
    if set(out["m"]) != set(out["w"]) or set(out["v"]) != set(out["w"]):
        raise CheckpointError(f"{path}: the moments do not cover exactly the weights")
    return out


def load_checkpoint(output_dir: Path | str) -> TrainingState:
    """Read ``<output_dir>/checkpoint/``; :class:`CheckpointError` names any fault."""
    directory = Path(output_dir) / CHECKPOINT_DIR
    path = directory / STATE_JSON
    if not path.is_file():
        raise CheckpointError(
            f"{path}: no checkpoint to resume from; train with --checkpoint-every N (the "
            "default writes one every epoch) or start a new run without --resume"
        )
    where = str(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{where}: not valid JSON ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise CheckpointError(f"{where}: not a {FORMAT} file (format tag missing or foreign)")
    if doc.get("version") != VERSION:
        raise CheckpointError(
            f"{where}: checkpoint version {doc.get('version')!r} is not supported (this "
            f"version reads {VERSION})"
        )
    epoch = _need(doc, "epoch", int, where)
    iterations = _need(doc, "iterations", int, where)
    lr = float(_need(doc, "learning_rate", (int, float), where))
    if epoch < 1 or iterations < 0 or not (math.isfinite(lr) and lr > 0):
        raise CheckpointError(f"{where}: epoch, iterations or learning_rate out of range")
    stopped = doc.get("stopped_epoch")
    if stopped is not None and (not isinstance(stopped, int) or isinstance(stopped, bool)):
        raise CheckpointError(f"{where}: field 'stopped_epoch' must be an integer or null")
    steps = doc.get("step_loss")
    if not isinstance(steps, list) or not all(isinstance(x, (int, float)) for x in steps):
        raise CheckpointError(f"{where}: field 'step_loss' must be a list of numbers")
    run = _need(doc, "run", dict, where)
    arrays = _need(doc, "arrays", dict, where)
    name = _need(arrays, "file", str, f"{where} (arrays)")
    if Path(name).name != name or not name.endswith(".npz"):
        raise CheckpointError(f"{where}: arrays file {name!r} must be a plain .npz file name")
    digest = _need(arrays, "sha256", str, f"{where} (arrays)")
    parts = _read_arrays(directory / name, digest)
    return TrainingState(
        epoch=epoch,
        iterations=iterations,
        learning_rate=lr,
        plateau=_numbers(doc.get("plateau"), "plateau", where, PLATEAU_FIELDS),
        early_stopping=_numbers(
            doc.get("early_stopping"), "early_stopping", where, EARLY_STOPPING_FIELDS
        ),
        history=_float_lists(doc.get("history"), "history", where),
        step_loss=[float(x) for x in steps],
        stopped_epoch=stopped,
        weights=parts["w"],
        m=parts["m"],
        v=parts["v"],
        run=run,
    )


@dataclass
class EveryNEpochs:
    """A :class:`CheckpointHook` that writes into ``output_dir`` every ``every`` epochs and
    after the last epoch; ``run`` (backend, seed, config, ...) is stored with each state."""

    output_dir: Path
    every: int
    run: dict[str, Any]

    def due(self, epochs_done: int, final: bool) -> bool:
        return self.every > 0 and (final or epochs_done % self.every == 0)

    def save(self, state: TrainingState) -> None:
        state.run = dict(self.run)
        save_checkpoint(self.output_dir, state)
