"""Known defects the harness must catch, and how to inject each into a backend.

Each defect reproduces one hazard of docs/physics.md section 12 (or the config and persistence
specs) as a naive port would have it, and states which check must fail and which tensor or key it
must name (and, for forward defects, the first divergent stage). ``parity run --inject NAME``
injects one into the candidate backend for a demonstration; the test suite injects every one and
asserts the expected failure.

Injection goes through patchers registered per backend kind (``backend.defect_kind`` or its
``name``). Interface-level patchers (kind ``*``) wrap the backend object and work for any
backend where the defect is visible at the boundary (config path, saved bundle, ops namespace);
defects inside the model need a patcher for that backend's internals.
"""

from __future__ import annotations

import dataclasses
import io
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from parity.errors import InputError


@dataclass(frozen=True)
class Expected:
    """A finding that must fail: its check (prefix) and the tensor or key it names."""

    check: str
    tensor: str


@dataclass(frozen=True)
class Defect:
    """One injectable defect and what the harness must report for it."""

    name: str
    description: str
    hazard: str
    scenario: str
    expected: tuple[Expected, ...]
    first_divergent: str | None = None
    consequences: tuple[str, ...] = ()
    """Check families where an ``error`` finding is a legitimate consequence (a strict loader
    refusing the defective bundle)."""


DEFECTS: dict[str, Defect] = {
    d.name: d
    for d in (
        Defect(
            "fftshift-dropped",
            "diffraction without the fftshift: zero frequency stays at index 0",
            "physics.md 3 and 12.4",
            "smoke",
            (Expected("ops.oracle", "diffract"), Expected("forward.activation", "pred_amplitude")),
            first_divergent="pred_amplitude",
        ),
        Defect(
            "half-pixel-translation",
            "bilinear translation sampled half a pixel off, as grid_sample with "
            "align_corners=False does on a grid normalised for align_corners=True",
            "physics.md 7.1 and 12.3",
            "smoke",
            (
                Expected("ops.oracle", "translate[subpixel]"),
                Expected("forward.activation", "padded_obj_2"),
            ),
            first_divergent="padded_obj_2",
        ),
        Defect(
            "translation-sign-flipped",
            "merge translates patches by +r and extraction by -r (the upstream torch sign fork); "
            "invisible at gridsize 1 where the group offsets are zero",
            "physics.md 12.2",
            "gridsize2",
            (
                Expected("ops.oracle", "merge_patches"),
                Expected("forward.activation", "padded_obj_2"),
            ),
            first_divergent="padded_obj_2",
        ),
        Defect(
            "merge-clamped",
            "merge normalised by clamp(count, 1) instead of count + 0.001",
            "physics.md 8.1 and 12.8",
            "smoke",
            (
                Expected("ops.oracle", "merge_patches"),
                Expected("forward.activation", "padded_obj_2"),
            ),
            first_divergent="padded_obj_2",
        ),
        Defect(
            "adam-epsilon",
            "Adam with epsilon 1e-8 instead of the Keras 1e-7",
            "model.md 9, physics.md 12.20",
            "smoke",
            (Expected("training.first_step", "*"),),
        ),
        Defect(
            "poisson-log-factorial",
            "Poisson loss with the log-factorial term (full log-likelihood)",
            "physics.md 10 and 12.5",
            "smoke",
            (Expected("gradients.loss", "nll"),),
        ),
        Defect(
            "kernel-transposed",
            "conv kernels converted with the spatial axes swapped (HWIO -> OIWH)",
            "model.md 10",
            "smoke",
            (Expected("forward.activation", "enc1"),),
            first_divergent="enc1",
        ),
        Defect(
            "bridge-drops-object-big",
            "the configuration bridge drops object_big, which takes the torch-native default False",
            "config.md (g) defect 4",
            "smoke",
            (Expected("params.legacy", "object.big"),),
        ),
        Defect(
            "bundle-params-missing-key",
            "the saved bundle's params snapshot lacks probe_scale",
            "persistence.md 3.3 and 3.9 (parity requirement)",
            "smoke",
            (Expected("bundles.params", "probe_scale"),),
            consequences=("bundles",),
        ),
        Defect(
            "learning-rate-ignored",
            "the optimizer runs at the default learning rate 1e-3 whatever the run asks for, and "
            "reports the requested rate back",
            "model.md 9 (the optimizer's learning rate is a training knob)",
            "knobs",
            (Expected("training.applied_lr", "learning_rate"),),
        ),
        Defect(
            "poisson-weight-fixed",
            "the Poisson-loss weight fixed at 1 whatever nll_weight says",
            "physics.md 10 (total = w_rs·L_rs + w_mae·L_mae + w_nll·L_nll)",
            "knobs",
            (Expected("gradients.loss", "total"),),
        ),
        Defect(
            "intensity-scale-trainable-ignored",
            "intensity_scale_trainable ignored: the backend's configuration path always says True",
            "config.md (c) intensity_scale_trainable -> intensity_scale.trainable",
            "knobs",
            (Expected("params.legacy", "intensity_scale.trainable"),),
        ),
    )
}

DEFAULT_LEARNING_RATE = 1e-3
"""What the learning-rate defect applies instead of the requested rate."""

MISSING_BUNDLE_KEY = "probe_scale"

Patcher = Callable[[Any], Any]
_PATCHERS: dict[tuple[str, str], Patcher] = {}


def register_patcher(defect: str, kind: str, patcher: Patcher) -> None:
    """Register how ``defect`` is injected into backends of ``kind`` (``*``: any backend)."""
    if defect not in DEFECTS:
        raise KeyError(f"unknown defect {defect!r}")
    _PATCHERS[(defect, kind)] = patcher


