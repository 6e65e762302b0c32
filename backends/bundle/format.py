"""The ``wts.h5.zip`` model bundle: writing and reading (docs/persistence.md section 3).

Layout: ``manifest.json``, ``params.json``, ``arrays/<key>.npy`` for non-scalar snapshot
values, and one directory per model with the backend's payload. The backend-specific parts
(serialising weights, rebuilding the model) live in each backend; this module handles the
container, the snapshot, checksums, safety checks and atomic writing, and never imports a
framework.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from backends.bundle.archive import (
    DEFAULT_MAX_TOTAL_BYTES,
    SafeArchive,
    atomic_write_bytes,
    build_zip,
)
from backends.bundle.gate import check_save_gate
from backends.bundle.snapshot import (
    decode_npy,
    decode_params,
    dumps_json,
    encode_npy,
    encode_params,
    sha256_hex,
)
from backends.bundle.upstream import LegacyBundleError, legacy_refusal_message
from backends.core import vocabulary
from backends.safeio import BundleFileError, expect, expect_finite, parse_json

__all__ = [
    "BACKENDS",
    "BUNDLE_NAME",
    "FORMAT",
    "FORMAT_VERSION",
    "MODEL_NAMES",
    "PAYLOAD_FORMATS",
    "VERSION_TAGS",
    "BundleBackendMismatchError",
    "BundleContents",
    "WeightsMismatchError",
    "WeightsPayload",
    "read_bundle",
    "resolve_bundle_path",
    "write_bundle",
]

FORMAT = "ptychopinn-model-bundle"
FORMAT_VERSION = "1.0"
SUPPORTED_MAJOR = 1
BUNDLE_NAME = vocabulary.BUNDLE_NAME
BACKENDS = vocabulary.BACKEND_NAMES
VERSION_TAGS = vocabulary.VERSION_TAGS
MODEL_NAMES = ("autoencoder", "diffraction_to_obj")
PAYLOAD_FORMATS = {
    "keras-weights-h5": "tensorflow",
    "torch-safetensors": "pytorch",
    "torch-state-dict": "pytorch",
}
"""Payload ids this reader knows, with the backend that writes each (a fixed registry)."""

_SAFE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")
DISTRIBUTION = "ptychopinn-parity"


class BundleBackendMismatchError(ValueError):
    """A bundle written by one backend was given to the other backend's loader."""


class WeightsMismatchError(ValueError):
    """A model's weights payload does not match the model rebuilt from the bundle exactly (a
    missing, extra, misshapen or mistyped variable)."""


class WeightsPayload(NamedTuple):
    """One model's weights as a backend stores them in a bundle."""

    format: str
    """The payload id written into the manifest (a key of :data:`PAYLOAD_FORMATS`)."""
    file_name: str
    """The file inside the model's directory."""
    data: bytes


@dataclass(frozen=True)
class BundleContents:
    """What :func:`read_bundle` verified and decoded; nothing has been applied anywhere.

    ``params`` is the snapshot with arrays restored as NumPy arrays; ``arrays`` the same arrays
    by snapshot key; ``files`` the payload bytes of the requested models (alias targets
    included) and any extra listed files, by archive entry name.
    """

    path: Path
    manifest: dict[str, Any]
    params: dict[str, Any]
    arrays: dict[str, np.ndarray]
    files: dict[str, bytes] = field(default_factory=dict)
    models: tuple[str, ...] = ()

    @property
    def backend(self) -> str:
        """The backend that wrote the bundle."""
        return str(self.manifest["backend"])

    @property
    def intensity_scale(self) -> float:
        return float(self.manifest["intensity_scale"])

    @property
    def model_geometry(self) -> dict[str, Any]:
        return dict(self.manifest["model_geometry"])

    def resolve(self, model: str) -> str:
        """The model whose payload ``model`` uses (itself, or the target of its alias)."""
        entry = self.manifest["payloads"][model]
        return str(entry.get("alias_of", model))

    def payload_format(self, model: str) -> str:
        """The payload id of ``model`` (after alias resolution)."""
        return str(self.manifest["payloads"][self.resolve(model)]["format"])

    def payload(self, model: str) -> dict[str, bytes]:
        """File name -> bytes of ``model``'s payload (after alias resolution)."""
        target = self.resolve(model)
        names = self.manifest["payloads"][target]["files"]
        return {name: self.files[f"{target}/{name}"] for name in names}


# ----------------------------------------------------------------------------- writing


def _check_name(kind: str, name: str) -> None:
    if not isinstance(name, str) or not _SAFE_NAME.match(name):
        raise ValueError(
            f"{kind} name {name!r} is not allowed: use letters, digits, '_', '.' and '-' only"
        )


