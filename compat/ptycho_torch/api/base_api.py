"""Upstream's PyTorch API objects as ptychodus 1.7.0 drives them, on the project's PyTorch
backend (docs/ptychodus.md).

Training runs :func:`backends.workflows.train` (the code behind ``parity train``) and writes
the model as a ``.ckpt`` file that is this project's bundle (docs/persistence.md section 3:
JSON, NumPy arrays and safetensors in a checked zip; nothing pickled). Inference groups the
data and stitches exactly as ``parity infer`` does.
"""

from __future__ import annotations

import enum
import logging
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from ptycho_torch import config_params as cp

__all__ = [
    "CHECKPOINT_NAME",
    "ConfigManager",
    "DataloaderFormats",
    "InferenceEngine",
    "PtychoDataLoader",
    "PtychoModel",
    "Trainer",
]

log = logging.getLogger(__name__)

BACKEND = "pytorch"
CHECKPOINT_DIR = "checkpoints"
CHECKPOINT_NAME = "best-checkpoint.ckpt"
TRAIN_FILE = "train_data.npz"
TEST_FILE = "test_data.npz"
STITCH_CROP = 20


class DataloaderFormats(enum.Enum):
    """How training data reaches the trainer; the facade implements the Lightning module."""

    LIGHTNING_ONLY_MODULE = "lightning_only_module"


class ConfigManager:
    """The five configs of one run, and their translation to the project's canonical config."""

    def __init__(
        self,
        data_config: cp.DataConfig | None = None,
        model_config: cp.ModelConfig | None = None,
        training_config: cp.TrainingConfig | None = None,
        inference_config: cp.InferenceConfig | None = None,
        datagen_config: cp.DatagenConfig | None = None,
    ) -> None:
        self.data_config = data_config if data_config is not None else cp.DataConfig()
        self.model_config = model_config if model_config is not None else cp.ModelConfig()
        self.training_config = (
            training_config if training_config is not None else cp.TrainingConfig()
        )
        self.inference_config = (
            inference_config if inference_config is not None else cp.InferenceConfig()
        )
        self.datagen_config = datagen_config if datagen_config is not None else cp.DatagenConfig()

    @classmethod
    def from_loaded_model(cls, ptycho_model: PtychoModel) -> ConfigManager:
        """The configs a loaded :class:`PtychoModel` carries."""
        return cls(
            data_config=ptycho_model.data_config,
            model_config=ptycho_model.model_config,
            training_config=ptycho_model.training_config,
            inference_config=ptycho_model.inference_config,
        )

    def canonical_model(self) -> Any:
        """The canonical ModelConfig these configs describe (the project's bridge)."""
        from backends.config.bridge import to_model_config

        return to_model_config(self.data_config, self.model_config)

    def validate_arch_compatibility(self, ptycho_model: PtychoModel) -> None:
        """Raise ValueError when the loaded network is not the one these configs describe."""
        network = getattr(ptycho_model, "model", None)
        handle = getattr(network, "handle", None)
        if handle is None:
            raise ValueError("validate_arch_compatibility: the PtychoModel has no loaded network")
        wanted = self.canonical_model()
        if handle.config != wanted:
            raise ValueError(
                f"the loaded network is {handle.config} but the configs describe {wanted}"
            )

    def training_setup(self, train_file: Path, test_file: Path | None, output_dir: Path) -> Any:
        """``(canonical TrainingConfig, execution settings)`` for a run on these files."""
        from backends.config import TrainingConfig
        from backends.config.torch_native import DataConfig as ProjectDataConfig
        from backends.data import load_npz

        data, model, training = self.data_config, self.model_config, self.training_config
        if str(model.mode) != "Unsupervised":
            raise ValueError(
                f"ModelConfig.mode={model.mode!r}: this PtychoPINN implementation trains the "
                "physics-informed (Unsupervised) model only; use the Unsupervised reconstructor"
            )
        ignored = cp.unsupported_settings(data, model, training, self.inference_config)
        if ignored:
            log.warning(
                "settings of features this PtychoPINN implementation does not have, ignored: %s",
                ", ".join(ignored),
            )
        torch_default = ProjectDataConfig().nphotons
        nphotons = 1e9 if data.nphotons == torch_default else float(data.nphotons)
        n_groups = training.n_groups or len(load_npz(train_file))
        loss_mode = "mae" if str(model.loss_function).lower() == "mae" else "poisson"
        config = TrainingConfig(
            model=self.canonical_model(),
            train_data_file=train_file,
            test_data_file=test_file,
            batch_size=int(training.batch_size),
            nepochs=int(training.epochs),
            nll_weight=1.0 if training.nll and loss_mode == "poisson" else 0.0,
            nphotons=nphotons,
            n_groups=int(n_groups),
            neighbor_count=int(data.K),
            intensity_scale_trainable=bool(model.intensity_scale_trainable),
            output_dir=output_dir,
            backend=BACKEND,
            torch_loss_mode=loss_mode,
        )
        accelerator = "cpu" if str(training.device).lower() == "cpu" else "auto"
        if int(training.n_devices) > 1:
            log.warning(
                "n_devices=%d: training runs on one device in this implementation",
                training.n_devices,
            )
        execution: dict[str, Any] = {
            "accelerator": accelerator,
            "learning_rate": float(training.learning_rate),
            "gradient_clip_val": training.gradient_clip_val,
            "accum_steps": int(training.accum_steps),
            "scheduler": training.scheduler,
            "enable_progress_bar": False,
            "logger_backend": None,
        }
        return config, execution