def backend_kind(backend: Any) -> str:
    """The kind patchers are registered under: ``backend.defect_kind`` or ``backend.name``."""
    return str(getattr(backend, "defect_kind", None) or getattr(backend, "name", ""))


def get(name: str) -> Defect:
    """A defect by name (clear error for an unknown one)."""
    if name not in DEFECTS:
        import difflib

        close = difflib.get_close_matches(name, list(DEFECTS), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise InputError(f"unknown defect {name!r}{hint}; defects: {', '.join(DEFECTS)}")
    return DEFECTS[name]


def inject(backend: Any, name: str) -> Any:
    """A backend with the defect ``name`` injected (the original is left untouched)."""
    get(name)
    kind = backend_kind(backend)
    _load_backend_patchers(kind)
    patcher = _PATCHERS.get((name, kind)) or _PATCHERS.get((name, "*"))
    if patcher is None:
        raise InputError(
            f"defect {name!r} cannot be injected into backend {kind!r}: no patcher is registered "
            "for it (interface-level defects work with any backend; defects inside the model "
            "need a patcher for that backend)"
        )
    return patcher(backend)


def _load_backend_patchers(kind: str) -> None:
    import importlib
    import importlib.util

    module = f"parity.defects_{kind}"
    if kind.isidentifier() and importlib.util.find_spec(module) is not None:
        importlib.import_module(module)


class Proxy:
    """A backend whose named attributes are replaced; everything else is the wrapped one's."""

    def __init__(self, inner: Any, **overrides: Any) -> None:
        self._inner = inner
        self._overrides = overrides

    def __getattr__(self, attr: str) -> Any:
        overrides = self.__dict__.get("_overrides", {})
        if attr in overrides:
            return overrides[attr]
        return getattr(self.__dict__["_inner"], attr)


def _drop_object_big(backend: Any) -> Any:
    def legacy_params(config: Any) -> dict[str, Any]:
        snapshot = dict(backend.legacy_params(config))
        snapshot["object.big"] = False
        return snapshot

    return Proxy(backend, legacy_params=legacy_params)


def strip_params_key(bundle: Path, key: str) -> None:
    """Rewrite a bundle zip with ``key`` removed from ``params.json``, as a writer that forgot the
    key would have produced it: checksums of ``params.json`` in the manifest are updated."""
    import hashlib

    data = Path(bundle).read_bytes()
    with zipfile.ZipFile(io.BytesIO(data)) as zin:
        entries = [(info, zin.read(info.filename)) for info in zin.infolist()]
    contents = {info.filename: content for info, content in entries}
    if "params.json" not in contents:
        return
    old_digest = hashlib.sha256(contents["params.json"]).hexdigest()
    params = json.loads(contents["params.json"])
    params.pop(key, None)
    new_params = json.dumps(params, sort_keys=True).encode()
    new_digest = hashlib.sha256(new_params).hexdigest()

    def swap(obj: Any) -> Any:
        if isinstance(obj, dict):
            return {k: swap(v) for k, v in obj.items()}
        if isinstance(obj, list):
            return [swap(v) for v in obj]
        return new_digest if obj == old_digest else obj

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for info, content in entries:
            if info.filename == "params.json":
                content = new_params
            elif info.filename == "manifest.json":
                content = json.dumps(swap(json.loads(content)), sort_keys=True).encode()
            zout.writestr(info, content)
    Path(bundle).write_bytes(out.getvalue())


def _bundle_missing_key(backend: Any) -> Any:
    def save_bundle(model: Any, bundle_dir: Path, config: Any) -> Path:
        path = Path(backend.save_bundle(model, bundle_dir, config))
        strip_params_key(path, MISSING_BUNDLE_KEY)
        return path

    return Proxy(backend, save_bundle=save_bundle)


def _learning_rate_ignored(backend: Any) -> Any:
    def train_steps(
        model: Any, batches: Any, config: Any, learning_rate: float = DEFAULT_LEARNING_RATE
    ) -> Any:
        result = backend.train_steps(model, batches, config, learning_rate=DEFAULT_LEARNING_RATE)
        return dataclasses.replace(result, learning_rates=[learning_rate] * len(batches))

    return Proxy(backend, train_steps=train_steps)


def _with_config(backend: Any, methods: tuple[str, ...], **fields: Any) -> Any:
    """A backend whose ``methods`` see their config argument with ``fields`` replaced."""

    def wrap(method: str) -> Callable[..., Any]:
        original = getattr(backend, method)

        def call(*args: Any, **kwargs: Any) -> Any:
            if "config" in kwargs:
                kwargs["config"] = _replace_training(kwargs["config"], fields)
            else:
                index = next(i for i, a in enumerate(args) if hasattr(a, "nll_weight"))
                args = (*args[:index], _replace_training(args[index], fields), *args[index + 1 :])
            return original(*args, **kwargs)

        return call

    return Proxy(backend, **{m: wrap(m) for m in methods})


def _replace_training(config: Any, fields: dict[str, Any]) -> Any:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return dataclasses.replace(config, **fields)


def _poisson_weight_fixed(backend: Any) -> Any:
    return _with_config(backend, ("loss_and_grads", "train_steps", "train"), nll_weight=1.0)


def _intensity_scale_trainable_ignored(backend: Any) -> Any:
    return _with_config(
        backend, ("legacy_params", "save_bundle", "train"), intensity_scale_trainable=True
    )


register_patcher("bridge-drops-object-big", "*", _drop_object_big)
register_patcher("learning-rate-ignored", "*", _learning_rate_ignored)
register_patcher("poisson-weight-fixed", "*", _poisson_weight_fixed)
register_patcher("intensity-scale-trainable-ignored", "*", _intensity_scale_trainable_ignored)
register_patcher("bundle-params-missing-key", "*", _bundle_missing_key)