def _geometry(
    model_geometry: Mapping[str, Any] | Any | None, params: Mapping[str, Any]
) -> dict[str, Any]:
    if model_geometry is None:
        source: Mapping[str, Any] = params
    elif isinstance(model_geometry, Mapping):
        source = model_geometry
    else:  # a ModelConfig
        source = {
            "N": model_geometry.N,
            "gridsize": model_geometry.gridsize,
            "model_type": model_geometry.model_type,
        }
    missing = [k for k in ("N", "gridsize", "model_type") if source.get(k) is None]
    if missing:
        raise ValueError(f"model_geometry lacks {', '.join(missing)}")
    gridsize = int(source["gridsize"])
    geometry: dict[str, Any] = {
        "N": int(source["N"]),
        "gridsize": gridsize,
        "model_type": str(source["model_type"]),
        "channels": gridsize**2,
    }
    if "channels" in source and int(source["channels"]) != geometry["channels"]:
        raise ValueError(
            f"model_geometry channels={source['channels']} is not gridsize**2={geometry['channels']}"
        )
    diffs = [k for k in ("N", "gridsize", "model_type") if params.get(k) != geometry[k]]
    if diffs:
        raise ValueError(
            "model_geometry disagrees with the params snapshot on "
            + ", ".join(f"{k} ({geometry[k]!r} vs {params.get(k)!r})" for k in diffs)
        )
    return geometry


