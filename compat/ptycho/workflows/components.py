"""Upstream's training and inference workflow functions, on the project's TensorFlow backend.

``run_cdi_example`` trains with :func:`backends.workflows.train` (the code behind
``parity train``), so a model trained through ptychodus is the model ``parity train`` would
train on the same files and settings; ``load_inference_bundle`` reopens any bundle the facade
can read (docs/ptychodus.md, "Bundles").
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from ptycho import model_manager
from ptycho.config.config import to_canonical
from ptycho.raw_data import RawData

__all__ = ["load_inference_bundle", "run_cdi_example", "save_outputs"]

BACKEND = "tensorflow"


def _write_npz(raw: RawData, path: Path) -> Path:
    from backends.data.npz import save_npz

    save_npz(raw.project_raw, path)
    return path


def run_cdi_example(
    train_data: RawData,
    test_data: RawData | None,
    config: Any,
    flip_x: bool = False,
    flip_y: bool = False,
    transpose: bool = False,
    M: int = 20,
    do_stitching: bool = True,
) -> tuple[np.ndarray | None, np.ndarray | None, dict[str, Any]]:
    """Train on ``train_data`` (validated and grouped as ``parity train`` does), reconstruct
    ``test_data`` (or the training data) and return ``(amplitude, phase, results)``.

    ``results`` holds ``history`` (per epoch and per step), ``metrics`` (against the data's
    ``objectGuess``, or None) and the canonical ``config`` used; the trained model is kept
    for :func:`ptycho.model_manager.save`. ``flip_x``, ``flip_y`` and ``transpose`` must stay
    False; ``M`` is accepted for upstream's signature (stitching keeps the central 20 pixels,
    as ``parity infer`` does).
    """
    if flip_x or flip_y or transpose:
        raise ValueError(
            "run_cdi_example: flip_x, flip_y and transpose are not supported; orient the "
            "coordinates in the data instead"
        )
    canonical = dataclasses.replace(to_canonical(config), backend=BACKEND)
    if canonical.model.model_type != "pinn":
        raise ValueError(
            f"model_type={canonical.model.model_type!r}: this PtychoPINN implementation trains "
            "the physics-informed model only (model_type 'pinn'); use the PINN reconstructor"
        )
    with tempfile.TemporaryDirectory(prefix="ptychopinn-compat-train-") as tmp:
        return _train_and_reconstruct(Path(tmp), train_data, test_data, canonical, do_stitching)


def _train_and_reconstruct(
    work: Path,
    train_data: RawData,
    test_data: RawData | None,
    canonical: Any,
    do_stitching: bool,
) -> tuple[np.ndarray | None, np.ndarray | None, dict[str, Any]]:
    from backends import workflows

    train_npz = _write_npz(train_data, work / "train.npz")
    test_npz = None if test_data is None else _write_npz(test_data, work / "test.npz")
    outcome = workflows.train(
        BACKEND,
        train_npz,
        test_npz,
        config=dataclasses.replace(canonical, train_data_file=None, test_data_file=None),
        output_dir=work / "model",
        progress=False,
        checkpoint_every=0,  # a scratch directory: nothing resumes from it
    )
    model_manager.record_trained_bundle(outcome.bundle)
    amplitude = phase = None
    if do_stitching:
        inferred = workflows.infer(
            BACKEND,
            outcome.bundle.parent,
            test_npz if test_npz is not None else train_npz,
            work / "reconstruction",
        )
        with np.load(inferred.reconstruction, allow_pickle=False) as rec:
            amplitude, phase = rec["amplitude"], rec["phase"]
    results = {
        "history": json.loads(outcome.history.read_text(encoding="utf-8")),
        "metrics": outcome.metrics,
        "config": outcome.config,
    }
    return amplitude, phase, results


def save_outputs(
    amplitude: Any, phase: Any, results: dict[str, Any], output_prefix: str | os.PathLike[str]
) -> list[Path]:
    """Write ``reconstructed_amplitude.png`` / ``reconstructed_phase.png`` (when both arrays
    are given) and ``history.json`` into ``output_prefix``; returns the paths written."""
    from backends.images import save_outputs as save_images
    from backends.workflows import HISTORY_JSON, write_json

    out = Path(output_prefix)
    written = save_images(amplitude, phase, out)
    history = (results or {}).get("history")
    if history is not None:
        written.append(write_json(out / HISTORY_JSON, history))
    return written


class _QuietPredict:
    """The bundle's ``diffraction_to_obj`` (gridsize-syncing adapter, docs/persistence.md
    3.7) whose ``predict`` shows no progress bar unless asked."""

    def __init__(self, adapter: Any) -> None:
        self._adapter = adapter

    def predict(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("verbose", 0)
        return self._adapter.predict(inputs, *args, **kwargs)

    def __call__(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        return self._adapter(inputs, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._adapter, name)


def load_inference_bundle(model_dir: str | os.PathLike[str]) -> tuple[Any, dict[str, Any]]:
    """``(model, params)``: the bundle's ``diffraction_to_obj`` Keras model and a copy of the
    legacy params, which are restored into ``ptycho.params.cfg`` first (intensity_scale,
    probe, N, gridsize, ...).

    ``model_dir`` is a directory holding ``wts.h5.zip``, a directory of unpacked bundle
    members (what ptychodus extracts from a saved ``model.zip``), or the archive itself.
    """
    from backends.bundle import restore_params
    from ptycho import params
    from ptycho._bundles import open_bundle

    handle, snapshot = open_bundle(model_dir, BACKEND)  # loads TensorFlow the project's way
    from backends.tensorflow.persistence import DiffractionToObjectAdapter

    restore_params(params.cfg, snapshot)
    adapter = DiffractionToObjectAdapter(handle.models.diffraction_to_obj, params.cfg)
    return _QuietPredict(adapter), dict(params.cfg)
