"""End-to-end training, inference and bundle conversion on either backend.

These are the workflows behind ``parity train``, ``parity infer`` and ``parity convert-bundle``.
They are backend-neutral: the framework is imported only when :func:`backends.get` is called.

Outputs (docs/persistence.md section 4):

* training: ``wts.h5.zip`` (the bundle), ``history.json`` (per epoch and per step),
  ``reconstructed_amplitude.png`` / ``reconstructed_phase.png`` (inference on the test data, or
  on the training data without test data) and ``metrics.json`` when the data has ground truth;
* inference: ``reconstruction.npz`` (stitched complex object, amplitude, phase, patches, global
  offsets), the two PNGs and ``metrics.json`` when the data has ground truth;
* conversion: a bundle of the other backend whose forward output is checked against the
  original on a probe batch.
"""

from __future__ import annotations

import dataclasses
import io
import json
import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from backends.base import Batch, InferenceResult, StepCallback
from backends.bundle import BUNDLE_NAME, read_bundle
from backends.bundle.archive import atomic_write_bytes
from backends.config import ModelConfig, TrainingConfig, validate_training_config
from backends.config.io import config_to_dict, training_config_from_params
from backends.core.checkpoint import (
    CHECKPOINT_DIR,
    STATE_JSON,
    CheckpointError,
    EveryNEpochs,
    TrainingState,
    load_checkpoint,
)
from backends.images import save_outputs
from backends.metrics import align_to_truth, json_safe, reconstruction_metrics

__all__ = [
    "HISTORY_JSON",
    "METRICS_JSON",
    "RECONSTRUCTION_NPZ",
    "ConversionReport",
    "InferOutcome",
    "Monitor",
    "ResumePlan",
    "TrainOutcome",
    "bundle_weights",
    "convert_bundle",
    "convert_loaded",
    "convert_upstream",
    "evaluate",
    "infer",
    "probe_batch",
    "resume_plan",
    "train",
    "training_config_from_params",
    "write_json",
]

HISTORY_JSON = "history.json"
METRICS_JSON = "metrics.json"
RECONSTRUCTION_NPZ = "reconstruction.npz"
STITCH_CROP = 20


class Monitor(Protocol):
    """Receives a workflow's stages and gives training a step callback (the progress display of
    the ``parity`` commands is one)."""

    def stage(self, name: str, total: int | None = None) -> None:
        """A stage begins (``total``: its number of steps, when known)."""
        ...

    def training(self, epochs: int, steps_per_epoch: int) -> StepCallback:
        """The ``on_step`` callback of ``backend.train``."""
        ...


class _NoMonitor:
    def stage(self, name: str, total: int | None = None) -> None:
        pass


@dataclass
class TrainOutcome:
    """What :func:`train` produced."""

    bundle: Path
    history: Path
    images: list[Path]
    metrics: dict[str, Any] | None
    metrics_path: Path | None
    config: TrainingConfig
    final_loss: float | None
    epochs_run: int


@dataclass
class InferOutcome:
    """What :func:`infer` produced."""

    reconstruction: Path
    images: list[Path]
    metrics: dict[str, Any] | None
    metrics_path: Path | None
    groups: int


@dataclass
class ConversionReport:
    """The converted bundle and the forward comparison with the original."""

    bundle: Path
    source_backend: str
    target_backend: str
    max_abs_diff: dict[str, float]
    max_rel_diff: dict[str, float]
    params_differences: list[str] = field(default_factory=list)
    passed: bool = True


def _backend(name: str) -> Any:
    import backends

    return backends.get(name)


def _use_device(backend: Any, requested: str) -> str:
    """Put ``backend`` on ``requested`` (cpu, gpu or auto); returns ``cpu`` or ``gpu``."""
    use_device = getattr(backend, "use_device", None)
    if callable(use_device):
        return str(use_device(requested))
    if requested == "gpu":
        raise ValueError(f"--device gpu: backend {backend.name!r} has no device placement")
    return "cpu"