def _producer(producer: Mapping[str, Any] | None, backend: str) -> dict[str, Any]:
    out = dict(producer or {})
    out.setdefault("framework", backend)
    out.setdefault("distribution", DISTRIBUTION)
    if "distribution_version" not in out:
        try:
            from importlib.metadata import version

            out["distribution_version"] = version(DISTRIBUTION)
        except Exception:
            out["distribution_version"] = "unknown"
    if "created_utc" not in out:
        out["created_utc"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return out


def write_bundle(
    bundle_dir: Path | str,
    *,
    backend: str,
    payloads: Mapping[str, Mapping[str, Any]],
    payload_formats: Mapping[str, str],
    params: Mapping[str, Any],
    intensity_scale: float | None = None,
    model_geometry: Mapping[str, Any] | Any | None = None,
    producer: Mapping[str, Any] | None = None,
    extra_files: Mapping[str, bytes] | None = None,
    checkpoint: str | None = None,
    custom_objects: Sequence[str] | None = None,
) -> Path:
    """Write ``<bundle_dir>/wts.h5.zip`` atomically and return its path.

    ``payloads`` maps each model to ``{file name: bytes}`` or to ``{"alias_of": model}``;
    ``payload_formats`` gives the payload id of each non-alias model. ``params`` is the
    legacy snapshot (section 3.3). ``intensity_scale`` defaults to ``params["intensity_scale"]``
    and must be finite and > 0. ``model_geometry`` (a mapping or a ModelConfig) defaults to
    the snapshot's N, gridsize and model_type and must agree with them. ``producer`` adds to
    (or overrides) the distribution, framework and ``created_utc`` fields; pass a fixed
    ``created_utc`` for byte-identical output. ``extra_files`` are further entries, e.g.
    ``diffraction_to_obj/hparams.json`` (files under a model directory are listed and
    checksummed with that model's payload, others under ``extra_files``).

    Every check runs before anything is written; on error nothing is left behind.
    """
    if backend not in BACKENDS:
        raise ValueError(
            f"backend={backend!r} is not allowed; choose one of: {', '.join(BACKENDS)}"
        )
    snapshot = dict(params)
    live_backend = snapshot.get("backend")
    if live_backend is not None and live_backend != backend:
        warnings.warn(
            f"the params snapshot says backend={live_backend!r} but the bundle is written by the "
            f"{backend!r} backend; recording backend={backend!r}",
            UserWarning,
            stacklevel=2,
        )
    snapshot["backend"] = backend

    scale = snapshot.get("intensity_scale") if intensity_scale is None else intensity_scale
    if scale is None:
        raise ValueError(
            "intensity_scale is missing: pass it or set params['intensity_scale']; bundles never "
            "fall back to 1.0"
        )
    scale = float(scale)
    if not math.isfinite(scale) or scale <= 0:
        raise ValueError(f"intensity_scale={scale!r} is not allowed; it must be finite and > 0")
    snapshot["intensity_scale"] = scale
    check_save_gate(snapshot, populated=True)

    encoded, arrays = encode_params(snapshot)
    geometry = _geometry(model_geometry, snapshot)

    models = sorted(payloads)
    if "diffraction_to_obj" not in payloads:
        raise ValueError(f"payloads must include 'diffraction_to_obj' (got {models})")
    extra = dict(extra_files or {})
    entries: dict[str, bytes] = {}
    manifest_payloads: dict[str, Any] = {}
    for model in models:
        _check_name("model", model)
        spec = payloads[model]
        if "alias_of" in spec:
            target = spec["alias_of"]
            if target not in payloads or "alias_of" in payloads[target] or target == model:
                raise ValueError(f"model {model!r} is an alias of {target!r}, which has no payload")
            manifest_payloads[model] = {"alias_of": target}
            continue
        fmt = payload_formats.get(model)
        if fmt not in PAYLOAD_FORMATS:
            raise ValueError(
                f"payload format {fmt!r} of model {model!r} is not known; choose one of: "
                f"{', '.join(PAYLOAD_FORMATS)}"
            )
        files: dict[str, str] = {}
        for name, data in spec.items():
            _check_name("payload file", name)
            entries[f"{model}/{name}"] = bytes(data)
            files[name] = sha256_hex(entries[f"{model}/{name}"])
        manifest_payloads[model] = {"format": fmt, "files": files}

    extra_listed: dict[str, str] = {}
    for entry, data in extra.items():
        parts = entry.split("/")
        for part in parts:
            _check_name("extra file path component", part)
        if entry in entries or entry in ("manifest.json", "params.json") or parts[0] == "arrays":
            raise ValueError(f"extra file {entry!r} collides with a bundle entry")
        entries[entry] = bytes(data)
        if (
            len(parts) == 2
            and parts[0] in manifest_payloads
            and "files" in manifest_payloads[parts[0]]
        ):
            manifest_payloads[parts[0]]["files"][parts[1]] = sha256_hex(entries[entry])
        else:
            extra_listed[entry] = sha256_hex(entries[entry])

    manifest_arrays: dict[str, Any] = {}
    for key, array in arrays.items():
        path = f"arrays/{key}.npy"
        entries[path] = encode_npy(array, name=f"params key {key!r}")
        manifest_arrays[key] = {"path": path, "sha256": sha256_hex(entries[path])}

    entries["params.json"] = dumps_json(encoded)
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "backend": backend,
        "version": VERSION_TAGS[backend],
        "models": models,
        "payloads": manifest_payloads,
        "params_file": "params.json",
        "params_sha256": sha256_hex(entries["params.json"]),
        "arrays": manifest_arrays,
        "intensity_scale": scale,
        "model_geometry": geometry,
        "producer": _producer(producer, backend),
    }
    if extra_listed:
        manifest["extra_files"] = extra_listed
    if checkpoint is not None:
        manifest["checkpoint"] = str(checkpoint)
    if custom_objects is not None:
        manifest["custom_objects"] = sorted(str(c) for c in custom_objects)
    entries["manifest.json"] = dumps_json(manifest)

    archive_name = f"{Path(str(snapshot.get('h5_path') or 'wts.h5')).name}.zip"
    _check_name("archive (from params h5_path)", archive_name)
    data = build_zip(entries)
    return atomic_write_bytes(Path(bundle_dir) / archive_name, data)


# ----------------------------------------------------------------------------- reading


def resolve_bundle_path(path: Path | str) -> Path:
    """The archive a loader argument designates (section 3.7); never searches elsewhere.

    A directory means ``<dir>/wts.h5.zip``; a path ending in ``wts.h5`` gets ``.zip``
    appended; anything else is the archive itself.
    """
    path = Path(path)
    if path.is_dir():
        candidate = path / BUNDLE_NAME
    elif path.name.endswith(".h5") and not path.is_file():
        candidate = path.with_name(path.name + ".zip")
    else:
        candidate = path
    if candidate.is_file() or candidate.is_symlink():
        return candidate
    if not path.exists() and path.suffix not in (".zip", ".h5"):
        raise ValueError(f"Model directory does not exist: {path}")
    raise FileNotFoundError(
        f"Model archive not found: expected {candidate}; training writes it "
        "(`parity train --backend NAME ... --output-dir DIR` creates DIR/wts.h5.zip)"
    )


def _parse_version(value: Any) -> tuple[int, int]:
    match = re.fullmatch(r"(\d+)\.(\d+)", str(value))
    if not match:
        raise ValueError(f"manifest format_version {value!r} is not MAJOR.MINOR")
    return int(match.group(1)), int(match.group(2))


def _json_member(archive: SafeArchive, name: str) -> Any:
    return parse_json(archive.read(name), archive.path, BundleFileError, key=name)