def _project_npz(source: Path, target: Path) -> Path:
    """Re-write a client NPZ (a ptychodus export: probe with a mode axis, ``bad_pixels``) as
    a file of the project's data contract."""
    from ptycho.raw_data import RawData

    from backends.data.npz import save_npz

    save_npz(RawData.from_file(source).project_raw, target)
    return target


class PtychoDataLoader:
    """Where the data of one run comes from and where its outputs go.

    ``data_dir`` holds ``train_data.npz`` and optionally ``test_data.npz``; ``output_dir`` gets
    a fresh ``run_<UTC time>`` directory, exposed as :attr:`output_dir`, which receives the
    checkpoint.
    """

    def __init__(
        self,
        data_dir: str | Path | None = None,
        config_manager: ConfigManager | None = None,
        data_format: DataloaderFormats = DataloaderFormats.LIGHTNING_ONLY_MODULE,
        output_dir: str | Path | None = None,
    ) -> None:
        self.config_manager = config_manager or ConfigManager()
        self.data_format = DataloaderFormats(data_format)
        self.data_dir = None if data_dir is None else Path(data_dir)
        self.raw: Any = None
        self.output_dir: Path | None = None
        if self.data_dir is not None:
            train = self.data_dir / TRAIN_FILE
            if not train.is_file():
                raise FileNotFoundError(
                    f"training data not found: {train} (export the product's training data "
                    f"as {TRAIN_FILE} into {self.data_dir})"
                )
        if output_dir is not None:
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
            run_dir = Path(output_dir) / f"run_{stamp}"
            run_dir.mkdir(parents=True, exist_ok=False)
            self.output_dir = run_dir

    @classmethod
    def from_np(
        cls,
        diff_patterns: Any,
        probe: Any,
        positions: Any,
        config_manager: ConfigManager | None = None,
    ) -> PtychoDataLoader:
        """Inference data from arrays: amplitudes (n, N, N), the probe (N, N) or
        (modes, N, N) and positions (n, 2) as ``[y, x]`` object pixels."""
        from ptycho.raw_data import RawData

        pos = np.asarray(positions, np.float64)
        if pos.ndim != 2 or pos.shape[1] != 2:
            raise ValueError(f"positions must be (n, 2) [y, x] pixels; got shape {pos.shape}")
        loader = cls(config_manager=config_manager)
        loader.raw = RawData.from_coords_without_pc(
            xcoords=pos[:, 1],
            ycoords=pos[:, 0],
            diff3d=np.asarray(diff_patterns),
            probeGuess=probe,
            scan_index=np.zeros(len(pos), np.int64),
        )
        return loader