def write_json(path: Path, obj: Any) -> Path:
    """Strict JSON (non-finite floats as strings, see :func:`backends.metrics.json_safe`),
    sorted keys, written atomically."""
    text = json.dumps(json_safe(obj), indent=2, sort_keys=True, allow_nan=False) + "\n"
    return atomic_write_bytes(Path(path), text.encode("utf-8"))


def _populate_legacy(config: Any) -> None:
    """``update_legacy_dict`` on the process-wide legacy params (config.md (c): callers run it
    before loading data or building a model)."""
    from backends.config.legacy import params, update_legacy_dict

    update_legacy_dict(params, config)


def evaluate(result: InferenceResult, data: Any, crop: int = STITCH_CROP) -> dict[str, Any] | None:
    """Metrics of a stitched reconstruction against the data's ground truth (``objectGuess``),
    restricted to the covered region of the stitched canvas; None without ground truth."""
    truth = getattr(data, "objectGuess", None)
    if truth is None or not getattr(data, "has_ground_truth", True):
        return None
    from backends import physics

    patches = np.asarray(result.patches)
    coverage = physics.stitch(
        np.ones((*patches.shape[:3], 1), np.float64), np.asarray(data.global_offsets), crop=crop
    )
    rec, ref = align_to_truth(result.stitched, truth, data.global_offsets, coverage=coverage)
    if min(rec.shape) < 11:
        return None
    metrics = reconstruction_metrics(rec, ref)
    metrics["region"] = "covered part of the stitched canvas"
    return metrics


