"""Upstream's ``model_manager``: ``save`` writes the model trained last in this process as
``<out_dir>/wts.h5.zip`` in the project's bundle format (docs/persistence.md section 3);
``load`` reads one back. Nothing is pickled."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

__all__ = ["BUNDLE_NAME", "last_trained_bundle", "load", "record_trained_bundle", "save"]

BUNDLE_NAME = "wts.h5.zip"
_state: dict[str, bytes] = {}


def record_trained_bundle(path: str | os.PathLike[str]) -> None:
    """Keep the bytes of the bundle :func:`ptycho.workflows.components.run_cdi_example`
    wrote (its working directory is removed afterwards)."""
    _state["bundle"] = Path(path).read_bytes()


def last_trained_bundle() -> bytes:
    """The bundle (archive bytes) of the model trained last in this process."""
    bundle = _state.get("bundle")
    if bundle is None:
        raise RuntimeError(
            "ptycho.model_manager.save: no model has been trained in this process; run "
            "ptycho.workflows.components.run_cdi_example first"
        )
    return bundle


def save(out_prefix: str | os.PathLike[str]) -> Path:
    """Write the last trained model to ``<out_prefix>/wts.h5.zip`` (atomically); returns the
    path."""
    from backends.bundle.archive import atomic_write_bytes

    target = Path(out_prefix) / BUNDLE_NAME
    return atomic_write_bytes(target, last_trained_bundle())


def load(model_dir: str | os.PathLike[str]) -> tuple[Any, dict[str, Any]]:
    """``(diffraction_to_obj model, params)`` of the bundle in ``model_dir``; see
    :func:`ptycho.workflows.components.load_inference_bundle`."""
    from ptycho.workflows.components import load_inference_bundle

    return load_inference_bundle(model_dir)