class PtychoModel:
    """A model and its configs; :attr:`model` is a
    :class:`ptycho_torch.model.PtychoPINN_Lightning`."""

    def __init__(
        self,
        model_config: cp.ModelConfig | None = None,
        data_config: cp.DataConfig | None = None,
        training_config: cp.TrainingConfig | None = None,
        inference_config: cp.InferenceConfig | None = None,
    ) -> None:
        self.model_config = model_config if model_config is not None else cp.ModelConfig()
        self.data_config = data_config if data_config is not None else cp.DataConfig()
        self.training_config = (
            training_config if training_config is not None else cp.TrainingConfig()
        )
        self.inference_config = (
            inference_config if inference_config is not None else cp.InferenceConfig()
        )
        self.model: Any = None

    @classmethod
    def _new_model(cls, model: type, config_manager: ConfigManager) -> PtychoModel:
        """An untrained model of class ``model`` for the manager's configs."""
        out = cls(
            model_config=config_manager.model_config,
            data_config=config_manager.data_config,
            training_config=config_manager.training_config,
            inference_config=config_manager.inference_config,
        )
        out.model = model(
            model_config=config_manager.model_config,
            data_config=config_manager.data_config,
            training_config=config_manager.training_config,
            inference_config=config_manager.inference_config,
        )
        return out

    @staticmethod
    def _extract_configs_from_checkpoint(path: str | Path) -> tuple[Any, Any, Any, Any]:
        """``(data, model, training, inference)`` configs stored in a checkpoint (the
        torch-native configs of the bundle; fields they lack keep their defaults)."""
        from ptycho._bundles import open_bundle

        handle, _ = open_bundle(path, BACKEND)
        stored = handle.torch_configs
        if stored is None:
            raise ValueError(f"checkpoint {path}: the bundle holds no PyTorch configs")
        return (
            cp.from_project(cp.DataConfig, stored.data),
            cp.from_project(cp.ModelConfig, stored.model),
            cp.from_project(cp.TrainingConfig, stored.training),
            cp.from_project(cp.InferenceConfig, stored.inference),
        )


class _TrainerState:
    """What ptychodus reads from a Lightning trainer while replaying epoch ends."""

    def __init__(self, metrics: dict[str, float], epoch: int) -> None:
        self.callback_metrics = metrics
        self.current_epoch = epoch
        self.sanity_checking = False


class _CallbackHost:
    """``trainer._trainer``: holds the callbacks a client appends."""

    def __init__(self) -> None:
        self.callbacks: list[Any] = []


