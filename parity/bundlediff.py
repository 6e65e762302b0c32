"""Compare two model bundles (``wts.h5.zip``) without a framework: manifest, params snapshot,
entries and their checksums; optionally, through the backends, the canonical weights and the
forward outputs on a fixed batch."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from backends.bundle.archive import SafeArchive
from backends.core.vocabulary import BUNDLE_NAME, MANIFEST_FILE, PARAMS_FILE
from backends.safeio import BundleFileError, expect, parse_json
from parity.checks.base import keyed_diff, summarize_passes
from parity.errors import InputError
from parity.findings import FAIL, PASS, Finding

IGNORED_PARAMS = {"backend": "set to the saving backend (persistence.md 3.3)"}


@dataclass
class BundleListing:
    """What a bundle holds."""

    path: Path
    manifest: dict[str, Any]
    params: dict[str, Any]
    entries: dict[str, str]


def resolve(path: Path) -> Path:
    """A bundle directory, the archive, or a path ending in ``wts.h5``."""
    path = Path(path)
    if path.is_dir():
        path = path / BUNDLE_NAME
    elif path.name == "wts.h5":
        path = path.with_name(BUNDLE_NAME)
    if not path.exists():
        raise FileNotFoundError(f"model bundle {path} does not exist")
    return path


def read(path: Path) -> BundleListing:
    """Manifest, params and entry checksums of a bundle (nothing is unpickled)."""
    path = resolve(path)
    with SafeArchive(path) as archive:
        names = archive.names
        if MANIFEST_FILE not in names:
            hint = (
                " (an upstream pickle bundle: convert it first)" if "manifest.dill" in names else ""
            )
            raise InputError(f"{path} has no manifest.json{hint}")
        entries = {n: hashlib.sha256(archive.read(n)).hexdigest() for n in names}
        manifest = expect(
            parse_json(archive.read(MANIFEST_FILE), path, BundleFileError, key=MANIFEST_FILE),
            dict, path, BundleFileError, "manifest.json",
        )  # fmt: skip
        params_file = expect(
            manifest.get("params_file", PARAMS_FILE), str, path, BundleFileError, "params_file"
        )
        if params_file not in archive:
            raise BundleFileError(path, f"{params_file} is missing", fix="write the bundle again")
        params = expect(
            parse_json(archive.read(params_file), path, BundleFileError, key=params_file),
            dict, path, BundleFileError, params_file,
        )  # fmt: skip
    return BundleListing(path, manifest, params, entries)


def diff(a: BundleListing, b: BundleListing) -> Iterator[Finding]:
    """Findings of bundle B against bundle A."""
    na, nb = str(a.manifest.get("backend", "A")), str(b.manifest.get("backend", "B"))
    if na == nb:
        na, nb = f"A ({na})", f"B ({nb})"
    shared = ("format", "format_version", "models", "model_geometry", "params_file")
    yield from keyed_diff(
        "bundles.manifest",
        {k: a.manifest[k] for k in shared if k in a.manifest},
        {k: b.manifest[k] for k in shared if k in b.manifest},
        na,
        nb,
        label="shared manifest fields",
    )
    params_ignored = dict(IGNORED_PARAMS)
    ia, ib = a.params.get("intensity_scale"), b.params.get("intensity_scale")
    if isinstance(ia, (int, float)) and isinstance(ib, (int, float)):
        params_ignored["intensity_scale"] = "compared numerically (bundles.scalar)"
        rel = abs(ib - ia) / abs(ia) if ia else abs(ib)
        yield Finding(
            "bundles.scalar",
            "intensity_scale",
            "rtol=1e-6",
            rel,
            1e-6,
            None,
            PASS if rel <= 1e-6 else FAIL,
            f"{na} {ia!r} vs {nb} {ib!r}",
        )
    yield from keyed_diff(
        "bundles.params",
        a.params,
        b.params,
        na,
        nb,
        ignore=params_ignored,
        label="params.json keys",
    )
    if a.manifest.get("backend") == b.manifest.get("backend"):
        entries = []
        for name in sorted(set(a.entries) | set(b.entries)):
            if name == MANIFEST_FILE:
                continue
            if name not in b.entries or name not in a.entries:
                side = nb if name not in b.entries else na
                entries.append(
                    Finding(
                        "bundles.entries",
                        name,
                        "presence",
                        None,
                        None,
                        None,
                        FAIL,
                        f"missing from {side}",
                    )
                )
            else:
                same = a.entries[name] == b.entries[name]
                entries.append(
                    Finding(
                        "bundles.entries",
                        name,
                        "sha256",
                        None,
                        None,
                        None,
                        PASS if same else FAIL,
                        "identical bytes" if same else "content differs",
                    )
                )
        yield from summarize_passes(entries, "bundles.entries", "identical entries")


def diff_loaded(a: BundleListing, b: BundleListing, batch_seed: int = 0) -> Iterator[Finding]:
    """Load both bundles with their own backends and compare canonical weights and the forward
    outputs on a fixed random batch (imports the frameworks)."""
    import backends
    from backends.base import Batch
    from parity import numeric
    from parity.tolerances import Registry

    reg = Registry.load()
    loaded = []
    for listing in (a, b):
        backend = backends.get(str(listing.manifest.get("backend")))
        model, _ = backend.load_bundle(listing.path)
        loaded.append((backend, model))
    (ba, ma), (bb, mb) = loaded
    wa, wb = ba.export_weights(ma), bb.export_weights(mb)
    weights = []
    tol = reg.lookup("bundles", "roundtrip")
    for name in sorted(set(wa) | set(wb)):
        if name not in wa or name not in wb:
            weights.append(
                Finding(
                    "bundles.weights",
                    name,
                    "presence",
                    None,
                    None,
                    None,
                    FAIL,
                    f"only in {'A' if name in wa else 'B'}",
                )
            )
            continue
        cmp = numeric.compare(np.asarray(wb[name]), np.asarray(wa[name]), tol)
        weights.append(
            Finding(
                "bundles.weights",
                name,
                tol.describe(),
                cmp.measured,
                cmp.allowed,
                cmp.margin,
                PASS if cmp.ok else FAIL,
                cmp.message(),
            )
        )
    yield from summarize_passes(weights, "bundles.weights", "identical weights")
    cfg = ma.config
    rng = np.random.default_rng(batch_seed)
    C = cfg.gridsize**2
    batch = Batch(
        X=rng.uniform(0, 1, size=(2, cfg.N, cfg.N, C)).astype(np.float32),
        positions=rng.uniform(-2, 2, size=(2, 1, 2, C)).astype(np.float32)
        if C > 1
        else np.zeros((2, 1, 2, 1), np.float32),
    )
    oa, ob = ba.forward(ma, batch).outputs, bb.forward(mb, batch).outputs
    from parity.checks.forward import OUTPUT_KIND

    for name in sorted(set(oa) & set(ob)):
        t = reg.lookup("forward", OUTPUT_KIND.get(name, "activation"))
        cmp = numeric.compare(np.asarray(ob[name]), np.asarray(oa[name]), t)
        yield Finding(
            "bundles.forward",
            name,
            t.describe(),
            cmp.measured,
            cmp.allowed,
            cmp.margin,
            PASS if cmp.ok else FAIL,
            cmp.message(),
        )


def read_bytes(path: Path, member: str) -> bytes:
    """One member of a bundle."""
    with SafeArchive(resolve(path)) as archive:
        return archive.read(member)
