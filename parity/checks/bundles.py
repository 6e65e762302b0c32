"""bundles: what each backend saves and reloads (docs/persistence.md 3).

Per backend: the manifest's required keys and backend tag, the weights and forward outputs after
a save/load round trip (bit for bit). Across backends: the same params snapshot (except
``backend`` and a tolerance on ``intensity_scale``), the same model geometry and model list, and
the same forward outputs after loading.
"""

from __future__ import annotations

from collections.abc import Iterator

from parity.checks.base import Context, keyed_diff, summarize_passes
from parity.findings import FAIL, PASS, Finding
from parity.trace import Trace

MANIFEST_KEYS = (
    "format",
    "format_version",
    "backend",
    "version",
    "models",
    "payloads",
    "params_file",
    "intensity_scale",
    "model_geometry",
    "producer",
)
VERSION_TAG = {"tensorflow": "1.0", "pytorch": "2.0-pytorch"}
SHARED_MANIFEST = ("format", "format_version", "models", "model_geometry", "params_file")
PARAMS_IGNORED = {
    "backend": "set to the saving backend (persistence.md 3.3)",
    "intensity_scale": "compared numerically (bundles.scalar)",
}


def _per_backend(ctx: Context, trace: Trace) -> Iterator[Finding]:
    name = trace.backend
    manifest = trace.json("bundles", "manifest")
    if manifest is None:
        yield Finding(
            "bundles.manifest",
            "manifest.json",
            "presence",
            None,
            None,
            None,
            FAIL,
            "the bundle has no manifest.json",
            name,
        )
    else:
        absent = [k for k in MANIFEST_KEYS if k not in manifest]
        yield Finding(
            "bundles.manifest",
            "manifest.json",
            "required keys",
            float(len(absent)),
            0.0,
            1.0 if not absent else None,
            FAIL if absent else PASS,
            f"missing keys: {', '.join(absent)}" if absent else "all required keys present",
            name,
        )
        tag = manifest.get("backend")
        if tag != name:
            yield Finding(
                "bundles.manifest",
                "backend",
                "value",
                None,
                None,
                None,
                FAIL,
                f"manifest backend {tag!r} but written by {name!r}",
                name,
            )
        if name in VERSION_TAG and manifest.get("version") != VERSION_TAG[name]:
            yield Finding(
                "bundles.manifest",
                "version",
                "value",
                None,
                None,
                None,
                FAIL,
                f"version {manifest.get('version')!r}, expected {VERSION_TAG[name]!r} "
                "(persistence.md 3.2)",
                name,
            )
    if trace.json("bundles", "params") is None:
        yield Finding(
            "bundles.params",
            "params.json",
            "presence",
            None,
            None,
            None,
            FAIL,
            "the bundle has no params.json",
            name,
        )
    status = trace.json("params", "bundle_weight_check") or {}
    weights = [
        Finding(
            "bundles.roundtrip",
            f"weights/{w}",
            "exact",
            0.0 if s == "equal" else None,
            0.0,
            1.0 if s == "equal" else None,
            PASS if s == "equal" else FAIL,
            "" if s == "equal" else f"after save/load: {s}",
            name,
        )
        for w, s in sorted(status.items())
    ]
    yield from summarize_passes(weights, "bundles.roundtrip", "weights after save/load", name)
    for out in trace.names("bundle/outputs"):
        if trace.has("forward/outputs", out):
            yield ctx.compare(
                "bundles.roundtrip",
                f"outputs/{out}",
                trace.get("bundle/outputs", out),
                trace.get("forward/outputs", out),
                family="bundles",
                kind="roundtrip",
                backend=name,
                context="forward after load vs before save",
            )


def run(ctx: Context) -> Iterator[Finding]:
    """Findings of the bundles family. What a trace recorded before a failure (the saved
    bundle's manifest and params, when loading it failed) is still compared."""
    present = []
    for trace in ctx.traces:
        problem = ctx.trace_section("bundles", trace, "bundles")
        if problem is not None:
            yield problem
        if (
            trace.json("bundles", "manifest") is not None
            or trace.json("bundles", "params") is not None
        ):
            present.append(trace)
    for trace in present:
        yield from _per_backend(ctx, trace)
    if len(present) != 2 or ctx.cand is None:
        return
    ref, cand = ctx.ref, ctx.cand
    m_ref = ref.json("bundles", "manifest") or {}
    m_cand = cand.json("bundles", "manifest") or {}
    yield from keyed_diff(
        "bundles.manifest",
        {k: m_ref[k] for k in SHARED_MANIFEST if k in m_ref},
        {k: m_cand[k] for k in SHARED_MANIFEST if k in m_cand},
        ctx.ref_name,
        ctx.cand_name,
        label="shared manifest fields",
    )
    p_ref = ref.json("bundles", "params") or {}
    p_cand = cand.json("bundles", "params") or {}
    yield from keyed_diff(
        "bundles.params",
        p_ref,
        p_cand,
        ctx.ref_name,
        ctx.cand_name,
        ignore=PARAMS_IGNORED,
        label="params.json keys",
    )
    if "intensity_scale" in p_ref and "intensity_scale" in p_cand:
        yield ctx.compare(
            "bundles.scalar",
            "intensity_scale",
            float(p_cand["intensity_scale"]),
            float(p_ref["intensity_scale"]),
            family="bundles",
            kind="scalar",
        )
    from parity.checks.forward import OUTPUT_KIND

    for out in sorted(set(ref.names("bundle/outputs")) & set(cand.names("bundle/outputs"))):
        yield ctx.compare(
            "bundles.forward",
            out,
            cand.get("bundle/outputs", out),
            ref.get("bundle/outputs", out),
            family="forward",
            kind=OUTPUT_KIND.get(out, "activation"),
            context="forward outputs of the reloaded bundles",
        )
