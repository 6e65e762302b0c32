"""Upstream (pickle-based) bundles: backend detection and refusal (docs/persistence.md 3.8, 3.9).

Upstream archives hold ``manifest.dill`` and ``params.dill``. Unpickling either can execute
code stored in the file, so the normal loader refuses them. Backend detection for them uses only
member names and, for ``manifest.dill``, a static disassembly of its opcodes
(:mod:`pickletools` parses the byte stream without constructing or calling anything).
"""

from __future__ import annotations

import pickletools
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

__all__ = [
    "LegacyBundleError",
    "detect_backend",
    "import_legacy_bundle",
    "legacy_refusal_message",
    "pickle_strings",
]


class LegacyBundleError(ValueError):
    """An upstream pickle bundle was given to a loader that never unpickles."""


def pickle_strings(data: bytes, limit: int = 10_000) -> list[str]:
    """String constants of a pickle stream, found by disassembly only (nothing is executed).

    Returns what could be read before a malformed opcode or ``limit`` opcodes.
    """
    found: list[str] = []
    try:
        for i, (_op, arg, _pos) in enumerate(pickletools.genops(data)):
            if i >= limit:
                break
            if isinstance(arg, str):
                found.append(arg)
    except Exception:  # a malformed stream: keep what was read
        pass
    return found


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


def _manifest_from_strings(strings: list[str]) -> dict[str, Any]:
    """The ``backend``/``version`` pair of a pickled manifest dict, read from its strings."""
    out: dict[str, Any] = {}
    for key in ("backend", "version"):
        if key in strings:
            i = strings.index(key)
            if i + 1 < len(strings):
                out[key] = strings[i + 1]
    return out


def legacy_refusal_message(path: Path, manifest_bytes: bytes | None, names: Iterable[str]) -> str:
    """The 3.9 refusal: pickle format, code execution risk, how to convert."""
    names = list(names)
    manifest = _manifest_from_strings(pickle_strings(manifest_bytes)) if manifest_bytes else None
    backend = detect_backend(manifest, names)
    version = (manifest or {}).get("version", "unknown")
    return (
        f"{path} is an upstream PtychoPINN bundle in the pickle format (manifest.dill, "
        f"version {version!r}, written by the {backend!r} backend). It is refused because "
        "loading it would execute code stored in the file. To convert it, retrain with "
        f"`parity train --backend {backend} ...` on the same data, which writes a bundle in "
        "this project's format (manifest.json, params.json, pickle-free weights); upstream "
        "weights cannot be imported without unpickling (see "
        "backends.bundle.import_legacy_bundle)."
    )


def import_legacy_bundle(path: Path | str, out_dir: Path | str, trust_pickle: bool = False) -> Path:
    """Convert an upstream pickle bundle into this project's format (section 3.9).

    Without ``trust_pickle=True`` it always refuses (ValueError), because reading the bundle
    means unpickling it. With ``trust_pickle=True`` it raises NotImplementedError: upstream
    payloads cannot be turned into this project's weights automatically (the TensorFlow
    archives need upstream's pickled custom objects to rebuild their graph; upstream's PyTorch
    head geometry differs from this model, docs/model.md section 12). Retrain instead.
    """
    path = Path(path)
    if not trust_pickle:
        raise ValueError(
            f"refusing to import {path}: upstream bundles are pickles and importing one would "
            "execute code stored in the file; pass trust_pickle=True only for a file you trust, "
            "and preferably in a separate, sandboxed process"
        )
    raise NotImplementedError(
        f"cannot import {path}: upstream weights do not map onto this project's model without "
        "upstream's pickled custom objects (TensorFlow) or with upstream's different head "
        "geometry (PyTorch); retrain with `parity train` on the same data instead"
    )
