"""The one place where the facade opens a model bundle (docs/ptychodus.md, "Bundles").

ptychodus hands over a directory that holds ``wts.h5.zip``, a directory into which it unpacked
a saved model archive (the bundle's members, without the outer ``wts.h5.zip``), or the archive
itself (any file name, ``.ckpt`` included). :func:`open_bundle` turns each into the archive the
project's readers verify, and routes upstream's pickle bundles to the upstream importer.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["UPSTREAM_MEMBERS", "FacadeBundleError", "bundle_archive", "open_bundle"]

BUNDLE_NAME = "wts.h5.zip"
UPSTREAM_MEMBERS = ("manifest.dill", "params.dill")
_MAX_MEMBERS = 4096


class FacadeBundleError(ValueError):
    """A model path that holds no bundle this facade can read."""


def _is_upstream_archive(archive: Path) -> bool:
    import zipfile

    try:
        with zipfile.ZipFile(archive) as handle:
            names = {n.rsplit("/", 1)[-1] for n in handle.namelist()}
    except (OSError, zipfile.BadZipFile):
        return False
    return "manifest.json" not in names and any(m in names for m in UPSTREAM_MEMBERS)


def _pack_members(directory: Path) -> Path:
    """Zip the unpacked bundle members under ``directory`` (regular files only) into a private
    temporary archive; the project's reader then checks names, sizes and checksums."""
    from backends.bundle.archive import atomic_write_bytes, build_zip

    entries: dict[str, bytes] = {}
    for root, dirs, files in os.walk(directory, followlinks=False):
        dirs.sort()
        for name in sorted(files):
            path = Path(root) / name
            rel = path.relative_to(directory).as_posix()
            if path.is_symlink():
                raise FacadeBundleError(
                    f"model directory {directory}: member {rel!r} is a symbolic link; bundle "
                    "members must be regular files"
                )
            entries[rel] = path.read_bytes()
            if len(entries) > _MAX_MEMBERS:
                raise FacadeBundleError(
                    f"model directory {directory} holds more than {_MAX_MEMBERS} files; it is "
                    "not an unpacked model bundle"
                )
    target = Path(tempfile.mkdtemp(prefix="ptychopinn-compat-")) / BUNDLE_NAME
    return atomic_write_bytes(target, build_zip(entries))


def bundle_archive(path: str | os.PathLike[str]) -> Path:
    """The bundle archive ``path`` designates: ``<dir>/wts.h5.zip``, a directory of unpacked
    bundle members (packed again into a temporary archive), or an archive file of any name."""
    p = Path(path)
    if p.is_dir():
        if (p / BUNDLE_NAME).is_file():
            return p / BUNDLE_NAME
        members = {q.name for q in p.iterdir()}
        if "manifest.json" in members or any(m in members for m in UPSTREAM_MEMBERS):
            return _pack_members(p)
        raise FacadeBundleError(
            f"model directory {p} holds neither {BUNDLE_NAME} nor the members of an unpacked "
            "bundle (manifest.json); point at the training output directory or the saved model"
        )
    if p.is_file():
        return p
    raise FileNotFoundError(
        f"model not found: {p} (expected a directory holding {BUNDLE_NAME}, or a saved model "
        "archive)"
    )


def _upstream_converted(archive: Path, backend: str) -> Path:
    """Convert an upstream bundle with the project's upstream importer, when it has one."""
    import importlib

    upstream = importlib.import_module("backends.bundle.upstream")
    convert = getattr(upstream, "convert_upstream_bundle", None)
    if convert is None:
        raise FacadeBundleError(
            f"{archive} is a bundle written by upstream PtychoPINN (pickled manifest.dill / "
            "params.dill). This installation of ptychopinn-parity cannot import upstream "
            "bundles; convert it with a release that provides `parity convert-bundle` for "
            "upstream bundles, or retrain the model with this project"
        )
    out_dir = Path(tempfile.mkdtemp(prefix="ptychopinn-compat-upstream-"))
    return Path(convert(archive, backend, out_dir))


def open_bundle(path: str | os.PathLike[str], backend: str) -> tuple[Any, dict[str, Any]]:
    """Load the bundle at ``path`` with ``backend`` ('tensorflow' or 'pytorch').

    Returns ``(model handle, params snapshot)`` from the backend's ``load_bundle``. An
    upstream pickle bundle is converted first with the upstream importer when this
    installation has one, otherwise refused with :class:`FacadeBundleError`; nothing is
    ever unpickled here.
    """
    import backends

    archive = bundle_archive(path)
    if not _is_upstream_archive(archive):
        return backends.get(backend).load_bundle(archive)
    converted = _upstream_converted(archive, backend)
    try:
        return backends.get(backend).load_bundle(converted)
    finally:  # the loaded model holds everything it needs; the converted copy goes
        shutil.rmtree(converted.parent, ignore_errors=True)