def _check_manifest_types(manifest: dict[str, Any], path: Path) -> None:
    """Every structural field of manifest.json has its JSON type, before any is used."""

    def at(*keys: object) -> str:
        return "manifest.json: " + ".".join(str(k) for k in keys)

    def need(value: Any, kind: type, *keys: object) -> Any:
        return expect(value, kind, path, BundleFileError, at(*keys))

    for model in need(manifest.get("models"), list, "models"):
        need(model, str, "models[]")
    for model, spec in need(manifest.get("payloads"), dict, "payloads").items():
        need(spec, dict, "payloads", model)
        for key in ("alias_of", "format"):
            if key in spec:
                need(spec[key], str, "payloads", model, key)
        if "files" in spec:
            for name, digest in need(spec["files"], dict, "payloads", model, "files").items():
                need(digest, str, "payloads", model, "files", name)
    for key, ref in need(manifest.get("arrays"), dict, "arrays").items():
        need(ref, dict, "arrays", key)
        need(ref.get("path"), str, "arrays", key, "path")
        need(ref.get("sha256"), str, "arrays", key, "sha256")
    if manifest.get("extra_files") is not None:
        for name, digest in need(manifest["extra_files"], dict, "extra_files").items():
            need(digest, str, "extra_files", name)
    for key in ("params_file", "params_sha256"):
        if key in manifest:
            need(manifest[key], str, key)
    need(manifest.get("model_geometry"), dict, "model_geometry")
    expect_finite(manifest.get("intensity_scale"), path, BundleFileError, at("intensity_scale"))


def _verified(archive: SafeArchive, name: str, digest: Any) -> bytes:
    if name not in archive:
        raise ValueError(
            f"bundle {archive.path}: entry {name!r} listed in manifest.json is missing"
        )
    data = archive.read(name)
    if sha256_hex(data) != digest:
        raise ValueError(
            f"bundle {archive.path}: checksum mismatch for entry {name!r}; the file is corrupt "
            "or was modified after saving"
        )
    return data


def _check_manifest(manifest: Any, path: Path) -> None:
    expect(manifest, dict, path, BundleFileError, "manifest.json")
    if not isinstance(manifest.get("format"), str) or manifest["format"] != FORMAT:
        raise ValueError(
            f"bundle {path}: manifest format {manifest.get('format')!r} is not {FORMAT!r}"
        )
    major, _minor = _parse_version(manifest.get("format_version"))
    if major > SUPPORTED_MAJOR:
        raise ValueError(
            f"bundle {path} has format_version {manifest.get('format_version')}, but this reader "
            f"supports format_version {FORMAT_VERSION} (major {SUPPORTED_MAJOR}); upgrade "
            "ptychopinn-parity to read it"
        )
    if not isinstance(manifest.get("backend"), str) or manifest["backend"] not in BACKENDS:
        raise ValueError(
            f"bundle {path}: manifest backend {manifest.get('backend')!r} is not one of "
            f"{', '.join(BACKENDS)}"
        )
    _check_manifest_types(manifest, path)


