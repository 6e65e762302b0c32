"""Drive one backend through a scenario and write its trace.

Sections, each recorded with its status and time (a section that raises is stored as an error
with its traceback; the recording goes on): ``environment``, ``params`` (the backend's legacy
snapshot), ``data`` (its containers), ``ops`` (each op on fixed seeded inputs, with the oracle's
outputs), ``forward`` (identical NumPy-drawn weights imported; outputs, every stage activation,
and single-step outputs of every stage re-fed the reference trace's inputs), ``gradients``,
``training`` (K optimizer steps from identical weights and batches), ``bundles`` (save, load,
forward round trip, manifest and params), ``inference`` and ``convergence`` (sign-off).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import tempfile
import time
import traceback
import zipfile
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import numpy as np

from parity import datasets, machine, opcases
from parity.checks import FAMILIES
from parity.initweights import glorot_weights
from parity.numeric import applied_learning_rates
from parity.progress import Reporter, Silent, training_callback
from parity.trace import Trace, TraceWriter, base_versions, git_revision

SECTIONS = ("backend", "environment", *FAMILIES)
SECTIONS_FOR_CHECK = {
    **{family: (family,) for family in FAMILIES},
    "regression": ("params", "data", "ops", "forward", "gradients", "training", "inference"),
}
FRAMEWORK_VERSION_KEYS = ("tensorflow", "keras", "torch", "lightning", "cuda", "cudnn", "numpy")
NEEDS_DATA = tuple(f for f in FAMILIES if f not in ("params", "ops"))
REFERENCE_POLL_SECONDS = 0.02
"""How often a candidate recorded side by side looks for its reference's feeds."""


def absent_marker(feeds: Path) -> Path:
    """The file that says the reference feeds ``feeds`` will never be written."""
    return feeds.with_name(feeds.name + ".absent")


def sections_for(checks: Sequence[str]) -> list[str]:
    """Sections a list of check families needs, in recording order."""
    wanted = {"backend", "environment"}
    for c in checks:
        wanted.update(SECTIONS_FOR_CHECK.get(c, ()))
    return [s for s in SECTIONS if s in wanted]


class SectionFailed(Exception):
    """A section could not run because one it depends on failed."""


