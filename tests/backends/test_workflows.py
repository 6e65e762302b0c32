"""Training, inference and conversion workflows, with NumPy stand-ins for the backends.

The stand-ins implement the parts of :class:`backends.base.Backend` the workflows use, with
the real bundle module underneath. ``FakeBackend("pytorch")`` keeps its kernels in OIHW, so a
conversion that forgot a layout transpose would change its forward output. The real backends
run in the tests marked tensorflow / pytorch / both at the end (slow).
"""

from __future__ import annotations

import io
import json
import math
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from backends import physics, workflows
from backends.base import Batch, ForwardResult, InferenceResult, TrainResult
from backends.bundle import (
    BundleBackendMismatchError,
    check_save_gate,
    check_snapshot_consistency,
    read_bundle,
    restore_params,
    write_bundle,
)
from backends.config import ModelConfig, TrainingConfig
from backends.config.legacy import LegacyParams, to_legacy_snapshot, update_legacy_dict
from backends.graph import weight_shapes
from backends.weights import check_weights, convert_weights

SMALL = "builtin:lines-64-small"


@dataclass
class FakeModel:
    backend: str
    config: ModelConfig
    intensity_scale: float
    probe: np.ndarray
    internal: dict[str, np.ndarray]  # the backend's own layout


class FakeBackend:
    """A NumPy backend: ``pytorch`` stores kernels OIHW, ``tensorflow`` HWIO."""

    PAYLOAD: ClassVar[dict[str, tuple[str, str]]] = {
        "tensorflow": ("keras-weights-h5", "model.weights.h5"),
        "pytorch": ("torch-state-dict", "model.pt"),
    }

    def __init__(self, name: str, *, broken_import: bool = False) -> None:
        self.name = name
        self.layout = "pytorch" if name == "pytorch" else "reference"
        self.broken_import = broken_import
        self.trained_with: dict[str, Any] = {}

    # weights ---------------------------------------------------------------------------
    def build(
        self,
        config: ModelConfig,
        probe: np.ndarray,
        intensity_scale: float,
        weights: Mapping[str, np.ndarray] | None = None,
        seed: int = 0,
    ) -> FakeModel:
        if weights is None:
            rng = np.random.default_rng(seed)
            weights = {
                n: rng.standard_normal(s).astype(np.float32) * 0.1
                for n, s in weight_shapes(config).items()
            }
        check_weights(weights, config)
        internal = convert_weights(weights, to=self.layout)
        if self.broken_import:  # forgets the OIHW transpose, reshaping instead
            internal = {n: np.asarray(w).reshape(internal[n].shape) for n, w in weights.items()}
        probe = np.asarray(probe).reshape(config.N, config.N).astype(np.complex64)
        return FakeModel(self.name, config, float(intensity_scale), probe, internal)

    def export_weights(self, model: FakeModel) -> dict[str, np.ndarray]:
        return convert_weights(model.internal, to="reference", source=self.layout)

    # compute ---------------------------------------------------------------------------
    def forward(self, model: FakeModel, batch: Batch, capture: bool = False) -> ForwardResult:
        k = model.internal["enc1.conv1.kernel"]
        x = np.asarray(batch.X, np.float64)[:, :3, :3, :] * model.intensity_scale
        eq = "bhwi,oihw,o->b" if self.layout == "pytorch" else "bhwi,hwio,o->b"
        feature = np.einsum(
            eq, x, k, np.arange(1, k.shape[0 if self.layout == "pytorch" else 3] + 1)
        )
        b = model.internal["amp.dec1.conv1.bias"][:2].sum()
        N = model.config.N
        obj = (feature[:, None, None, None] + b) * np.exp(0.3j) * np.ones((1, N, N, 1))
        return ForwardResult(
            outputs={
                "trimmed_obj": obj.astype(np.complex64),
                "pred_intensity": np.abs(obj).astype(np.float32) ** 2,
            }
        )

    def train(
        self,
        model: FakeModel,
        train_data: Any,
        config: TrainingConfig,
        seed: int = 0,
        epochs: int | None = None,
        on_step: Any = None,
        progress: bool = False,
        execution: Any = None,
        checkpoint: Any = None,
        resume: Any = None,
    ) -> TrainResult:
        n = int(config.nepochs if epochs is None else epochs)
        self.trained_with = {
            "groups": len(train_data),
            "epochs": n,
            "seed": seed,
            "progress": progress,
        }
        if execution is not None:
            self.trained_with["execution"] = dict(execution)
        steps = math.ceil(len(train_data) / config.batch_size)
        step_loss = [1.0 / (1 + i) for i in range(n * steps)]
        loss = [float(np.mean(step_loss[e * steps : (e + 1) * steps])) for e in range(n)]
        return TrainResult(
            history={"loss": loss, "val_loss": [x * 1.1 for x in loss], "lr": [1e-3] * n},
            step_loss=step_loss,
            weights=self.export_weights(model),
            seconds=0.5,
        )

    def infer(
        self, model: FakeModel, data: Any, batch_size: int = 64, crop: int = 20
    ) -> InferenceResult:
        """The ground-truth patches stitched: a perfect reconstruction up to interpolation."""
        patches = np.asarray(data.Y[..., :1], np.complex64)
        stitched = physics.stitch(patches, data.global_offsets, crop=crop)[..., 0].astype(
            np.complex64
        )
        return InferenceResult(patches, stitched, np.abs(stitched), np.angle(stitched))

    # persistence -----------------------------------------------------------------------
    def save_bundle(self, model: FakeModel, bundle_dir: Path, config: TrainingConfig) -> Path:
        params = LegacyParams()
        update_legacy_dict(params, config)
        params["intensity_scale"] = model.intensity_scale
        params["probe"] = model.probe[..., None]
        params["backend"] = self.name
        check_save_gate(params)
        check_snapshot_consistency(dict(params), to_legacy_snapshot(config))
        buf = io.BytesIO()
        np.savez(buf, **model.internal)  # type: ignore[arg-type]
        fmt, fname = self.PAYLOAD[self.name]
        return write_bundle(
            bundle_dir,
            backend=self.name,
            payloads={
                "diffraction_to_obj": {fname: buf.getvalue()},
                "autoencoder": {"alias_of": "diffraction_to_obj"},
            },
            payload_formats={"diffraction_to_obj": fmt},
            params=dict(params),
            model_geometry=config.model,
            producer={"framework": "numpy"},
        )

    def load_bundle(self, path: Path) -> tuple[FakeModel, dict[str, Any]]:
        contents = read_bundle(path, expected_backend=self.name)
        params = LegacyParams()
        restore_params(params, contents)
        config = workflows.training_config_from_params(dict(params), self.name).model
        _fmt, fname = self.PAYLOAD[self.name]
        with np.load(
            io.BytesIO(contents.payload("diffraction_to_obj")[fname]), allow_pickle=False
        ) as z:
            internal = {k: z[k] for k in z.files}
        weights = convert_weights(internal, to="reference", source=self.layout)
        return self.build(config, params["probe"], contents.intensity_scale, weights=weights), dict(
            params
        )


