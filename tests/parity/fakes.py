"""NumPy test doubles of a backend, a dataset and the reconstruction metrics.

:class:`FakeBackend` implements :class:`backends.base.Backend` with the real network of
docs/model.md (weights named and shaped by :mod:`backends.graph`, every stage captured) in float32
NumPy, the physics of :mod:`tests.parity.fake_physics`, and Keras-form Adam. Its gradients are
those of a surrogate (``kappa * w`` with a batch-dependent ``kappa``) rather than of the loss: the
harness compares gradients across backends, it does not differentiate. Injected defects switch
the fake's internals exactly where a naive port would have them.

Backends are addressed by spec strings, so they work in subprocesses too:
``tests.parity.fakes:reference``, ``tests.parity.fakes:candidate`` (same code, another name),
``tests.parity.fakes:noisy`` (adds float32-level noise to every stage) and
``tests.parity.fakes:crashing`` (raises in forward).
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import time
import zipfile
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from backends.base import (
    Batch,
    ForwardResult,
    InferenceResult,
    LossResult,
    StepsResult,
    TrainResult,
)
from backends.config.canonical import ModelConfig
from backends.graph import (
    C_OUTER,
    decoder_filters,
    encoder_filters,
    padded_size,
    stages,
    weight_shapes,
)
from parity import defects as defect_registry
from tests.parity import fake_physics as ph

KIND = "numpy-fake"
INTERNAL_DEFECTS = (
    "fftshift-dropped",
    "half-pixel-translation",
    "translation-sign-flipped",
    "merge-clamped",
    "adam-epsilon",
    "poisson-log-factorial",
    "kernel-transposed",
)
KEY_MAPPINGS = {
    "object_big": "object.big",
    "probe_big": "probe.big",
    "probe_mask": "probe.mask",
    "probe_trainable": "probe.trainable",
    "intensity_scale_trainable": "intensity_scale.trainable",
    "positions_provided": "positions.provided",
    "output_dir": "output_prefix",
    "train_data_file": "train_data_file_path",
    "test_data_file": "test_data_file_path",
}


class FakeOps:
    """The ops namespace: fake_physics in float32/complex64, with optional defects."""

    def __init__(self, defects: frozenset[str]) -> None:
        self.defects = defects

    @staticmethod
    def _f32(x: Any) -> Any:
        a = np.asarray(x)
        if np.iscomplexobj(a):
            return a.astype(np.complex64)
        if a.dtype.kind == "f":
            return a.astype(np.float32)
        return a

    def _translate(self, images: np.ndarray, shifts: np.ndarray) -> np.ndarray:
        offset = -0.5 if "half-pixel-translation" in self.defects else 0.0
        return ph.translate(images, shifts, offset=offset)

    def combine_complex(self, amp: np.ndarray, phi: np.ndarray, mode: str = "polar") -> np.ndarray:
        return self._f32(ph.combine_complex(amp, phi, mode))

    def default_probe(self, N: int, default_probe_scale: float = 0.7) -> np.ndarray:
        return self._f32(ph.default_probe(N, default_probe_scale))

    def probe_mask(self, N: int) -> np.ndarray:
        return self._f32(ph.probe_mask(N))

    def center_mask(self, N: int) -> np.ndarray:
        return self._f32(ph.center_mask(N))

    def normalize_probe(self, probe: np.ndarray, probe_scale: float) -> np.ndarray:
        return self._f32(ph.normalize_probe(probe, probe_scale))

    def illuminate(
        self, obj: np.ndarray, probe: np.ndarray, sigma: float = 0.0, mask: bool = False
    ) -> np.ndarray:
        return self._f32(ph.illuminate(obj, probe, sigma, mask))

    def diffract(self, psi: np.ndarray) -> np.ndarray:
        return self._f32(ph.diffract(psi, shift="fftshift-dropped" not in self.defects))

    def translate(self, images: np.ndarray, shifts: np.ndarray) -> np.ndarray:
        return self._f32(self._translate(images, shifts))

    def _sign(self, positions: np.ndarray) -> np.ndarray:
        p = np.asarray(positions)
        return -p if "translation-sign-flipped" in self.defects else p

    def extract_patches(self, canvas: np.ndarray, positions: np.ndarray, N: int) -> np.ndarray:
        return self._f32(ph.extract_with(canvas, self._sign(positions), N, self._translate))

    def merge_patches(self, patches: np.ndarray, positions: np.ndarray, M: int) -> np.ndarray:
        return self._f32(
            ph.merge_with(
                patches,
                self._sign(positions),
                M,
                self._translate,
                clamp="merge-clamped" in self.defects,
            )
        )

    def pad_to(self, x: np.ndarray, M: int) -> np.ndarray:
        return self._f32(ph.pad_to(x, M))

    def trim(self, canvas: np.ndarray, N: int) -> np.ndarray:
        return self._f32(ph.trim(canvas, N))

    def flat_to_channel(self, x: np.ndarray, C: int) -> np.ndarray:
        return self._f32(ph.flat_to_channel(x, C))

    def channel_to_flat(self, x: np.ndarray) -> np.ndarray:
        return self._f32(ph.channel_to_flat(x))

    def gaussian_smooth(self, x: np.ndarray, sigma: float) -> np.ndarray:
        return self._f32(ph.gaussian_smooth(x, sigma))

    def stitch(self, patches: np.ndarray, offsets: np.ndarray, crop: int = 20) -> np.ndarray:
        return self._f32(ph.stitch(patches, offsets, crop))

    def poisson_nll(self, pred_intensity: np.ndarray, target_intensity: np.ndarray) -> float:
        value = ph.poisson_nll(pred_intensity, target_intensity)
        if "poisson-log-factorial" in self.defects:
            from scipy.special import gammaln

            value += float(np.mean(gammaln(np.asarray(target_intensity, np.float64) + 1.0)))
        return float(np.float32(value))

    def mae(self, pred: np.ndarray, target: np.ndarray) -> float:
        return float(np.float32(ph.mae(pred, target)))

    def total_variation(self, z: np.ndarray) -> float:
        return float(np.float32(ph.total_variation(z)))

    def complex_mae(self, target: np.ndarray, z: np.ndarray) -> float:
        return float(np.float32(ph.complex_mae(target, z)))


@dataclasses.dataclass
class FakeModel:
    """A built fake model: internal weights in OIHW (as a channels-first framework keeps them)."""

    backend: str
    config: ModelConfig
    intensity_scale: float
    probe: np.ndarray
    weights: dict[str, np.ndarray]
    log_scale: np.float32


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0, out=x)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return (1.0 / (1.0 + np.exp(-x))).astype(np.float32)


def _conv(x: np.ndarray, kernel_hwio: np.ndarray, bias: np.ndarray) -> np.ndarray:
    B, H, W, _ = x.shape
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    out = np.zeros((B, H, W, kernel_hwio.shape[3]), np.float32)
    for dy in range(3):
        for dx in range(3):
            out += xp[:, dy : dy + H, dx : dx + W, :] @ kernel_hwio[dy, dx]
    out += bias
    return out


def _pool(x: np.ndarray) -> np.ndarray:
    B, H, W, C = x.shape
    return x.reshape(B, H // 2, 2, W // 2, 2, C).max(axis=(2, 4))


def _up(x: np.ndarray) -> np.ndarray:
    return x.repeat(2, axis=1).repeat(2, axis=2)


class FakeBackend:
    """A NumPy backend implementing :class:`backends.base.Backend` (see the module docstring)."""

    defect_kind = KIND

    def __init__(
        self,
        name: str = "fake-reference",
        defects: Sequence[str] = (),
        noise: float = 0.0,
        crash_in: str | None = None,
    ) -> None:
        self.name = name
        self.defects = frozenset(defects)
        self.ops = FakeOps(self.defects)
        self.noise = noise
        self.crash_in = crash_in

    def with_defect(self, defect: str) -> FakeBackend:
        return FakeBackend(self.name, (*self.defects, defect), self.noise, self.crash_in)

    # -- environment and config ---------------------------------------------------------------

    def environment(self) -> dict[str, Any]:
        return {
            "versions": {"numpy": np.__version__},
            "device": "cpu",
            "threads": 1,
            "deterministic": True,
        }

    def legacy_params(self, config: Any) -> dict[str, Any]:
        raw = dataclasses.asdict(config)
        model = raw.pop("model")
        raw.update(model)
        out: dict[str, Any] = {}
        for key, value in raw.items():
            if key in KEY_MAPPINGS:
                continue
            out[key] = str(value) if isinstance(value, Path) else value
        for key, legacy in KEY_MAPPINGS.items():
            value = raw[key]
            out[legacy] = str(value) if isinstance(value, Path) else value
        out["backend"] = self.name
        return out

    # -- weights ------------------------------------------------------------------------------

    def _perm(self) -> tuple[int, int, int, int]:
        return (3, 2, 1, 0) if "kernel-transposed" in self.defects else (3, 2, 0, 1)

    def _to_internal(self, name: str, value: np.ndarray) -> np.ndarray:
        v = np.asarray(value, np.float32)
        return np.ascontiguousarray(v.transpose(self._perm())) if v.ndim == 4 else v.copy()

    def _from_internal(self, name: str, value: np.ndarray) -> np.ndarray:
        if value.ndim != 4:
            return value.copy()
        inverse = np.argsort(self._perm())
        return np.ascontiguousarray(value.transpose(tuple(int(i) for i in inverse)))

    def _hwio(self, model: FakeModel, name: str) -> np.ndarray:
        return model.weights[name].transpose(2, 3, 1, 0)

    def build(
        self,
        config: ModelConfig,
        probe: np.ndarray,
        intensity_scale: float,
        weights: Mapping[str, np.ndarray] | None = None,
        seed: int = 0,
    ) -> FakeModel:
        shapes = weight_shapes(config)
        if weights is None:
            rng = np.random.default_rng(seed)
            weights = {}
            for name, shape in shapes.items():
                if len(shape) == 4:
                    lim = math.sqrt(6.0 / (9 * shape[2] + 9 * shape[3]))
                    weights[name] = rng.uniform(-lim, lim, shape).astype(np.float32)
                else:
                    weights[name] = np.zeros(shape, np.float32)
        model = FakeModel(
            self.name,
            config,
            float(intensity_scale),
            np.asarray(probe, np.complex64),
            {},
            np.float32(math.log(float(intensity_scale))),
        )
        self.import_weights(model, weights)
        return model

    def export_weights(self, model: FakeModel) -> dict[str, np.ndarray]:
        return {k: self._from_internal(k, v) for k, v in model.weights.items()}

    def import_weights(self, model: FakeModel, weights: Mapping[str, np.ndarray]) -> None:
        shapes = weight_shapes(model.config)
        if set(weights) != set(shapes):
            raise ValueError(f"weight names differ: {sorted(set(weights) ^ set(shapes))[:3]}")
        for name, shape in shapes.items():
            if tuple(np.shape(weights[name])) != shape:
                raise ValueError(f"{name}: shape {np.shape(weights[name])} != {shape}")
        model.weights = {k: self._to_internal(k, weights[k]) for k in shapes}

    # -- the network, stage by stage ----------------------------------------------------------

    def _noise(self, name: str, x: np.ndarray) -> np.ndarray:
        if not self.noise:
            return x
        rng = np.random.default_rng(zlib.crc32(name.encode()))
        scale = 1.0 + self.noise * rng.uniform(-1, 1, size=np.shape(x))
        return (np.asarray(x) * scale).astype(np.asarray(x).dtype)

    def _stage_fns(self, model: FakeModel) -> dict[str, Any]:
        cfg = model.config
        N = cfg.N
        C = cfg.gridsize**2
        M = padded_size(cfg)
        w = model.weights
        q = ph.center_mask(N).astype(np.float32)[None, :, :, None]

        def conv(x: np.ndarray, name: str) -> np.ndarray:
            return _conv(x, self._hwio(model, f"{name}.kernel"), w[f"{name}.bias"])

        fns: dict[str, Any] = {
            "intensity_scaler": lambda f: (f["input"] / np.exp(model.log_scale)).astype(np.float32)
        }
        prev = "intensity_scaler"
        for i in range(1, len(encoder_filters(cfg)) + 1):

            def enc(f: Any, i: int = i, prev: str = prev) -> np.ndarray:
                x = _relu(conv(f[prev], f"enc{i}.conv1"))
                return _pool(_relu(conv(x, f"enc{i}.conv2")))

            fns[f"enc{i}"] = enc
            prev = f"enc{i}"
        bottleneck = prev
        for head, act_name in (("amp", "amp"), ("phase", "phi")):
            p = bottleneck
            for j in range(1, len(decoder_filters(cfg)) + 1):

                def dec(f: Any, j: int = j, p: str = p, head: str = head) -> np.ndarray:
                    x = _relu(conv(f[p], f"{head}.dec{j}.conv1"))
                    return _up(_relu(conv(x, f"{head}.dec{j}.conv2")))

                fns[f"{head}.dec{j}"] = dec
                p = f"{head}.dec{j}"

            def activation(x: np.ndarray, head: str = head) -> np.ndarray:
                if head == "phase":
                    return (math.pi * np.tanh(x)).astype(np.float32)
                kind = cfg.amp_activation
                if kind == "sigmoid":
                    return _sigmoid(x)
                if kind == "swish":
                    return (x * _sigmoid(x)).astype(np.float32)
                if kind == "softplus":
                    return np.log1p(np.exp(x)).astype(np.float32)
                return np.maximum(x, 0).astype(np.float32)

            def main(
                f: Any, p: str = p, head: str = head, activation: Any = activation
            ) -> np.ndarray:
                h = f[p][..., :-C_OUTER]
                return activation(conv(h, f"{head}.head.conv_main"))

            def border(h: np.ndarray, head: str) -> np.ndarray:
                b = _relu(conv(h, f"{head}.head.border.conv1"))
                b = _up(_relu(conv(b, f"{head}.head.border.conv2")))
                return conv(b, f"{head}.head.conv_border_out")

            def head_out(
                f: Any, p: str = p, head: str = head, main: Any = main, activation: Any = activation
            ) -> np.ndarray:
                if not cfg.pad_object:
                    return activation(border(f[p], head))
                m = main(f)
                pad = N // 4
                m = np.pad(m, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
                if not cfg.probe_big:
                    return m
                b = border(f[p][..., -C_OUTER:], head)
                b = (b * _sigmoid(b)) * (1.0 - q)
                return (m + b).astype(np.float32)

            if cfg.pad_object:
                fns[act_name] = main
            fns[f"{head}.head"] = head_out

        ops = self.ops
        probe_norm = ops.normalize_probe(model.probe, cfg.probe_scale)
        fns["obj"] = lambda f: ops.combine_complex(f["amp.head"], f["phase.head"], cfg.combine_mode)
        if cfg.object_big:
            fns["padded_obj_2"] = lambda f: ops.merge_patches(f["obj"], f["input_positions"], M)
        else:
            fns["padded_obj_2"] = lambda f: ops.pad_to(f["obj"], M)
        fns["trimmed_obj"] = lambda f: ops.trim(f["padded_obj_2"], N)
        fns["padded_objs_with_offsets"] = lambda f: ops.extract_patches(
            f["padded_obj_2"], f["input_positions"], N
        )
        fns["probe_illumination"] = lambda f: ops.illuminate(
            f["padded_objs_with_offsets"], probe_norm, cfg.gaussian_smoothing_sigma, cfg.probe_mask
        )
        fns["pred_amplitude"] = lambda f: ops.diffract(f["probe_illumination"])
        fns["pred_diff_channels"] = lambda f: ops.flat_to_channel(f["pred_amplitude"], C)
        fns["intensity_scaler_inv"] = lambda f: (
            f["pred_diff_channels"] * np.exp(model.log_scale)
        ).astype(np.float32)
        fns["pred_intensity"] = lambda f: np.square(f["intensity_scaler_inv"]).astype(np.float32)
        return fns

    def forward(self, model: FakeModel, batch: Batch, capture: bool = False) -> ForwardResult:
        if self.crash_in == "forward":
            raise RuntimeError("injected crash in forward")
        fns = self._stage_fns(model)
        feeds: dict[str, np.ndarray] = {
            "input": (np.float32(model.intensity_scale) * np.asarray(batch.X, np.float32)),
            "input_positions": np.asarray(batch.positions, np.float32),
        }
        for stage in stages(model.config):
            feeds[stage.name] = self._noise(stage.name, fns[stage.name](feeds))
        outputs = {
            "trimmed_obj": feeds["trimmed_obj"],
            "pred_amp_scaled": feeds["intensity_scaler_inv"],
            "pred_intensity": feeds["pred_intensity"],
        }
        acts = {s.name: feeds[s.name] for s in stages(model.config)} if capture else {}
        return ForwardResult(outputs, acts)

    def run_stage(
        self, model: FakeModel, stage: str, feeds: Mapping[str, np.ndarray]
    ) -> np.ndarray:
        fns = self._stage_fns(model)
        if stage not in fns:
            raise KeyError(f"unknown stage {stage!r}")
        return self._noise(stage, fns[stage](dict(feeds)))

    # -- losses, gradients, training ----------------------------------------------------------

    def _losses(self, model: FakeModel, batch: Batch, config: Any) -> dict[str, float]:
        out = self.forward(model, batch).outputs
        s = np.float32(model.intensity_scale)
        target_amp = s * np.asarray(batch.X, np.float32)
        nll = self.ops.poisson_nll(out["pred_intensity"], np.square(target_amp))
        mae = self.ops.mae(out["pred_amp_scaled"], target_amp)
        total = config.nll_weight * nll + config.mae_weight * mae
        return {"total": float(np.float32(total)), "nll": nll, "mae": mae, "realspace": 0.0}

    def _grads(self, model: FakeModel, losses: Mapping[str, float]) -> dict[str, np.ndarray]:
        kappa = np.float32(1e-4 * (1.0 + 0.1 * math.tanh(math.log1p(abs(losses["total"])))))
        return {k: kappa * v for k, v in self.export_weights(model).items()}

    def loss_and_grads(self, model: FakeModel, batch: Batch, config: Any) -> LossResult:
        losses = self._losses(model, batch, config)
        return LossResult(losses, self._grads(model, losses))

    def train_steps(
        self, model: FakeModel, batches: Sequence[Batch], config: Any, learning_rate: float = 1e-3
    ) -> StepsResult:
        eps = 1e-8 if "adam-epsilon" in self.defects else 1e-7
        b1, b2 = 0.9, 0.999
        weights = self.export_weights(model)
        m = {k: np.zeros_like(v) for k, v in weights.items()}
        v2 = {k: np.zeros_like(v) for k, v in weights.items()}
        step_losses = []
        for t, batch in enumerate(batches, start=1):
            losses = self._losses(model, batch, config)
            grads = self._grads(model, losses)
            step_losses.append(losses)
            corr = math.sqrt(1 - b2**t) / (1 - b1**t)
            for k in weights:
                m[k] = b1 * m[k] + (1 - b1) * grads[k]
                v2[k] = b2 * v2[k] + (1 - b2) * grads[k] * grads[k]
                weights[k] = (
                    weights[k] - learning_rate * corr * m[k] / (np.sqrt(v2[k]) + eps)
                ).astype(np.float32)
            self.import_weights(model, weights)
        return StepsResult(step_losses, self.export_weights(model), [learning_rate] * len(batches))

    def train(
        self,
        model: FakeModel,
        train_data: Any,
        config: Any,
        seed: int = 0,
        epochs: int | None = None,
        on_step: Any = None,
        progress: bool = False,
    ) -> TrainResult:
        t0 = time.perf_counter()
        epochs = epochs or config.nepochs
        history: dict[str, list[float]] = {"loss": [], "val_loss": [], "lr": []}
        step_loss: list[float] = []
        n = len(train_data)
        for epoch in range(epochs):
            order = np.random.default_rng(seed * 1000 + epoch).permutation(n)
            batches = [
                train_data.batch(order[i : i + config.batch_size].tolist())
                for i in range(0, n, config.batch_size)
            ]
            result = self.train_steps(model, batches, config)
            losses = [s["total"] for s in result.step_losses]
            step_loss += losses
            history["loss"].append(float(np.mean(losses)))
            history["lr"].append(1e-3)
        return TrainResult(
            history, step_loss, self.export_weights(model), None, time.perf_counter() - t0
        )

    def infer(
        self, model: FakeModel, data: Any, batch_size: int = 64, crop: int = 20
    ) -> InferenceResult:
        n = len(data)
        patches = []
        for i in range(0, n, batch_size):
            idx = list(range(i, min(n, i + batch_size)))
            patches.append(self.forward(model, data.batch(idx)).outputs["trimmed_obj"])
        all_patches = np.concatenate(patches).astype(np.complex64)
        stitched = self.ops.stitch(all_patches, np.asarray(data.global_offsets), crop)[..., 0]
        return InferenceResult(
            all_patches,
            stitched,
            np.abs(stitched).astype(np.float32),
            np.angle(stitched).astype(np.float32),
        )

    # -- bundles ------------------------------------------------------------------------------

    def save_bundle(self, model: FakeModel, bundle_dir: Path, config: Any) -> Path:
        bundle_dir = Path(bundle_dir)
        bundle_dir.mkdir(parents=True, exist_ok=True)
        params = self.legacy_params(config)
        params["intensity_scale"] = model.intensity_scale
        weights = io.BytesIO()
        np.savez(weights, **self.export_weights(model))
        probe = io.BytesIO()
        np.save(probe, model.probe)
        manifest = {
            "format": "ptychopinn-model-bundle",
            "format_version": "1.0",
            "backend": self.name,
            "version": "fake",
            "models": ["autoencoder", "diffraction_to_obj"],
            "payloads": {
                "diffraction_to_obj": {"format": "npz", "files": {}},
                "autoencoder": {"alias_of": "diffraction_to_obj"},
            },
            "params_file": "params.json",
            "arrays": {"probe": {"path": "arrays/probe.npy"}},
            "intensity_scale": model.intensity_scale,
            "model_geometry": {
                "N": model.config.N,
                "gridsize": model.config.gridsize,
                "channels": model.config.gridsize**2,
                "model_type": model.config.model_type,
            },
            "producer": {"name": "fake"},
        }
        path = bundle_dir / "wts.h5.zip"
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("manifest.json", json.dumps(manifest, sort_keys=True))
            zf.writestr("params.json", json.dumps(params, sort_keys=True))
            zf.writestr("arrays/probe.npy", probe.getvalue())
            zf.writestr("diffraction_to_obj/weights.npz", weights.getvalue())
        return path

    def load_bundle(self, path: Path) -> tuple[FakeModel, dict[str, Any]]:
        with zipfile.ZipFile(path) as zf:
            manifest = json.loads(zf.read("manifest.json"))
            params = json.loads(zf.read("params.json"))
            probe = np.load(io.BytesIO(zf.read("arrays/probe.npy")), allow_pickle=False)
            with np.load(
                io.BytesIO(zf.read("diffraction_to_obj/weights.npz")), allow_pickle=False
            ) as z:
                weights = {k: z[k] for k in z.files}
        if manifest["backend"] != self.name:
            raise ValueError(f"{path} was written by {manifest['backend']!r}, not {self.name!r}")
        cfg = ModelConfig(
            N=params["N"],
            gridsize=params["gridsize"],
            n_filters_scale=params["n_filters_scale"],
            model_type=params["model_type"],
            amp_activation=params["amp_activation"],
            object_big=params["object.big"],
            probe_big=params["probe.big"],
            probe_mask=params["probe.mask"],
            pad_object=params["pad_object"],
            probe_scale=params.get("probe_scale", 4.0),
            gaussian_smoothing_sigma=params["gaussian_smoothing_sigma"],
            combine_mode=params.get("combine_mode", "polar"),
        )
        return self.build(cfg, probe, manifest["intensity_scale"], weights=weights), dict(params)


def reference() -> FakeBackend:
    return FakeBackend("fake-reference")


def candidate() -> FakeBackend:
    return FakeBackend("fake-candidate")


def noisy() -> FakeBackend:
    return FakeBackend("fake-noisy", noise=3e-7)


def drifted() -> FakeBackend:
    """The reference backend after a change that moves every stage by 1e-3 (regression)."""
    return FakeBackend("fake-reference", noise=1e-3)


def crashing() -> FakeBackend:
    return FakeBackend("fake-crashing", crash_in="forward")


def dying() -> FakeBackend:
    """A backend whose process dies (for the subprocess isolation tests)."""
    import os

    os._exit(3)


for _name in INTERNAL_DEFECTS:
    defect_registry.register_patcher(_name, KIND, lambda b, _n=_name: b.with_defect(_n))


# -- data --------------------------------------------------------------------------------------


@dataclasses.dataclass
class FakeContainer:
    """A model-ready container with the fields of docs/data.md 8."""

    X: np.ndarray
    Y: np.ndarray
    coords_nominal: np.ndarray
    global_offsets: np.ndarray
    local_offsets: np.ndarray
    nn_indices: np.ndarray
    probe: np.ndarray
    nphotons: float
    objectGuess: np.ndarray

    @property
    def Y_I(self) -> np.ndarray:
        return np.abs(self.Y).astype(np.float32)

    @property
    def Y_phi(self) -> np.ndarray:
        return np.angle(self.Y).astype(np.float32)

    @property
    def coords_true(self) -> np.ndarray:
        return self.coords_nominal

    @property
    def norm_Y_I(self) -> np.float32:
        return np.float32(
            math.sqrt(self.nphotons / np.mean(np.sum(self.X.astype(np.float64) ** 2, axis=(1, 2))))
        )

    @property
    def N(self) -> int:
        return int(self.X.shape[1])

    @property
    def C(self) -> int:
        return int(self.X.shape[3])

    def __len__(self) -> int:
        return int(self.X.shape[0])

    def subset(self, indices: Sequence[int]) -> FakeContainer:
        idx = np.asarray(indices)
        return FakeContainer(
            self.X[idx],
            self.Y[idx],
            self.coords_nominal[idx],
            self.global_offsets[idx],
            self.local_offsets[idx],
            self.nn_indices[idx],
            self.probe,
            self.nphotons,
            self.objectGuess,
        )

    def batch(self, indices: Sequence[int]) -> Batch:
        idx = np.asarray(indices)
        return Batch(self.X[idx], self.coords_nominal[idx], self.Y_I[idx])


def _lines_object(size: int, rng: np.random.Generator) -> np.ndarray:
    img = np.zeros((size, size))
    yy, xx = np.mgrid[0:size, 0:size]
    for _ in range(12):
        angle = rng.uniform(0, math.pi)
        offset = rng.uniform(-size / 2, size / 2)
        d = (xx - size / 2) * math.cos(angle) + (yy - size / 2) * math.sin(angle) - offset
        img += np.exp(-(d**2) / 4.0)
    img = 0.3 + 0.7 * img / img.max()
    phase = 0.5 * (img - img.mean())
    return (img * np.exp(1j * phase)).astype(np.complex64)


def _container(N: int, gridsize: int, groups: int, seed: int, nphotons: float) -> FakeContainer:
    rng = np.random.default_rng(seed)
    size = int(2.5 * N)
    obj = _lines_object(size, rng)
    n_pos = max(groups * 2, 16)
    pos = rng.uniform(N / 2 + 2, size - N / 2 - 2, size=(n_pos, 2))
    C = gridsize * gridsize
    nn = np.empty((groups, C), np.int64)
    for g in range(groups):
        d = np.sum((pos - pos[g]) ** 2, axis=1)
        nn[g] = np.argsort(d, kind="stable")[:C]
    coords = pos[nn]  # (G, C, 2) [x, y]
    centroid = coords.mean(axis=1)
    padded = np.pad(obj, N // 2)
    patches = np.empty((groups, N, N, C), np.complex64)
    for g in range(groups):
        for c in range(C):
            moved = ph.translate(padded[None, :, :, None], -coords[g, c][None])
            patches[g, :, :, c] = moved[0, :N, :N, 0]
    probe = ph.default_probe(N).astype(np.complex64)
    flat = patches.transpose(0, 3, 1, 2).reshape(-1, N, N, 1)
    amp = ph.diffract(ph.illuminate(flat, probe)).reshape(groups, C, N, N).transpose(0, 2, 3, 1)
    factor = math.sqrt((N / 2) ** 2 / np.mean(np.sum(amp**2, axis=(1, 2))))
    X = (factor * amp).astype(np.float32)
    rel = -(coords - centroid[:, None, :])  # centroid - position, (G, C, 2)
    coords_nominal = rel.transpose(0, 2, 1)[:, None, :, :].astype(np.float32)
    offsets = centroid[:, None, :, None].astype(np.float64)
    return FakeContainer(
        X,
        patches,
        coords_nominal,
        offsets,
        coords_nominal.astype(np.float64),
        nn,
        probe,
        float(nphotons),
        obj,
    )


def make_data(
    scenario: Any, n_groups: int | None = None, test_groups: int | None = None
) -> tuple[FakeContainer, FakeContainer]:
    """Dataset factory for scenarios with ``dataset = "python:tests.parity.fakes:make_data"``."""
    cfg = scenario.model_config()
    groups = n_groups or int(scenario.config.get("n_groups", 16))
    tgroups = test_groups or scenario.run.infer_groups
    nphotons = float(scenario.config.get("nphotons", 1e9))
    train = _container(cfg.N, cfg.gridsize, groups, scenario.seeds.data, nphotons)
    test = _container(cfg.N, cfg.gridsize, tgroups, scenario.seeds.data + 1000, nphotons)
    return train, test


def metrics(recon: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Reconstruction metrics for the convergence tests (amplitude and phase MAE)."""
    r, t = np.asarray(recon), np.asarray(truth)
    return {
        "amp_mae": float(np.mean(np.abs(np.abs(r) - np.abs(t)))),
        "phase_mae": float(np.mean(np.abs(np.angle(r * np.conj(t))))),
    }