def read_bundle(
    path: Path | str,
    *,
    expected_backend: str | None,
    names: Sequence[str] | None = None,
    max_total_bytes: int = DEFAULT_MAX_TOTAL_BYTES,
) -> BundleContents:
    """Open, check and decode a bundle without applying anything (section 3.7 steps 1-6).

    ``expected_backend`` is the loader's backend (None only for backend-neutral tools such as
    the converter). ``names`` are the models the caller will build (default: all). Raises
    BundleBackendMismatchError, ValueError, KeyError or FileNotFoundError as section 3.7 says;
    upstream pickle bundles are refused (LegacyBundleError, a ValueError).
    """
    archive_path = resolve_bundle_path(path)
    with SafeArchive(archive_path, max_total_bytes=max_total_bytes) as archive:
        if "manifest.json" not in archive:
            if "manifest.dill" in archive:
                raise LegacyBundleError(
                    legacy_refusal_message(
                        archive_path, archive.read("manifest.dill"), archive.names
                    )
                )
            raise ValueError(
                f"{archive_path} is not a PtychoPINN model bundle: it has no manifest.json"
            )
        manifest = _json_member(archive, "manifest.json")
        _check_manifest(manifest, archive_path)

        archived = manifest["backend"]
        if expected_backend is not None and archived != expected_backend:
            raise BundleBackendMismatchError(
                f"{archive_path} was written by the {archived!r} backend but the "
                f"{expected_backend!r} loader was used; cross-backend loading is not supported; "
                f"set backend={archived!r} in the inference config, or retrain or re-export the "
                f"model with the {expected_backend!r} backend (`parity convert-bundle`)"
            )

        available = [str(m) for m in manifest["models"]]
        wanted = list(available if names is None else names)
        absent = [m for m in wanted if m not in available]
        if absent:
            raise ValueError(
                f"Requested models not found in archive: {absent} (the archive {archive_path} "
                f"holds {available})"
            )
        if "diffraction_to_obj" not in available:
            raise KeyError(
                f"the archive {archive_path} has no 'diffraction_to_obj' model; available models: "
                f"{available}"
            )

        payloads = manifest["payloads"]
        needed: list[str] = []
        for model in available:
            spec = payloads.get(model)
            if not isinstance(spec, dict):
                raise ValueError(
                    f"bundle {archive_path}: manifest lists model {model!r} without a payload"
                )
            if "alias_of" in spec:
                target = spec["alias_of"]
                if target not in payloads or "alias_of" in payloads[target]:
                    raise ValueError(
                        f"bundle {archive_path}: model {model!r} aliases {target!r}, which has no payload"
                    )
                if model in wanted:
                    needed.append(str(target))
                continue
            if spec.get("format") not in PAYLOAD_FORMATS:
                raise ValueError(
                    f"bundle {archive_path}: model {model!r} has unknown payload format "
                    f"{spec.get('format')!r} (known: {', '.join(PAYLOAD_FORMATS)})"
                )
            if not isinstance(spec.get("files"), dict):
                raise ValueError(f"bundle {archive_path}: model {model!r} lists no payload files")
            if model in wanted:
                needed.append(model)

        # verify every checksum before parsing anything else
        files: dict[str, bytes] = {}
        for model in available:
            spec = payloads[model]
            for name, digest in spec.get("files", {}).items():
                entry = f"{model}/{name}"
                data = _verified(archive, entry, digest)
                if model in needed:
                    files[entry] = data
        for entry, digest in (manifest.get("extra_files") or {}).items():
            files[entry] = _verified(archive, entry, digest)
        array_bytes: dict[str, bytes] = {}
        for key, ref in manifest["arrays"].items():
            if not isinstance(ref, dict) or "path" not in ref:
                raise ValueError(
                    f"bundle {archive_path}: manifest array entry {key!r} is malformed"
                )
            array_bytes[ref["path"]] = _verified(archive, ref["path"], ref.get("sha256"))
        params_file = str(manifest.get("params_file", "params.json"))
        if "params_sha256" in manifest:
            params_bytes = _verified(archive, params_file, manifest["params_sha256"])
        elif params_file in archive:
            params_bytes = archive.read(params_file)
        else:
            raise ValueError(f"bundle {archive_path}: {params_file} is missing")

    encoded = parse_json(params_bytes, archive_path, BundleFileError, key=params_file)
    expect(encoded, dict, archive_path, BundleFileError, params_file)
    required = [k for k in ("N", "gridsize") if encoded.get(k) is None]
    if required:
        raise ValueError(
            f"Required parameters missing from {params_file} in {archive_path}: {required}; "
            "cannot reconstruct the model architecture"
        )
    try:
        decoded_arrays = {p: decode_npy(b, name=p) for p, b in array_bytes.items()}
        params = decode_params(encoded, decoded_arrays)
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
        if isinstance(exc, ValueError) and str(archive_path) in str(exc):
            raise
        raise BundleFileError(
            archive_path,
            f"{params_file} or its arrays cannot be decoded ({type(exc).__name__}: {exc})",
            key=params_file,
            fix="the bundle is damaged or was not written by this project",
        ) from exc
    params.pop("bigN", None)
    params.pop("_version", None)
    arrays = {key: params[key] for key in manifest["arrays"] if key in params}

    scale = manifest.get("intensity_scale")
    if not isinstance(scale, (int, float)) or not math.isfinite(scale) or scale <= 0:
        raise ValueError(f"bundle {archive_path}: intensity_scale {scale!r} is not finite and > 0")
    if params.get("intensity_scale") != scale:
        raise ValueError(
            f"bundle {archive_path}: intensity_scale differs between manifest.json ({scale!r}) "
            f"and {params_file} ({params.get('intensity_scale')!r})"
        )
    geometry = manifest["model_geometry"]
    diffs = [k for k in ("N", "gridsize") if geometry.get(k) != params.get(k)]
    if diffs:
        raise ValueError(
            f"bundle {archive_path}: model_geometry disagrees with {params_file} on {', '.join(diffs)}"
        )
    return BundleContents(
        path=archive_path,
        manifest=manifest,
        params=params,
        arrays=arrays,
        files=files,
        models=tuple(wanted),
    )
