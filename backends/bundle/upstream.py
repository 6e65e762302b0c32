"""Upstream PtychoPINN bundles (``manifest.dill``, ``params.dill``, ``model.keras``): reading.

The normal loader (:func:`backends.bundle.read_bundle`) refuses them with a message that
points here. :func:`read_upstream_bundle` reads one as data only: the pickles through
:mod:`backends.bundle.restricted_pickle` (plain data; every global emulated, never imported),
the weights through :mod:`backends.bundle.keras_archive` (JSON and HDF5), mapped to canonical
names by :mod:`backends.bundle.upstream_graph`. ``custom_objects.dill`` is never read.
:func:`import_legacy_bundle` writes the result as a bundle of this project's format.

Backend detection uses member names and ``manifest.dill`` as the restricted reader returns it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from backends.bundle.archive import DEFAULT_MAX_TOTAL_BYTES, SafeArchive
from backends.bundle.keras_archive import KerasArchiveError, read_keras_model
from backends.bundle.restricted_pickle import load_restricted

__all__ = [
    "IMPORTED_COMBINE_MODE",
    "LegacyBundleError",
    "UpstreamBundle",
    "convert_upstream_bundle",
    "detect_backend",
    "import_legacy_bundle",
    "is_upstream_bundle",
    "legacy_refusal_message",
    "read_upstream_bundle",
    "reference_backend",
]

IMPORTED_COMBINE_MODE = "legacy_rect"
"""How upstream's CombineComplexLayer joins amplitude and phase: ``A + i*phi``."""

INFERENCE_MODEL = "diffraction_to_obj"


class LegacyBundleError(ValueError):
    """An upstream pickle bundle was given to a loader that never unpickles."""


def detect_backend(manifest: Mapping[str, Any] | None, names: Iterable[str]) -> str:
    """The backend that wrote an upstream bundle (section 3.8, import only).

    In order: the manifest's ``backend`` key; ``version == "2.0-pytorch"`` means pytorch; a
    ``model.pth`` member means pytorch, ``model.keras`` or ``saved_model.pb`` tensorflow;
    otherwise tensorflow.
    """
    if manifest is not None:
        backend = manifest.get("backend")
        if backend in ("tensorflow", "pytorch"):
            return str(backend)
        if manifest.get("version") == "2.0-pytorch":
            return "pytorch"
    basenames = {n.rsplit("/", 1)[-1] for n in names}
    if "model.pth" in basenames:
        return "pytorch"
    if "model.keras" in basenames or "saved_model.pb" in basenames:
        return "tensorflow"
    return "tensorflow"


def _manifest_or_none(data: bytes | None) -> dict[str, Any] | None:
    """``manifest.dill`` read by the restricted reader, or None when it cannot be."""
    if not data:
        return None
    try:
        value = load_restricted(data, "manifest.dill")
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def legacy_refusal_message(path: Path, manifest_bytes: bytes | None, names: Iterable[str]) -> str:
    """Why the native loader refuses an upstream bundle, and how to use it instead."""
    names = list(names)
    manifest = _manifest_or_none(manifest_bytes)
    backend = detect_backend(manifest, names)
    version = (manifest or {}).get("version", "unknown")
    return (
        f"{path} is an upstream PtychoPINN bundle in the pickle format (manifest.dill, version "
        f"{version!r}, written by the {backend!r} backend). This loader never unpickles, "
        "because unpickling can execute code stored in the file. To convert it, run `parity "
        "convert-bundle PATH --to tensorflow|pytorch -o DIR` (it reads the pickles as plain "
        "data, never running anything in them), or give it to `parity infer --model` "
        f"directly; or retrain with `parity train --backend {backend} ...` on the same data."
    )


@dataclass
class UpstreamBundle:
    """What an upstream bundle holds, as data.

    ``params`` is the restored legacy snapshot (``probe`` (N, N, 1) complex64 after upstream's
    normalisation, ``intensity_scale`` a float, ``combine_mode`` set to
    :data:`IMPORTED_COMBINE_MODE`); ``weights`` are the inference model's conv weights under
    canonical names in the reference (HWIO) layout.
    """

    path: Path
    version: str
    models: list[str]
    params: dict[str, Any]
    probe: np.ndarray
    intensity_scale: float
    weights: dict[str, np.ndarray]
    ignored: list[str] = field(default_factory=list)

    def training_config(self, backend: str) -> Any:
        """The canonical TrainingConfig the params record, for ``backend``."""
        from backends.config.io import training_config_from_params

        return training_config_from_params(self.params, backend)