def crop_to_covered(recon: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The scanned region of a stitched reconstruction and its truth (backends.metrics)."""
    from backends.metrics import crop_to_covered as crop

    return crop(recon, truth)


def flat_object(truth: np.ndarray) -> np.ndarray:
    """The trivial reconstruction a trained one must beat: constant amplitude, zero phase, the
    shape of ``truth`` (its metrics are those of an object with no structure at all)."""
    return np.ones(np.shape(truth), dtype=np.complex128)


def _default_metrics() -> Callable[[np.ndarray, np.ndarray], Mapping[str, Any]]:
    from backends.metrics import reconstruction_metrics

    return reconstruction_metrics


IGNORED_METRICS = ("data_range", "phase_offset", "registration", "half_bit", "shape")
"""Numbers in the metrics that describe the comparison rather than its quality."""


def _flatten_metrics(metrics: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    out: dict[str, float] = {}
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if key in IGNORED_METRICS:
            continue
        if isinstance(value, Mapping):
            out.update(_flatten_metrics(value, f"{name}."))
        elif isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
            value, bool
        ):
            out[name] = float(value)
    return out


def _legacy_expected(config: Any) -> dict[str, Any] | None:
    """The legacy snapshot the canonical config translates to (backends.config), if available."""
    import importlib

    for module_name in ("backends.config", "backends.config.legacy"):
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        fn = getattr(module, "to_legacy_snapshot", None)
        if fn is not None:
            return dict(fn(config))
    return None


class Recorder:
    """Records one backend (see :func:`record`)."""

    def __init__(
        self,
        writer: TraceWriter,
        scenario: Any,
        backend_spec: str,
        *,
        reference: Path | None,
        oracle: Any,
        data_loader: Callable[..., datasets.ScenarioData],
        defects: Sequence[str],
        metrics_fn: Callable[[np.ndarray, np.ndarray], Mapping[str, Any]] | None,
        progress: Reporter,
        bundle_dir: Path | None,
        device: str = "cpu",
        feeds_out: Path | None = None,
        await_reference: bool = False,
    ) -> None:
        self.w = writer
        self.feeds_out = feeds_out
        self.await_reference = await_reference
        self._feeds_published = False
        self.device = device
        self.scenario = scenario
        self.spec = backend_spec
        self.reference = reference
        self.oracle = oracle
        self.data_loader = data_loader
        self.defects = list(defects)
        self.metrics_fn = metrics_fn
        self.progress = progress
        self.bundle_dir = bundle_dir
        self.backend: Any = None
        self.label = backend_spec
        self.data: datasets.ScenarioData | None = None
        self.failed: dict[str, str] = {}
        self.timings: dict[str, float] = {}
        self._model: Any = None
        self._weights: dict[str, np.ndarray] | None = None
        self._batch: Any = None
        self._scratch_model: Any = None

    # -- plumbing -----------------------------------------------------------------------------

    def run_section(self, name: str, fn: Callable[[], None], needs: Sequence[str] = ()) -> None:
        """Run one section, recording ok/error/skipped, its time and any traceback."""
        label = f"{self.label}: {name}"
        self.progress.start(label)
        t0 = time.perf_counter()
        status = "ok"
        try:
            for dep in needs:
                if dep in self.failed:
                    raise SectionFailed(f"not run: section {dep!r} failed: {self.failed[dep]}")
            with self._placement():
                fn()
            self.w.record_section(name, status="ok")
        except Exception as exc:
            status = "error"
            message = f"{type(exc).__name__}: {exc}"
            self.failed[name] = message
            tb = message if isinstance(exc, SectionFailed) else traceback.format_exc()
            self.w.record_section(name, status="error", error=message, traceback=tb)
        seconds = time.perf_counter() - t0
        self.timings[name] = seconds
        self.w.record_section(name, seconds=round(seconds, 4))
        self.progress.finish(label, status, seconds)

    def _placement(self) -> AbstractContextManager[Any]:
        """The backend's device scope (TensorFlow's ``tf.device``; nothing for PyTorch)."""
        placement = getattr(self.backend, "placement", None)
        return placement() if callable(placement) else nullcontext()

    @property
    def model_config(self) -> Any:
        return self.scenario.model_config()

    def training_config(self) -> Any:
        assert self.data is not None
        return self.scenario.training_config(self.data.train_file, self.data.test_file)

    def intensity_scale(self) -> float:
        assert self.data is not None
        return self.data.intensity_scale(self.model_config.N)

    def build(self, weights: Mapping[str, np.ndarray] | None, seed: int = 0) -> Any:
        assert self.data is not None
        probe = np.asarray(self.data.train.probe, dtype=np.complex64)
        return self.backend.build(
            self.model_config, probe, self.intensity_scale(), weights=weights, seed=seed
        )

    def scratch(self, weights: Mapping[str, np.ndarray]) -> Any:
        """A model holding ``weights`` for one computation after which the model is discarded
        (training steps, gradients): the forward section's model (else one built here),
        reloaded with every weight each time, since building costs TensorFlow about a second
        (its Keras graph) and what a built model has traced is reused. Every trained parameter
        is among the canonical weights, so the reloaded model equals a freshly built one; the
        section that uses it restores the initial weights (:meth:`restore_initial_weights`)."""
        if self._scratch_model is None:
            self._scratch_model = self._model if self._model is not None else self.build(weights)
        self.backend.import_weights(self._scratch_model, weights)
        return self._scratch_model

    def restore_initial_weights(self) -> None:
        """Give the forward section's model its initial weights back after it served as the
        scratch model, for the sections that follow (bundles, inference)."""
        if self._model is not None and self._weights is not None:
            self.backend.import_weights(self._model, self._weights)

    # -- sections -----------------------------------------------------------------------------

    def obtain_backend(self) -> None:
        from parity.registry import get_backend

        backend = get_backend(self.spec)
        if self.defects:
            from parity import defects

            for name in self.defects:
                backend = defects.inject(backend, name)
        self.backend = backend
        self.label = str(getattr(backend, "name", self.spec))
        self.w.set_meta(
            backend=self.label,
            backend_spec=self.spec,
            injected_defects=self.defects,
            device_requested=self.device,
        )
        use_device = getattr(backend, "use_device", None)
        if callable(use_device):
            use_device(self.device)
        elif self.device == "gpu":
            raise ValueError(
                f"--device gpu: backend {self.label!r} has no device placement (use_device); "
                "use --device cpu or auto"
            )

    def environment(self) -> None:
        env = dict(self.backend.environment())
        versions = {**base_versions(), **{k: str(v) for k, v in env.get("versions", {}).items()}}
        versions.update({k: str(v) for k, v in env.items() if k in FRAMEWORK_VERSION_KEYS})
        device = str(env.get("device", "unknown"))
        raw_facts = env.get("device_facts")
        facts: Mapping[str, Any] = raw_facts if isinstance(raw_facts, Mapping) else {}
        if device == "gpu":
            # the GPU's kernels come with the CUDA and cuDNN builds: part of the fingerprint
            for key, fact in (("cuda", "cuda_version"), ("cudnn", "cudnn_version")):
                if facts.get(fact):
                    versions.setdefault(key, str(facts[fact]))
        self.w.set_meta(
            environment=env,
            versions=versions,
            device=device,
            device_facts=dict(facts),
            machine=machine.fingerprint(
                versions, device, str(facts.get("name", "")) if device == "gpu" else None
            ),
        )

    def load_data(self) -> None:
        self.data = self.data_loader(self.scenario)

    def params(self) -> None:
        assert self.data is not None
        cfg = self.training_config()
        self.w.put_json("params", "legacy", self.backend.legacy_params(cfg))
        self.w.put_json("params", "canonical", dataclasses.asdict(cfg))
        expected = _legacy_expected(cfg)
        if expected is not None:
            self.w.put_json("params", "legacy_expected", expected)

    def data_section(self) -> None:
        assert self.data is not None
        own = getattr(self.backend, "load_training_data", None)
        train = self.data.train
        source = "backends.data (shared)"
        if callable(own):
            train = own(self.training_config())[0]
            source = f"{self.label}.load_training_data"
        self.w.set_meta(data_source=source)
        for split, container in (("train", train), ("test", self.data.test)):
            for name, value in datasets.container_arrays(container).items():
                self.w.put(f"data/{split}", name, np.asarray(value))

    def ops(self) -> None:
        cases = opcases.op_cases(
            self.model_config, self.scenario.seeds.ops, batch=self.scenario.run.op_batch
        )
        errors: dict[str, dict[str, str]] = {}
        for case in cases:
            stage = f"ops/{case.id}"
            for arg, value in case.args.items():
                if isinstance(value, np.ndarray):
                    self.w.put(f"{stage}/inputs", arg, value)
            scalars = {k: v for k, v in case.args.items() if not isinstance(v, np.ndarray)}
            self.w.put_json("params", f"ops_args/{case.id}", scalars)
            for who, namespace in (("output", self.backend.ops), ("oracle", self.oracle)):
                fn = getattr(namespace, case.op, None) if namespace is not None else None
                if fn is None:
                    errors.setdefault(case.id, {})[who] = f"no op {case.op!r}"
                    continue
                try:
                    result = np.asarray(opcases.run_case(fn, case))
                    self.w.put(stage, who, result)
                except Exception:
                    errors.setdefault(case.id, {})[who] = traceback.format_exc()
        self.w.put_json("params", "ops_errors", errors)

    def forward(self) -> None:
        from backends.graph import stages

        run = self.scenario.run
        cfg = self.model_config
        assert self.data is not None
        weights = glorot_weights(cfg, self.scenario.seeds.weights)
        self._weights = weights
        for name, value in weights.items():
            self.w.put("weights/initial", name, value)
        model = self.build(weights)
        self._model = model
        self._store_weight_check(
            "weights/exported", "export_check", self.backend.export_weights(model)
        )
        idx = datasets.batch_indices(len(self.data.train), 0, run.batch_size)
        batch = self.data.train.batch(idx)
        self._batch = batch
        for key in ("X", "positions", "Y_I"):
            field_value = getattr(batch, key, None)
            if field_value is not None:
                self.w.put("batch", key, np.asarray(field_value))
        result = self.backend.forward(model, batch, capture=True)
        for name, value in result.outputs.items():
            self.w.put("forward/outputs", name, np.asarray(value))
        for name, value in result.activations.items():
            self.w.put("forward/activations", name, np.asarray(value))
        self._publish_feeds(batch, result.activations)
        # single-step: each stage re-fed its inputs from the reference trace (or from itself)
        feeds_source = "self"
        ref: Trace | None = None
        if self.reference is not None and Path(self.reference).exists():
            ref = Trace(Path(self.reference))
            feeds_source = f"reference:{ref.backend}"
        try:
            model_input = np.float32(self.intensity_scale()) * np.asarray(batch.X, np.float32)
            positions = np.asarray(batch.positions, np.float32)

            def feed(name: str) -> Any:
                if name == "input":
                    if ref is not None and ref.has("batch", "X"):
                        return np.float32(self.intensity_scale()) * ref.get("batch", "X")
                    return model_input
                if name == "input_positions":
                    if ref is not None and ref.has("batch", "positions"):
                        return ref.get("batch", "positions")
                    return positions
                if ref is not None:
                    if ref.has("forward/activations", name):
                        return ref.get("forward/activations", name)
                    return None
                value = result.activations.get(name)
                return None if value is None else np.asarray(value)

            errors: dict[str, str] = {}
            for stage in stages(cfg):
                inputs = {n: feed(n) for n in stage.inputs}
                missing = [n for n, v in inputs.items() if v is None]
                if missing:
                    errors[stage.name] = f"reference has no activation {', '.join(missing)}"
                    continue
                try:
                    out = self.backend.run_stage(model, stage.name, inputs)
                except Exception:
                    errors[stage.name] = traceback.format_exc()
                    continue
                self.w.put("forward/single_step", stage.name, np.asarray(out))
            self.w.put_json("params", "single_step", {"source": feeds_source, "errors": errors})
        finally:
            if ref is not None:
                ref.close()

    def _publish_feeds(self, batch: Any, activations: Mapping[str, Any]) -> None:
        """With ``feeds_out``: write what another backend's single-step checks are fed (the
        batch and the forward activations) there, once, as a small trace, so that a candidate
        recorded side by side need not wait for this whole recording. Called again with
        nothing after a failed forward section, so that the candidate never waits in vain."""
        if self.feeds_out is None or self._feeds_published:
            return
        self._feeds_published = True
        with TraceWriter(self.feeds_out, self.label, self.scenario) as feeds:
            for key in ("X", "positions"):
                field_value = getattr(batch, key, None) if batch is not None else None
                if field_value is not None:
                    feeds.put("batch", key, np.asarray(field_value))
            for name, value in activations.items():
                feeds.put("forward/activations", name, np.asarray(value))

    def wait_for_reference(self) -> None:
        """Wait until the reference's feeds (``reference``) are written, or its ``.absent``
        marker says they never will be (the reference process died first)."""
        assert self.reference is not None
        path = Path(self.reference)
        absent = absent_marker(path)
        while not (path.exists() or absent.exists()):
            time.sleep(REFERENCE_POLL_SECONDS)

    def _store_weight_check(self, stage: str, name: str, got: Mapping[str, np.ndarray]) -> None:
        assert self._weights is not None
        status: dict[str, str] = {}
        for key, expected in self._weights.items():
            if key not in got:
                status[key] = "missing"
                continue
            value = np.asarray(got[key])
            if value.shape == expected.shape and np.array_equal(value, expected):
                status[key] = "equal"
            else:
                status[key] = "different"
                self.w.put(stage, key, value)
        for key in got:
            if key not in self._weights:
                status[key] = "extra"
        self.w.put_json("params", name, status)

    def gradients(self) -> None:
        if self._model is None:
            raise SectionFailed("not run: the forward section built no model")
        result = self.backend.loss_and_grads(self._model, self._batch, self.training_config())
        for term, value in result.losses.items():
            self.w.put("gradients/losses", term, np.float64(value))
        for name, value in result.grads.items():
            self.w.put("gradients/grads", name, np.asarray(value))

    def _training_batches(self) -> list[Any]:
        run = self.scenario.run
        assert self.data is not None
        n = len(self.data.train)
        return [
            self.data.train.batch(
                datasets.batch_indices(n, k * run.train_batch_size, run.train_batch_size)
            )
            for k in range(run.train_steps)
        ]

    def data_parallel(self) -> None:
        """K steps from identical weights on one worker and on ``run.workers`` workers, each
        taking its shard of every batch (:mod:`backends.core.parallel`)."""
        run = self.scenario.run
        weights = self._weights or glorot_weights(self.model_config, self.scenario.seeds.weights)
        batches = self._training_batches()
        cfg = self.training_config()
        self.w.put("data_parallel/setup", "workers", np.int64(run.workers))
        for label, workers in (("single", 1), ("workers", run.workers)):
            result = self.backend.train_steps(
                self.build(weights), batches, cfg, learning_rate=run.learning_rate, workers=workers
            )
            for term in sorted({t for step in result.step_losses for t in step}):
                values = [float(step.get(term, np.nan)) for step in result.step_losses]
                self.w.put(
                    f"data_parallel/{label}/step_losses", term, np.asarray(values, np.float64)
                )
            for name, value in result.weights.items():
                self.w.put(f"data_parallel/{label}/weights", name, np.asarray(value))

    def training(self) -> None:
        try:
            self._training()
        finally:
            self.restore_initial_weights()

    def _training(self) -> None:
        run = self.scenario.run
        weights = self._weights or glorot_weights(self.model_config, self.scenario.seeds.weights)
        batches = self._training_batches()
        cfg = self.training_config()
        # one step alone: the optimizer's update rule, before float32 chaos can build up
        first = self.backend.train_steps(
            self.scratch(weights), batches[:1], cfg, learning_rate=run.learning_rate
        )
        for name, value in first.weights.items():
            self.w.put("training/first_step", name, np.asarray(value))
        result = first
        if len(batches) > 1:
            result = self.backend.train_steps(
                self.scratch(weights), batches, cfg, learning_rate=run.learning_rate
            )
        self.w.put("training", "applied_lr", self._applied_rates(weights, batches, first, result))
        terms = sorted({t for step in result.step_losses for t in step})
        for term in terms:
            values = [float(step.get(term, np.nan)) for step in result.step_losses]
            self.w.put("training/step_losses", term, np.asarray(values, dtype=np.float64))
        self.w.put(
            "training", "learning_rates", np.asarray(result.learning_rates, dtype=np.float64)
        )
        if len(batches) > 1:
            for name, value in result.weights.items():
                self.w.put("training/weights", name, np.asarray(value))

    def _applied_rates(
        self, weights: Mapping[str, np.ndarray], batches: Sequence[Any], first: Any, last: Any
    ) -> np.ndarray:
        """The learning rate of each step measured from the weights it moved and the gradients
        it used (:func:`parity.numeric.applied_learning_rates`), never the reported one."""
        run, cfg = self.scenario.run, self.training_config()
        snapshots = [dict(weights), first.weights]
        for k in range(2, len(batches)):
            partial = self.backend.train_steps(
                self.scratch(weights), batches[:k], cfg, learning_rate=run.learning_rate
            )
            snapshots.append(partial.weights)
        if len(batches) > 1:
            snapshots.append(last.weights)
        grads = [
            self.backend.loss_and_grads(self.scratch(snapshots[k]), batch, cfg).grads
            for k, batch in enumerate(batches)
        ]
        return np.asarray(applied_learning_rates(snapshots, grads), dtype=np.float64)

    def bundles(self) -> None:
        if self._model is None:
            raise SectionFailed("not run: the forward section built no model")
        cfg = self.training_config()
        with tempfile.TemporaryDirectory(prefix="parity-bundle-") as tmp:
            target = Path(self.bundle_dir) if self.bundle_dir is not None else Path(tmp)
            path = Path(self.backend.save_bundle(self._model, target, cfg))
            self._store_bundle_listing(path)
            loaded, params = self.backend.load_bundle(path)
            self.w.put_json("bundles", "loaded_params", params)
            self._store_weight_check(
                "bundle/weights", "bundle_weight_check", self.backend.export_weights(loaded)
            )
            result = self.backend.forward(loaded, self._batch, capture=False)
            for name, value in result.outputs.items():
                self.w.put("bundle/outputs", name, np.asarray(value))
            self.w.put(
                "bundle", "intensity_scale", np.float64(getattr(loaded, "intensity_scale", np.nan))
            )

    def _store_bundle_listing(self, path: Path) -> None:
        data = path.read_bytes()
        entries: dict[str, dict[str, Any]] = {}
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            for info in zf.infolist():
                content = zf.read(info.filename)
                entries[info.filename] = {
                    "size": info.file_size,
                    "sha256": hashlib.sha256(content).hexdigest(),
                }
                if info.filename in ("manifest.json", "params.json"):
                    self.w.put_json("bundles", info.filename.split(".")[0], json.loads(content))
        self.w.put_json("bundles", "entries", entries)
        self.w.put_json("bundles", "file", {"name": path.name, "size": len(data)})

    def inference(self) -> None:
        if self._model is None:
            raise SectionFailed("not run: the forward section built no model")
        assert self.data is not None
        run = self.scenario.run
        test = self.data.test
        groups = min(run.infer_groups, len(test))
        subset = test.subset(list(range(groups))) if groups < len(test) else test
        result = self.backend.infer(
            self._model, subset, batch_size=run.infer_batch_size, crop=run.stitch_crop
        )
        for name in ("patches", "stitched", "amplitude", "phase"):
            self.w.put("inference", name, np.asarray(getattr(result, name)))
        offsets = getattr(subset, "global_offsets", None)
        if offsets is not None:
            self.w.put("inference", "global_offsets", np.asarray(offsets))

    def convergence(self) -> None:
        from backends.training import steps_per_epoch

        conv = self.scenario.convergence
        model_config = self.scenario.convergence_model_config()
        data = self.data_loader(self.scenario, n_groups=conv.n_groups, test_groups=conv.test_groups)
        truth = ground_truth(data.test, self.oracle, model_config.N, self.scenario.run.stitch_crop)
        self.w.put("convergence", "truth", truth)
        metrics_fn = self.metrics_fn or _default_metrics()
        cfg = self.scenario.training_config(data.train_file, data.test_file)
        cfg.model = model_config
        cfg.nepochs = conv.epochs
        if conv.n_groups is not None:
            cfg.n_groups = conv.n_groups
        probe = np.asarray(data.train.probe, dtype=np.complex64)
        scale = data.intensity_scale(model_config.N)
        summary: dict[str, Any] = {}
        own_init: dict[str, Any] = {}
        reference: dict[str, Any] | None = None
        for seed in conv.seeds:
            t0 = time.perf_counter()
            model = self.backend.build(model_config, probe, scale, seed=seed)
            own_init[str(seed)] = weight_summaries(self.backend.export_weights(model))
            if conv.init == "shared":
                shared = glorot_weights(model_config, seed, bias_limit=0.0)
                self.backend.import_weights(model, shared)
            on_step = training_callback(
                self.progress,
                f"{self.label}: convergence seed {seed}",
                conv.epochs,
                steps_per_epoch(len(data.train), cfg.batch_size),
            )
            trained = self.backend.train(
                model, data.train, cfg, seed=seed, epochs=conv.epochs, on_step=on_step
            )
            inferred = self.backend.infer(
                model,
                data.test,
                batch_size=self.scenario.run.infer_batch_size,
                crop=self.scenario.run.stitch_crop,
            )
            recon_region, truth_region = crop_to_covered(np.asarray(inferred.stitched), truth)
            metrics = _flatten_metrics(metrics_fn(recon_region, truth_region))
            if reference is None:
                reference = _flatten_metrics(metrics_fn(flat_object(truth_region), truth_region))
            history = {k: [float(x) for x in v] for k, v in trained.history.items()}
            if history.get("loss"):
                metrics["final_loss"] = history["loss"][-1]
            stage = f"convergence/seed{seed}"
            self.w.put(stage, "step_loss", np.asarray(trained.step_loss, dtype=np.float64))
            for key, values in history.items():
                self.w.put(f"{stage}/history", key, np.asarray(values, dtype=np.float64))
            if seed == conv.seeds[0]:
                self.w.put(stage, "stitched", np.asarray(inferred.stitched))
            summary[str(seed)] = {
                "metrics": metrics,
                "seconds": time.perf_counter() - t0,
                "stopped_epoch": trained.stopped_epoch,
            }
        self.w.put_json("params", "convergence", summary)
        self.w.put_json("params", "convergence_reference", {"flat object": reference or {}})
        self.w.put_json("params", "convergence_init", own_init)

    # -- driver -------------------------------------------------------------------------------

    def run(self) -> None:
        wanted = sections_for(self.scenario.checks)
        self.run_section("backend", self.obtain_backend)
        self.run_section("environment", self.environment, needs=("backend",))
        if any(s in wanted for s in NEEDS_DATA) or "params" in wanted:
            self.run_section("data:load", self.load_data)
        plan: list[tuple[str, Callable[[], None], tuple[str, ...]]] = [
            ("params", self.params, ("backend", "data:load")),
            ("data", self.data_section, ("backend", "data:load")),
            ("ops", self.ops, ("backend",)),
            ("forward", self.forward, ("backend", "data:load")),
            ("gradients", self.gradients, ("forward",)),
            ("training", self.training, ("backend", "data:load")),
            ("data_parallel", self.data_parallel, ("backend", "data:load")),
            ("bundles", self.bundles, ("forward",)),
            ("inference", self.inference, ("forward",)),
            ("convergence", self.convergence, ("backend", "data:load")),
        ]
        needs_forward = {"gradients", "bundles", "inference"} & set(wanted)
        for name, fn, needs in plan:
            if name in wanted or (name == "forward" and needs_forward):
                if name == "forward" and self.await_reference:
                    self.run_section("wait:reference", self.wait_for_reference)
                self.run_section(name, fn, needs)
                if name == "forward":
                    self._publish_feeds(None, {})
        self.w.set_meta(timings=self.timings, git_revision=git_revision())


def weight_summaries(weights: Mapping[str, np.ndarray]) -> dict[str, dict[str, Any]]:
    """Per canonical weight: shape, sample mean, standard deviation and largest magnitude
    (what the initialiser check of the convergence family compares with Glorot theory)."""
    out = {}
    for name, value in weights.items():
        a = np.asarray(value, dtype=np.float64)
        out[name] = {
            "shape": list(a.shape),
            "mean": float(a.mean()),
            "std": float(a.std()),
            "max_abs": float(np.abs(a).max()) if a.size else 0.0,
        }
    return out


def ground_truth(test: Any, oracle: Any, N: int, crop: int) -> np.ndarray:
    """The ground-truth object over the stitched region: patches of ``objectGuess`` at the
    group centroids (physics.md 7.3, bilinear), stitched exactly as the reconstruction is."""
    obj = getattr(test, "objectGuess", None)
    if obj is None:
        raise ValueError("convergence needs ground truth: the test data has no objectGuess")
    obj = np.asarray(obj)
    offsets = np.asarray(test.global_offsets, dtype=np.float64)
    G = offsets.shape[0]
    half = N // 2
    padded = np.pad(obj, half)
    shifts = -offsets.reshape(G, 2)
    patches = np.empty((G, N, N, 1), dtype=np.complex128)
    for g in range(G):
        moved = oracle.translate(padded[None, :, :, None], shifts[g : g + 1])
        patches[g] = np.asarray(moved)[0, :N, :N, :]
    stitched = oracle.stitch(patches.astype(np.complex64), offsets.reshape(G, 1, 2, 1), crop=crop)
    return np.asarray(stitched).reshape(np.asarray(stitched).shape[0], -1)


def record(
    backend_spec: str,
    scenario: Any,
    out: Path,
    *,
    reference: Path | None = None,
    oracle: Any = None,
    data_loader: Callable[..., datasets.ScenarioData] | None = None,
    defects: Sequence[str] = (),
    metrics_fn: Callable[[np.ndarray, np.ndarray], Mapping[str, Any]] | None = None,
    progress: Reporter | None = None,
    bundle_dir: Path | None = None,
    device: str | None = None,
    feeds_out: Path | None = None,
    await_reference: bool = False,
) -> Path:
    """Record ``backend_spec`` through ``scenario`` into the trace ``out`` (written atomically).

    ``reference`` is a trace of the reference backend whose activations feed the single-step
    checks. ``oracle`` defaults to :mod:`backends.physics`, ``data_loader`` to
    :func:`parity.datasets.load`. ``device`` (cpu, gpu or auto; default the scenario's
    ``[run] device``) is where the backend computes; ``gpu`` without a visible GPU is an error
    of the ``backend`` section. Errors inside sections are recorded, not raised.

    For two recordings side by side (:mod:`parity.isolation`): ``feeds_out`` receives what the
    candidate's single-step checks need as soon as the forward section ends; with
    ``await_reference`` the candidate waits for that file (``reference``), or for its
    :func:`absent_marker`, before its forward section.
    """
    if oracle is None:
        from parity.registry import get_oracle

        try:
            oracle = get_oracle()
        except Exception:
            oracle = None
    with TraceWriter(Path(out), backend_spec, scenario) as writer:
        recorder = Recorder(
            writer,
            scenario,
            backend_spec,
            reference=reference,
            oracle=oracle,
            data_loader=data_loader or datasets.load,
            defects=defects,
            metrics_fn=metrics_fn,
            progress=progress or Silent(),
            bundle_dir=bundle_dir,
            device=device or scenario.run.device,
            feeds_out=feeds_out,
            await_reference=await_reference,
        )
        recorder.run()
    return Path(out)