@pytest.fixture(scope="session")
def data_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Built-in datasets generated once per session into a private cache."""
    d = tmp_path_factory.mktemp("builtin-cache")
    old = os.environ.get("PTYCHOPINN_CACHE_DIR")
    os.environ["PTYCHOPINN_CACHE_DIR"] = str(d)
    yield d
    if old is None:
        del os.environ["PTYCHOPINN_CACHE_DIR"]
    else:
        os.environ["PTYCHOPINN_CACHE_DIR"] = old


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch, data_cache: Path) -> dict[str, FakeBackend]:
    """Both backends replaced by stand-ins (and reported as installed)."""
    import backends

    made = {"tensorflow": FakeBackend("tensorflow"), "pytorch": FakeBackend("pytorch")}
    monkeypatch.setattr(workflows, "_backend", lambda name: made[name])
    monkeypatch.setattr(backends, "available", lambda: list(made))
    return made


def small_config(**changes: Any) -> TrainingConfig:
    values: dict[str, Any] = {"n_groups": 32, "nepochs": 2, **changes}
    return TrainingConfig(model=ModelConfig(), **values)


# ----------------------------------------------------------------------------- train


def test_train_writes_every_output(fakes: dict[str, FakeBackend], tmp_path: Path) -> None:
    out = tmp_path / "run"
    outcome = workflows.train(
        "tensorflow", SMALL, f"{SMALL}:test", small_config(), out, progress=False, seed=3
    )
    assert outcome.bundle == out / "wts.h5.zip"
    assert sorted(p.name for p in out.iterdir()) == [
        "history.json",
        "metrics.json",
        "reconstructed_amplitude.png",
        "reconstructed_phase.png",
        "wts.h5.zip",
    ]
    assert fakes["tensorflow"].trained_with == {
        "groups": 32,
        "epochs": 2,
        "seed": 3,
        "progress": False,
    }

    contents = read_bundle(out, expected_backend="tensorflow")
    # intensity scale sqrt(nphotons) / (N / 2), nphotons 1e9 from the file
    assert contents.intensity_scale == pytest.approx(math.sqrt(1e9) / 32)
    p = contents.params
    assert p["train_data_file_path"] == SMALL
    assert p["test_data_file_path"] == f"{SMALL}:test"
    assert p["n_groups"] == 32 and p["nepochs"] == 2 and p["backend"] == "tensorflow"
    assert p["output_prefix"] == str(out)

    history = json.loads((out / "history.json").read_text())
    assert history["epochs"]["loss"] == pytest.approx(
        [np.mean([1, 1 / 2]), np.mean([1 / 3, 1 / 4])]
    )
    assert len(history["steps"]["loss"]) == 4  # 32 groups, batch 16, 2 epochs
    assert history["seed"] == 3

    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["data"] == "test"
    amp = metrics["metrics"]["amplitude"]
    # the stand-in returns the true patches: only interpolation separates them from the truth
    assert amp["ssim"] > 0.95 and amp["psnr"] > 25
    assert outcome.metrics is not None and outcome.epochs_run == 2


def test_train_without_test_data_evaluates_training_data(
    fakes: dict[str, FakeBackend], tmp_path: Path
) -> None:
    outcome = workflows.train("pytorch", SMALL, None, small_config(), tmp_path, progress=False)
    assert json.loads((tmp_path / "metrics.json").read_text())["data"] == "train"
    assert read_bundle(tmp_path, expected_backend="pytorch").params["backend"] == "pytorch"
    assert outcome.config.backend == "pytorch"


def test_train_epochs_argument_wins(fakes: dict[str, FakeBackend], tmp_path: Path) -> None:
    workflows.train("tensorflow", SMALL, None, small_config(), tmp_path, epochs=1, progress=False)
    assert fakes["tensorflow"].trained_with["epochs"] == 1
    assert read_bundle(tmp_path, expected_backend="tensorflow").params["nepochs"] == 1


def test_train_requires_data_and_valid_config(
    fakes: dict[str, FakeBackend], tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match="no training data"):
        workflows.train("tensorflow", None, None, small_config(), tmp_path)
    with pytest.raises(ValueError, match="batch_size"):
        workflows.train("tensorflow", SMALL, None, small_config(batch_size=12), tmp_path)
    with pytest.raises(FileNotFoundError, match=r"nothere\.npz"):
        workflows.train(
            "tensorflow", tmp_path / "nothere.npz", None, small_config(), tmp_path / "o"
        )
    assert not (tmp_path / "o").exists()


# ----------------------------------------------------------------------------- infer


@pytest.fixture
def trained(fakes: dict[str, FakeBackend], tmp_path: Path) -> Path:
    out = tmp_path / "trained"
    workflows.train("tensorflow", SMALL, None, small_config(), out, progress=False)
    return out


def test_infer_writes_reconstruction(trained: Path, tmp_path: Path) -> None:
    out = tmp_path / "inf"
    outcome = workflows.infer(None, trained, f"{SMALL}:test", out, n_groups=40)
    assert sorted(p.name for p in out.iterdir()) == [
        "metrics.json",
        "reconstructed_amplitude.png",
        "reconstructed_phase.png",
        "reconstruction.npz",
    ]
    with np.load(out / "reconstruction.npz", allow_pickle=False) as z:
        assert set(z.files) == {"stitched", "amplitude", "phase", "patches", "global_offsets"}
        assert z["stitched"].dtype == np.complex64 and z["stitched"].ndim == 2
        np.testing.assert_array_equal(z["amplitude"], np.abs(z["stitched"]))
        assert z["patches"].shape == (40, 64, 64, 1)
        assert z["global_offsets"].shape == (40, 1, 2, 1)
    assert outcome.groups == 40
    assert outcome.metrics is not None and outcome.metrics["amplitude"]["ssim"] > 0.95


def test_infer_backend_mismatch_touches_nothing(trained: Path, tmp_path: Path) -> None:
    with pytest.raises(BundleBackendMismatchError, match="set backend='tensorflow'"):
        workflows.infer("pytorch", trained, SMALL, tmp_path / "inf")
    assert not (tmp_path / "inf").exists()


def test_infer_missing_bundle(fakes: dict[str, FakeBackend], tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="Model archive not found"):
        workflows.infer("tensorflow", tmp_path, SMALL, tmp_path / "inf")


# ----------------------------------------------------------------------------- convert


def test_training_config_round_trip_through_params() -> None:
    cfg = TrainingConfig(
        model=ModelConfig(
            N=128, gridsize=2, probe_big=False, amp_activation="swish", combine_mode="legacy_rect"
        ),
        train_data_file=Path("a.npz"),
        nphotons=1e6,
        n_groups=100,
        nepochs=7,
        n_subsample=9,
        output_dir=Path("out"),
        positions_provided=False,
    )
    back = workflows.training_config_from_params(to_legacy_snapshot(cfg), "pytorch")
    assert back.model == cfg.model
    expected = TrainingConfig(**{**cfg.__dict__, "backend": "pytorch"})
    assert back == expected


def test_probe_batch_is_deterministic() -> None:
    a = workflows.probe_batch(ModelConfig(gridsize=2))
    b = workflows.probe_batch(ModelConfig(gridsize=2))
    np.testing.assert_array_equal(a.X, b.X)
    assert a.X.shape == (4, 64, 64, 4) and a.positions.shape == (4, 1, 2, 4)
    assert np.all(workflows.probe_batch(ModelConfig()).positions == 0)


def test_convert_bundle_between_layouts(trained: Path, tmp_path: Path) -> None:
    out = tmp_path / "converted"
    report = workflows.convert_bundle(trained, "pytorch", out)
    assert report.passed
    assert report.source_backend == "tensorflow" and report.target_backend == "pytorch"
    assert report.max_abs_diff["trimmed_obj"] < 1e-6 * max(1.0, report.max_abs_diff["trimmed_obj"])
    assert sorted(p.name for p in out.iterdir()) == ["wts.h5.zip"]
    converted = read_bundle(out, expected_backend="pytorch")
    original = read_bundle(trained, expected_backend="tensorflow")
    assert converted.manifest["model_geometry"] == original.manifest["model_geometry"]
    assert report.params_differences == []
    for key, value in original.params.items():
        if key != "backend":
            np.testing.assert_array_equal(converted.params[key], value)
    assert list(tmp_path.glob(".converted.convert-*")) == []


def test_convert_detects_a_layout_bug(
    trained: Path, tmp_path: Path, fakes: dict[str, FakeBackend]
) -> None:
    fakes["pytorch"].broken_import = True
    report = workflows.convert_bundle(trained, "pytorch", tmp_path / "converted")
    assert not report.passed
    assert report.max_rel_diff["trimmed_obj"] > 1e-3
    assert not (tmp_path / "converted").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_convert_refuses_same_backend(trained: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="already a 'tensorflow' bundle"):
        workflows.convert_bundle(trained, "tensorflow", tmp_path / "c")
    with pytest.raises(ValueError, match="not a backend"):
        workflows.convert_bundle(trained, "jax", tmp_path / "c")


# ----------------------------------------------------------------------------- real backends


@pytest.mark.slow
@pytest.mark.parametrize(
    "name",
    [
        pytest.param("tensorflow", marks=pytest.mark.tensorflow),
        pytest.param("pytorch", marks=pytest.mark.pytorch),
    ],
)
def test_real_backend_train_and_infer(name: str, tmp_path: Path, data_cache: Path) -> None:
    import backends

    try:
        backends.get(name)
    except ModuleNotFoundError as exc:  # the adapter of this backend is not there yet
        pytest.skip(f"{name} adapter unavailable: {exc}")
    out = tmp_path / "run"
    outcome = workflows.train(name, SMALL, None, small_config(nepochs=1), out, progress=False)
    assert outcome.bundle.is_file() and outcome.epochs_run == 1
    assert outcome.final_loss is not None and math.isfinite(outcome.final_loss)
    history = json.loads((out / "history.json").read_text())
    assert len(history["steps"]["loss"]) == 2
    assert (out / "reconstructed_amplitude.png").is_file()
    result = workflows.infer(name, out, f"{SMALL}:test", tmp_path / "inf", n_groups=16)
    assert result.groups == 16
    with np.load(tmp_path / "inf" / "reconstruction.npz", allow_pickle=False) as z:
        assert np.all(np.isfinite(z["stitched"]))


@pytest.mark.slow
@pytest.mark.both
def test_real_convert_both_ways(tmp_path: Path, data_cache: Path) -> None:
    import backends

    for name in ("tensorflow", "pytorch"):
        try:
            backends.get(name)
        except ModuleNotFoundError as exc:
            pytest.skip(f"{name} adapter unavailable: {exc}")
    workflows.train(
        "tensorflow", SMALL, None, small_config(nepochs=1), tmp_path / "tf", progress=False
    )
    to_torch = workflows.convert_bundle(tmp_path / "tf", "pytorch", tmp_path / "pt")
    assert to_torch.passed, to_torch.max_rel_diff
    back = workflows.convert_bundle(tmp_path / "pt", "tensorflow", tmp_path / "tf2")
    assert back.passed, back.max_rel_diff