def is_upstream_bundle(path: Path | str) -> bool:
    """True when ``path`` (a directory, ``wts.h5`` or the archive) is an upstream bundle."""
    from backends.bundle.format import resolve_bundle_path

    try:
        archive_path = resolve_bundle_path(path)
        with SafeArchive(archive_path) as archive:
            return "manifest.dill" in archive and "manifest.json" not in archive
    except (OSError, ValueError):
        return False


def _restore_params(raw: Any, source: str) -> tuple[dict[str, Any], np.ndarray, float]:
    if not isinstance(raw, dict) or not all(isinstance(k, str) for k in raw):
        raise LegacyBundleError(f"{source} does not hold a dict of named parameters")
    params = dict(raw)
    missing = [k for k in ("N", "gridsize", "intensity_scale", "probe") if params.get(k) is None]
    if missing:
        raise LegacyBundleError(
            f"{source} lacks {', '.join(missing)}; the model cannot be rebuilt without them"
        )
    N = params["N"]
    for key in ("N", "gridsize"):
        if not isinstance(params[key], int) or isinstance(params[key], bool) or params[key] < 1:
            raise LegacyBundleError(f"{source}: {key} is {params[key]!r}, not a positive integer")
    try:
        scale = float(np.asarray(params["intensity_scale"], np.float64).reshape(()))
    except (TypeError, ValueError):
        raise LegacyBundleError(
            f"{source}: intensity_scale {params['intensity_scale']!r} is not a number"
        ) from None
    if not np.isfinite(scale) or scale <= 0:
        raise LegacyBundleError(f"{source}: intensity_scale {scale!r} is not finite and > 0")
    probe = np.asarray(params["probe"])
    if probe.size != N * N or probe.dtype.kind not in "fc":
        raise LegacyBundleError(
            f"{source}: probe has shape {probe.shape} and dtype {probe.dtype}; expected {N}x{N} "
            "complex"
        )
    probe = probe.reshape(N, N).astype(np.complex64)
    params.pop("_version", None)
    params["probe"] = probe.reshape(N, N, 1)
    params["intensity_scale"] = scale
    params["combine_mode"] = IMPORTED_COMBINE_MODE
    return params, probe, scale


def read_upstream_bundle(
    path: Path | str, *, max_total_bytes: int = DEFAULT_MAX_TOTAL_BYTES
) -> UpstreamBundle:
    """Read an upstream ``wts.h5.zip`` without executing anything stored in it.

    Raises LegacyBundleError (a ValueError) for a file that is not an upstream bundle or
    cannot be imported, UnsafePickleError / PickleFormatError for a refused or malformed
    pickle, KerasArchiveError for a malformed model.keras, FileNotFoundError when absent.
    """
    from backends.bundle.format import resolve_bundle_path

    archive_path = resolve_bundle_path(path)
    with SafeArchive(archive_path, max_total_bytes=max_total_bytes) as archive:
        if "manifest.dill" not in archive:
            raise LegacyBundleError(
                f"{archive_path} is not an upstream PtychoPINN bundle (no manifest.dill)"
            )
        manifest = load_restricted(archive.read("manifest.dill"), f"{archive_path}:manifest.dill")
        models = manifest.get("models") if isinstance(manifest, dict) else None
        if not isinstance(models, list) or INFERENCE_MODEL not in models:
            raise LegacyBundleError(
                f"{archive_path}: manifest.dill lists no {INFERENCE_MODEL!r} model "
                f"(found {models!r})"
            )
        if detect_backend(manifest, archive.names) != "tensorflow":
            raise LegacyBundleError(
                f"{archive_path} was written by upstream's PyTorch backend; only upstream "
                "TensorFlow bundles (model.keras) can be imported (upstream's PyTorch head "
                "geometry differs from this model); retrain with `parity train --backend pytorch`"
            )
        prefix = f"{INFERENCE_MODEL}/"
        for member in ("params.dill", "model.keras"):
            if prefix + member not in archive:
                raise LegacyBundleError(f"{archive_path}: {prefix + member} is missing")
        params_source = f"{archive_path}:{prefix}params.dill"
        raw_params = load_restricted(archive.read(prefix + "params.dill"), params_source)
        keras_files = {
            str(m): archive.read(f"{m}/model.keras")
            for m in models
            if f"{m}/model.keras" in archive
        }
        read = {"manifest.dill", prefix + "params.dill", *(f"{m}/model.keras" for m in keras_files)}
        ignored = [n for n in archive.names if n not in read]
    params, probe, scale = _restore_params(raw_params, params_source)
    bundle = UpstreamBundle(
        path=archive_path,
        version=str(manifest.get("version", "unknown")),
        models=[str(m) for m in models],
        params=params,
        probe=probe,
        intensity_scale=scale,
        weights={},
        ignored=ignored,
    )
    try:
        config = bundle.training_config("tensorflow").model
    except (TypeError, ValueError, KeyError, ArithmeticError) as exc:
        raise LegacyBundleError(
            f"{params_source} does not describe a model this project can build: {exc}"
        ) from None
    bundle.weights = _model_weights(keras_files.pop(INFERENCE_MODEL), config, archive_path, prefix)
    for model, data in keras_files.items():
        shared = _model_weights(data, config, archive_path, f"{model}/")
        differing = [k for k in bundle.weights if not np.array_equal(shared[k], bundle.weights[k])]
        if differing:
            raise LegacyBundleError(
                f"{archive_path}: {model}/model.keras and {prefix}model.keras hold different "
                f"weights ({differing[0]}, ...); upstream's models share their layers, so the "
                "bundle is inconsistent"
            )
    return bundle