class Trainer:
    """Trains a :class:`PtychoModel` on a :class:`PtychoDataLoader`'s files."""

    def __init__(
        self, model: PtychoModel, dataloader: PtychoDataLoader, config_manager: ConfigManager
    ) -> None:
        self.model = model
        self.dataloader = dataloader
        self.config_manager = config_manager
        self._trainer = _CallbackHost()
        self.checkpoint: Path | None = None
        self.history: dict[str, Any] = {}

    @classmethod
    def _from_lightning(
        cls,
        model: PtychoModel,
        dataloader: PtychoDataLoader,
        orchestration: str = "lightning",
        config_manager: ConfigManager | None = None,
    ) -> Trainer:
        """A trainer for ``model`` on ``dataloader``."""
        if str(orchestration).lower() != "lightning":
            raise ValueError(f"orchestration={orchestration!r}: only 'lightning' is supported")
        return cls(model, dataloader, config_manager or dataloader.config_manager)

    def train(self, orchestration: str = "lightning", experiment_name: str = "") -> Path:
        """Train, write ``<run dir>/checkpoints/best-checkpoint.ckpt`` and return its path.

        The callbacks in ``self._trainer.callbacks`` see ``on_train_epoch_end`` and
        ``on_validation_epoch_end`` for every epoch once training has finished (the losses
        are those of the run's history).
        """
        from backends import workflows
        from backends.bundle.archive import atomic_write_bytes

        del orchestration, experiment_name
        loader = self.dataloader
        if loader.data_dir is None or loader.output_dir is None:
            raise ValueError("Trainer.train needs a PtychoDataLoader with data_dir and output_dir")
        run_dir = Path(loader.output_dir)
        with tempfile.TemporaryDirectory(prefix="ptychopinn-compat-data-") as tmp:
            work = Path(tmp)
            train_file = _project_npz(loader.data_dir / TRAIN_FILE, work / TRAIN_FILE)
            test_src = loader.data_dir / TEST_FILE
            test_file = _project_npz(test_src, work / TEST_FILE) if test_src.is_file() else None
            config, execution = self.config_manager.training_setup(
                train_file, test_file, run_dir / "model"
            )
            outcome = workflows.train(
                BACKEND,
                None,
                config=config,
                progress=False,
                execution=execution,
                checkpoint_every=0,  # the facade keeps its own checkpoint (below)
            )
        target = run_dir / CHECKPOINT_DIR / CHECKPOINT_NAME
        self.checkpoint = atomic_write_bytes(target, Path(outcome.bundle).read_bytes())
        self.history = {k: list(v) for k, v in _history(outcome.history).get("epochs", {}).items()}
        self._replay_epochs()
        network = self.model.model
        if network is not None:
            network.load_bundle(self.checkpoint)
        return self.checkpoint

    def _replay_epochs(self) -> None:
        network = self.model.model
        train_name = getattr(network, "loss_name", "train_loss")
        val_name = getattr(network, "val_loss_name", "val_loss")
        losses = self.history.get("loss", [])
        val_losses = self.history.get("val_loss", [])
        for epoch, loss in enumerate(losses):
            metrics = {train_name: float(loss)}
            if epoch < len(val_losses):
                metrics[val_name] = float(val_losses[epoch])
            state = _TrainerState(metrics, epoch)
            for callback in self._trainer.callbacks:
                if epoch < len(val_losses) and hasattr(callback, "on_validation_epoch_end"):
                    callback.on_validation_epoch_end(state, network)
                if hasattr(callback, "on_train_epoch_end"):
                    callback.on_train_epoch_end(state, network)


def _history(path: Path) -> dict[str, Any]:
    import json

    return dict(json.loads(Path(path).read_text(encoding="utf-8")))


class InferenceEngine:
    """Reconstructs with a loaded :class:`PtychoModel`."""

    def __init__(self, config_manager: ConfigManager, ptycho_model: PtychoModel) -> None:
        self.config_manager = config_manager
        self.ptycho_model = ptycho_model

    def predict_and_stitch(self, loader: PtychoDataLoader) -> np.ndarray:
        """The stitched complex object (S, S) complex64 for ``loader``'s data, grouped and
        stitched as ``parity infer`` does (docs/data.md 4, physics.md 8.2)."""
        import backends
        from backends.data import load_inference_data
        from backends.data.npz import save_npz

        network = self.ptycho_model.model
        handle = getattr(network, "handle", None)
        if handle is None:
            raise ValueError("predict_and_stitch: the PtychoModel has no loaded network")
        if loader.raw is None:
            raise ValueError("predict_and_stitch: use PtychoDataLoader.from_np for inference data")
        with tempfile.TemporaryDirectory(prefix="ptychopinn-compat-infer-") as tmp:
            path = Path(tmp) / "data.npz"
            save_npz(loader.raw.project_raw, path)
            container = load_inference_data(
                path, gridsize=handle.config.gridsize, nphotons=network.params.get("nphotons")
            )
        if container.N != handle.config.N:
            raise ValueError(
                f"diffraction patterns are {container.N}x{container.N} but the model was built "
                f"for N={handle.config.N}"
            )
        batch = int(self.config_manager.inference_config.batch_size)
        result = backends.get(BACKEND).infer(handle, container, batch_size=batch, crop=STITCH_CROP)
        return np.asarray(result.stitched, np.complex64)