def _npz_bytes(arrays: Mapping[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **{k: np.asarray(v) for k, v in arrays.items()})  # type: ignore[arg-type]
    return buf.getvalue()


# ----------------------------------------------------------------------------- train


def train(
    backend_name: str,
    train_data: str | Path | None,
    test_data: str | Path | None = None,
    config: TrainingConfig | None = None,
    output_dir: str | Path | None = None,
    epochs: int | None = None,
    progress: bool = True,
    seed: int = 0,
    execution: Mapping[str, Any] | None = None,
    monitor: Monitor | None = None,
    checkpoint_every: int = 1,
    resume: TrainingState | None = None,
    init_from: str | Path | None = None,
    device: str | None = None,
) -> TrainOutcome:
    """Train a model of ``backend_name`` and write the training outputs into ``output_dir``.

    ``train_data``/``test_data`` are NPZ paths or ``builtin:NAME`` / ``builtin:NAME:test``
    (None keeps the config's files). The model is built with the training file's probe and
    ``intensity_scale = sqrt(nphotons) / (N / 2)`` (the file's nphotons when it records one,
    which is then written into the config so the bundle snapshot says what was used).
    ``epochs`` overrides ``config.nepochs``; ``seed`` drives weight initialisation and
    shuffling. ``execution`` names PyTorch execution settings (docs/config.md (e),
    :mod:`backends.config.execution`); they are checked before any data is read. ``monitor``
    receives the stages and the training steps (and replaces the backend's own progress bar).
    ``checkpoint_every`` N writes the training state into ``<output_dir>/checkpoint/`` every N
    epochs and after the last (0: never); ``resume`` continues the run a checkpoint holds
    (:func:`resume_plan` gives its config, seed and settings); ``init_from`` starts from the
    weights of a bundle (either backend's) with a fresh optimiser. ``device`` (cpu, gpu or
    auto; None: the execution setting ``accelerator``, else auto) is where it trains and infers
    (:func:`backends.core.devices.requested_device`).
    """
    from backends import physics
    from backends.config.execution import check_backend_settings, execution_values
    from backends.core.devices import requested_device
    from backends.data import load_training_data

    given = execution_values(execution)
    wanted = requested_device(device, given)
    if checkpoint_every < 0:
        raise ValueError(f"checkpoint_every={checkpoint_every} must be >= 0 (0 writes none)")
    if resume is not None and init_from is not None:
        raise ValueError(
            "resume continues a run with its own weights; init_from starts a new run from a "
            "bundle: give one of them"
        )
    check_backend_settings(backend_name, given)

    config = config if config is not None else TrainingConfig(model=ModelConfig())
    changes: dict[str, Any] = {"backend": backend_name}
    if train_data is not None:
        changes["train_data_file"] = train_data
    if test_data is not None:
        changes["test_data_file"] = test_data
    if output_dir is not None:
        changes["output_dir"] = output_dir
    if epochs is not None:
        changes["nepochs"] = int(epochs)
    config = dataclasses.replace(config, **changes)
    if config.train_data_file is None:
        raise ValueError("no training data: give --train-data (a path or builtin:NAME)")
    validate_training_config(config)
    backend = _backend(backend_name)
    kind = _use_device(backend, wanted)
    out = Path(config.output_dir)

    watch: Any = monitor or _NoMonitor()
    watch.stage("load data")
    _populate_legacy(config)
    train_c, test_c = load_training_data(config)
    if train_c.nphotons != config.nphotons:
        config = dataclasses.replace(config, nphotons=float(train_c.nphotons))
        _populate_legacy(config)
    watch.stage("build model")
    scale = physics.intensity_scale(config.nphotons, config.model.N)
    initial = None if init_from is None else bundle_weights(init_from)
    model = backend.build(config.model, train_c.probe, scale, weights=initial, seed=seed)
    # the backend gets the device resolved here, so that its own reading of accelerator agrees
    placed = {**given, "accelerator": kind} if "accelerator" in given else given
    extra: dict[str, Any] = {"execution": placed} if placed else {}
    done = 0
    if resume is not None:
        _check_resumable(resume, backend_name, int(config.nepochs))
        extra["resume"] = resume
        done = resume.epoch
    if checkpoint_every > 0:
        run_info = {
            "backend": backend_name,
            "seed": seed,
            "config": config_to_dict(config),
            "execution": json_safe(given),
        }
        extra["checkpoint"] = EveryNEpochs(out, checkpoint_every, run_info)
    if monitor is not None:
        from backends.training import steps_per_epoch

        per_epoch = steps_per_epoch(len(train_c), config.batch_size)
        remaining = max(int(config.nepochs) - done, 0)
        watch.stage(f"train ({backend_name})", total=per_epoch * remaining)
        extra["on_step"] = watch.training(remaining, per_epoch)
        progress = False
    result = backend.train(model, train_c, config, seed=seed, progress=progress, **extra)

    watch.stage("save bundle")
    out.mkdir(parents=True, exist_ok=True)
    bundle = backend.save_bundle(model, out, config)
    hist = {k: list(v) for k, v in result.history.items()}
    history_path = write_json(
        out / HISTORY_JSON,
        {
            "backend": backend_name,
            "epochs": hist,
            "steps": {"loss": list(result.step_loss)},
            "stopped_epoch": result.stopped_epoch,
            "seconds": result.seconds,
            "intensity_scale": scale,
            "seed": seed,
            "execution": json_safe(given),
            "device": kind,
        },
    )
    eval_data = test_c if test_c is not None else train_c
    batch = (
        {"batch_size": given["inference_batch_size"]} if given.get("inference_batch_size") else {}
    )
    watch.stage("infer")
    inference = backend.infer(model, eval_data, crop=STITCH_CROP, **batch)
    watch.stage("write outputs")
    images = save_outputs(inference.amplitude, inference.phase, out)
    metrics = evaluate(inference, eval_data)
    metrics_path = None
    if metrics is not None:
        metrics_path = write_json(
            out / METRICS_JSON,
            {
                "backend": backend_name,
                "data": "test" if test_c is not None else "train",
                "metrics": metrics,
            },
        )
    losses = hist.get("loss") or []
    return TrainOutcome(
        bundle=Path(bundle),
        history=history_path,
        images=images,
        metrics=metrics,
        metrics_path=metrics_path,
        config=config,
        final_loss=float(losses[-1]) if losses else None,
        epochs_run=len(losses),
    )


@dataclass
class ResumePlan:
    """What continuing the run in ``output_dir`` needs: its checkpoint and the config, seed and
    execution settings the run was started with."""

    state: TrainingState
    config: TrainingConfig
    seed: int
    execution: dict[str, Any]
    backend: str


def resume_plan(output_dir: str | Path) -> ResumePlan:
    """Read the checkpoint of the run in ``output_dir`` (CheckpointError names any fault)."""
    from backends.config.io import config_from_dict

    state = load_checkpoint(output_dir)
    where = f"{Path(output_dir) / CHECKPOINT_DIR / STATE_JSON}"
    run = state.run
    backend = run.get("backend")
    seed = run.get("seed")
    execution = run.get("execution") or {}
    if not isinstance(backend, str) or not isinstance(seed, int) or not isinstance(execution, dict):
        raise CheckpointError(f"{where}: the run's backend, seed or execution settings are missing")
    try:
        config = config_from_dict(
            run.get("config") or {}, kind="training", source=where, validate=False
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{where}: the run's config is not readable ({exc})") from None
    assert isinstance(config, TrainingConfig)
    config = dataclasses.replace(config, output_dir=Path(output_dir))
    return ResumePlan(state, config, seed, dict(execution), backend)


def _check_resumable(state: TrainingState, backend_name: str, epochs: int) -> None:
    written_by = state.run.get("backend")
    if written_by is not None and written_by != backend_name:
        raise ValueError(
            f"the checkpoint was written by the {written_by} backend; resume it with that backend"
        )
    if state.epoch > epochs:
        raise ValueError(
            f"the checkpoint holds {state.epoch} completed epochs but {epochs} were asked for; "
            f"give --epochs {state.epoch} or more"
        )


def bundle_weights(path: str | Path) -> dict[str, np.ndarray]:
    """The weights of a bundle (either backend's) by canonical name, reference layout."""
    source = read_bundle(path, expected_backend=None).backend
    backend = _backend(source)
    model, _ = backend.load_bundle(Path(path))
    return dict(backend.export_weights(model))


# ----------------------------------------------------------------------------- infer


def infer(
    backend_name: str | None,
    model_dir: str | Path,
    data: str | Path,
    output_dir: str | Path,
    *,
    n_groups: int | None = None,
    seed: int | None = None,
    batch_size: int = 64,
    monitor: Monitor | None = None,
    device: str = "auto",
) -> InferOutcome:
    """Reconstruct ``data`` with the bundle in ``model_dir`` and write the inference outputs.

    ``backend_name`` None means the backend recorded in the bundle; a name that differs from
    it raises BundleBackendMismatchError before anything is loaded. ``monitor`` receives the
    stages. ``device``: cpu, gpu or auto (a GPU when one is visible).
    """
    from backends.data import load_inference_data

    watch: Any = monitor or _NoMonitor()
    watch.stage("load bundle")
    if backend_name is None:
        backend_name = read_bundle(model_dir, expected_backend=None).backend
    backend = _backend(backend_name)
    _use_device(backend, device)
    model, params = backend.load_bundle(Path(model_dir))
    watch.stage("load data")
    cfg: ModelConfig = model.config
    container = load_inference_data(
        data, gridsize=cfg.gridsize, n_groups=n_groups, seed=seed, nphotons=params.get("nphotons")
    )
    if container.N != cfg.N:
        raise ValueError(
            f"{data}: diffraction patterns are {container.N}x{container.N} but the model in "
            f"{model_dir} was built for N={cfg.N}; use data with {cfg.N}x{cfg.N} patterns"
        )
    watch.stage(f"infer ({backend_name}, {len(container)} groups)")
    result = backend.infer(model, container, batch_size=batch_size, crop=STITCH_CROP)
    watch.stage("write outputs")
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    recon = atomic_write_bytes(
        out / RECONSTRUCTION_NPZ,
        _npz_bytes(
            {
                "stitched": np.asarray(result.stitched, np.complex64),
                "amplitude": np.asarray(result.amplitude, np.float32),
                "phase": np.asarray(result.phase, np.float32),
                "patches": np.asarray(result.patches, np.complex64),
                "global_offsets": np.asarray(container.global_offsets, np.float64),
            }
        ),
    )
    images = save_outputs(result.amplitude, result.phase, out)
    metrics = evaluate(result, container)
    metrics_path = None
    if metrics is not None:
        metrics_path = write_json(
            out / METRICS_JSON, {"backend": backend_name, "data": str(data), "metrics": metrics}
        )
    return InferOutcome(recon, images, metrics, metrics_path, len(container))


# ----------------------------------------------------------------------------- convert


def probe_batch(config: ModelConfig, size: int = 4, seed: int = 0) -> Batch:
    """A deterministic batch for comparing forward outputs: smooth positive diffraction-like
    amplitudes and small random group offsets (zero for gridsize 1)."""
    rng = np.random.default_rng(seed)
    N, C = config.N, config.channels
    yy, xx = np.mgrid[:N, :N] - N / 2
    envelope = np.exp(-(xx**2 + yy**2) / (2 * (N / 6) ** 2))
    X = envelope[None, :, :, None] * rng.uniform(0.05, 1.0, (size, N, N, C))
    X = X / np.sqrt(np.mean(np.sum(X**2, axis=(1, 2)))) * N / 4
    positions = np.zeros((size, 1, 2, C))
    if C > 1:
        positions = rng.uniform(-3.0, 3.0, (size, 1, 2, C))
    return Batch(X=X.astype(np.float32), positions=positions.astype(np.float32))


def _compare_params(
    a: Mapping[str, Any], b: Mapping[str, Any], ignore: tuple[str, ...]
) -> list[str]:
    diffs = []
    for key in sorted(set(a) | set(b)):
        if key in ignore:
            continue
        if key not in a or key not in b:
            diffs.append(f"{key}: only in the {'original' if key in a else 'converted'} bundle")
            continue
        x, y = a[key], b[key]
        if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
            xa, ya = np.asarray(x), np.asarray(y)
            if xa.shape != ya.shape or not np.allclose(xa, ya, rtol=1e-6, atol=1e-7):
                diffs.append(f"{key}: arrays differ")
        elif x != y:
            diffs.append(f"{key}: {x!r} != {y!r}")
    return diffs


def convert_bundle(
    bundle: str | Path,
    to: str,
    output_dir: str | Path,
    *,
    rtol: float = 1e-4,
    batch: Batch | None = None,
    monitor: Monitor | None = None,
) -> ConversionReport:
    """Convert a bundle to backend ``to`` and check the converted model's forward outputs
    against the original's on a probe batch.

    The source is loaded with its own backend, its weights (canonical names, reference layout)
    are checked with :func:`backends.weights.check_weights` and imported into a model of the
    target backend built from the same params snapshot, probe and intensity scale, which is
    saved and loaded back. The comparison uses the reloaded bundle. The bundle lands in
    ``output_dir`` only if every output agrees within ``rtol`` (largest difference relative to
    the largest magnitude of the original output); otherwise nothing is written and the
    report has ``passed`` False. ``monitor`` receives the stages.
    """
    from backends.bundle import BACKENDS
    from backends.weights import check_weights

    if to not in BACKENDS:
        raise ValueError(f"--to {to!r} is not a backend; choose one of: {', '.join(BACKENDS)}")
    watch: Any = monitor or _NoMonitor()
    watch.stage("load source bundle")
    source_contents = read_bundle(bundle, expected_backend=None)
    source_name = source_contents.backend
    if source_name == to:
        raise ValueError(f"{source_contents.path} is already a {to!r} bundle; nothing to convert")
    src = _backend(source_name)
    src_model, src_params = src.load_bundle(source_contents.path)
    weights = src.export_weights(src_model)
    check_weights(weights, src_model.config)
    config = training_config_from_params(src_params, to)
    if config.model != src_model.config:
        raise ValueError(
            f"{source_contents.path}: the params snapshot describes {config.model}, but the "
            f"loaded model is {src_model.config}"
        )
    probe = src_params.get("probe")
    probe = np.asarray(src_model.probe if probe is None else probe)
    return convert_loaded(
        src_model, src_params, probe, config, output_dir, rtol=rtol, batch=batch, monitor=watch
    )


def convert_loaded(
    src_model: Any,
    src_params: Mapping[str, Any],
    probe: np.ndarray,
    config: TrainingConfig,
    output_dir: str | Path,
    *,
    rtol: float = 1e-4,
    batch: Batch | None = None,
    monitor: Monitor | None = None,
    save: Callable[[Any, Path], Path] | None = None,
) -> ConversionReport:
    """Build a ``config.backend`` model with ``src_model``'s weights, save it (with ``save``,
    default the backend's own), reload it and compare forward outputs with ``src_model``;
    the bundle lands in ``output_dir`` only when every output agrees within ``rtol``."""
    watch: Any = monitor or _NoMonitor()
    source_name, to = src_model.backend, config.backend
    src, dst = _backend(source_name), _backend(to)
    weights = src.export_weights(src_model)
    probe = probe.reshape(config.model.N, config.model.N).astype(np.complex64)
    watch.stage(f"build {to} model")
    dst_model = dst.build(config.model, probe, float(src_model.intensity_scale), weights=weights)

    out = Path(output_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.convert-", dir=out.parent))
    try:
        watch.stage("save and reload")
        staged = (save or (lambda m, d: dst.save_bundle(m, d, config)))(dst_model, staging)
        reloaded, dst_params = dst.load_bundle(Path(staged))
        watch.stage("compare forward outputs")
        probe_in = batch if batch is not None else probe_batch(config.model)
        a = src.forward(src_model, probe_in).outputs
        b = dst.forward(reloaded, probe_in).outputs
        abs_diff: dict[str, float] = {}
        rel_diff: dict[str, float] = {}
        for name in sorted(set(a) & set(b)):
            x = np.asarray(a[name]).astype(np.complex128)
            y = np.asarray(b[name]).astype(np.complex128)
            if x.shape != y.shape:
                raise ValueError(
                    f"output {name!r} has shape {x.shape} (original) vs {y.shape} (converted)"
                )
            d = float(np.max(np.abs(x - y))) if x.size else 0.0
            scale = float(np.max(np.abs(x))) if x.size else 0.0
            abs_diff[name] = d
            rel_diff[name] = d / scale if scale > 0 else d
        passed = bool(rel_diff) and all(v <= rtol for v in rel_diff.values())
        differences = _compare_params(src_params, dst_params, ignore=("backend",))
        target = out / BUNDLE_NAME
        if passed:
            out.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(target, Path(staged).read_bytes())
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return ConversionReport(
        bundle=target,
        source_backend=source_name,
        target_backend=to,
        max_abs_diff=abs_diff,
        max_rel_diff=rel_diff,
        params_differences=differences,
        passed=passed,
    )


def convert_upstream(
    bundle: str | Path,
    to: str,
    output_dir: str | Path,
    *,
    rtol: float = 1e-4,
    monitor: Monitor | None = None,
) -> ConversionReport:
    """Import the upstream ``bundle`` as a ``to`` bundle in ``output_dir``, with a forward check
    (:func:`convert_loaded`): the upstream weights are loaded into the reference (TensorFlow)
    backend when it is installed, otherwise into the target backend, and that model is the
    source of the comparison. ``source_backend`` of the report names upstream."""
    import backends
    from backends.bundle import BACKENDS
    from backends.bundle.upstream import read_upstream_bundle, reference_backend, save_imported

    if to not in BACKENDS:
        raise ValueError(f"--to {to!r} is not a backend; choose one of: {', '.join(BACKENDS)}")
    if monitor is not None:
        monitor.stage("read upstream bundle")
    upstream = read_upstream_bundle(bundle)
    source = reference_backend(to)
    source_config = upstream.training_config(source)
    src_model = backends.get(source).build(
        source_config.model, upstream.probe, upstream.intensity_scale, weights=upstream.weights
    )
    config = upstream.training_config(to)
    report = convert_loaded(
        src_model,
        upstream.params,
        upstream.probe,
        config,
        output_dir,
        rtol=rtol,
        monitor=monitor,
        save=lambda model, where: save_imported(model, upstream, config, where),
    )
    report.source_backend = f"upstream ({upstream.path.name}, checked with {source})"
    report.params_differences = [
        d for d in report.params_differences if "only in the original" not in d
    ]
    return report