def _model_weights(data: bytes, config: Any, archive_path: Path, prefix: str) -> dict[str, Any]:
    """Canonical weights of one ``model.keras`` of the archive."""
    from backends.bundle.upstream_graph import canonical_weights

    source = f"{archive_path}:{prefix}model.keras"
    model_file = read_keras_model(data, source)
    try:
        return canonical_weights(model_file.layers, model_file.weights, config, source)
    except KerasArchiveError:
        raise
    except (TypeError, ValueError, KeyError, ArithmeticError) as exc:
        raise KerasArchiveError(f"{source}: {exc}") from None


def import_legacy_bundle(
    path: Path | str, out_dir: Path | str, backend: str = "tensorflow"
) -> Path:
    """:func:`convert_upstream_bundle` with the output directory second (tensorflow default)."""
    return convert_upstream_bundle(path, backend, out_dir)


def reference_backend(target: str) -> str:
    """The backend that stands for upstream's model when an import is checked: tensorflow
    when installed, else ``target``."""
    import backends

    return "tensorflow" if "tensorflow" in backends.available() else target


def convert_upstream_bundle(path: Path | str, backend: str, out_dir: Path | str) -> Path:
    """Convert an upstream bundle into a bundle of this project's format for ``backend``.

    Reads it with :func:`read_upstream_bundle` (nothing is unpickled with the standard
    unpickler), builds the model with ``backend`` from the restored config, probe, intensity
    scale and weights, and writes ``<out_dir>/wts.h5.zip`` with the import recorded under the
    manifest's ``producer.imported_from``. Returns the archive path.
    """
    import backends

    upstream = read_upstream_bundle(path)
    config = upstream.training_config(backend)
    handle = backends.get(backend).build(
        config.model, upstream.probe, upstream.intensity_scale, weights=upstream.weights
    )
    return save_imported(handle, upstream, config, out_dir)


def provenance(upstream: UpstreamBundle) -> dict[str, Any]:
    """The manifest record of an import: source, version and the combine mode set."""
    return {
        "imported_from": {
            "format": "upstream PtychoPINN wts.h5.zip",
            "file": upstream.path.name,
            "upstream_version": upstream.version,
            "combine_mode": IMPORTED_COMBINE_MODE,
            "not_read": sorted(upstream.ignored),
        }
    }


def save_imported(handle: Any, upstream: UpstreamBundle, config: Any, out_dir: Path | str) -> Path:
    """Save a model built from an upstream bundle, recording the import in the manifest."""
    if handle.backend == "tensorflow":
        from backends.tensorflow.persistence import save_bundle as save_tf

        return save_tf(
            handle.models, out_dir, config, handle.intensity_scale, producer=provenance(upstream)
        )
    from backends.pytorch.persistence import save_bundle as save_torch

    return save_torch(
        handle.module, out_dir, config, handle.intensity_scale, producer=provenance(upstream)
    )
