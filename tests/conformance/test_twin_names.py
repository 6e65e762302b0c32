"""Both backends' twin modules, side by side: public names and signatures.

Read from the source (no framework is imported), so the check runs with either framework
uninstalled. Any public top-level name one backend's module has and the other's lacks, and any
shared function whose parameters differ in name or order, fails unless it is on the allow-list
below with the reason. Shrinking these lists is the way to bring the twins together; adding to
them needs a reason a reviewer accepts.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TWIN_MODULES = (
    "ops",
    "model",
    "train",
    "infer",
    "persistence",
    "adapter",
    "layers",
    "bench",
    "parallel",
    "devices",
)

FRAMEWORK_ONLY = {
    # layout conversion and tensor aliases exist only where the layout differs from the reference
    "pytorch": {
        "ops": {"Tensor", "nchw_to_nhwc", "nhwc_to_nchw", "NUMPY_OPS", "ReferenceLayoutOps"}
        # building blocks of the kernels that injected defects replace (TensorFlow's bilinear
        # gather is one private function)
        | {"axis_sampling", "sum_channels", "divide_parts"},
        "model": {"Tensor", "standard_layout"},
        # TensorFlow's model handle exports its own weights (PtychoPINN.export_weights)
        "train": {"Tensor", "to_nchw", "export_weights"}
        # Keras' form of Adam written for torch (TensorFlow uses keras.optimizers.Adam), as a
        # torch optimiser for Lightning and as a plain object for step lists run without it
        | {"KerasAdam", "PlainKerasAdam"}
        # Lightning iterates a data part held as device tensors; TensorFlow's fit batches the
        # data container itself
        | {"tensor_set"},
        "layers": {"Tensor", "ConvLayout", "conv_memory_format"}
        # nn.Module building blocks of the network (TensorFlow builds the same stages from Keras
        # layers inside model.build_model)
        | {"Decoder", "DecoderBlock", "EncoderBlock", "Head"}
        # the heads' output convolutions as a projection onto the taps (Keras' Conv2D computes
        # them directly; docs/benchmarks.md)
        | {"HeadConv"},
        # PyTorch places every tensor and module explicitly (TensorFlow: one device scope), and
        # sets its GPU numerics in one function (TensorFlow: inside use_device)
        "devices": {
            "CUBLAS_WORKSPACE",
            "configure_gpu_numerics",
            "current",
            "from_numpy",
            "lightning_accelerator",
            "place",
            "to_numpy",
        },
        # torch's thread pool can be resized at any time; TensorFlow sizes its own pools and
        # cannot change them once its runtime has started (the adapter only reports them)
        "adapter": {"THREADS_ENV", "configure_threads"},
        "persistence": {
            # hparams.json (Lightning's hyperparameters: the torch-native configs and the bridge
            # overrides, checked against params.json) exists only in PyTorch bundles
            "ARRAY_REF",
            "BundleConfigMismatchError",
            "CONFIG_KEYS",
            "HPARAMS_FILE",
            "PROBE_MASK_FILE",
            "TUPLE_FIELDS",
            "decode_hparams",
            "encode_hparams",
            # one payload directory; the autoencoder is an alias of the same module
            "MODEL_DIR",
            # the fallback payload (weights-only torch.save) where safetensors cannot be used
            "STATE_DICT_FILE",
            "STATE_DICT_FORMAT",
            # reading a flat state dict into tensors and torch's load_state_dict(strict=True)
            "load_state",
            "load_state_strict",
        },
    },
    "tensorflow": {
        # Lightning clips PyTorch's gradients (Trainer(gradient_clip_val=...)); only TensorFlow
        # traces its train step, and runs short step lists eagerly
        "train": {"clip_gradient_norm", "EAGER_STEPS"}
        # the kernels traced once per model with their optimiser (PyTorch: Lightning's loop)
        | {"Trainer"},
        # TensorFlow places work with a device scope and names devices by string
        "devices": {"device_name", "placement"},
        # the NumPy ops namespace class (PyTorch: ReferenceLayoutOps)
        "ops": {"TensorFlowOps"},
        # Keras layer names (canonical names with "." -> "_"); PyTorch's module paths are the
        # canonical names themselves
        "model": {"layer_name"},
        # Keras layers are registered classes, one per stage; PyTorch builds stages as modules
        "layers": {
            "BorderMask",
            "CUSTOM_OBJECTS",
            "ChannelSlice",
            "CombineComplex",
            "ExtractPatchesPosition",
            "FlatToChannel",
            "HeadActivation",
            "IntensityScaler",
            "IntensityScalerInv",
            "PACKAGE",
            "PadAndDiffract",
            "PadReconstruction",
            "ProbeIllumination",
            "ReassemblePatches",
            "Square",
            "TrimReconstruction",
            "make_log_scale",
            "register",
        },
        # tracing the model costs seconds: predictions of a few batches run eagerly
        "infer": {"EAGER_BATCHES"},
        "persistence": {
            # the Keras 3 weights file layout (HDF5 groups per layer), read with h5py and mapped
            # to canonical names by layer name
            "read_weights_file",
            "weights_from_file",
            # the upstream client's entry point returns a Keras model in the gridsize adapter
            "DiffractionToObjectAdapter",
            "load_inference_bundle",
        },
    },
}
"""Names that only make sense in one framework."""

SIGNATURES_DIFFER = {
    # PyTorch passes its tensor dtype; TensorFlow masks are always float32
    ("ops", "center_mask"),
    # TensorFlow can return the padded wave as well (its PadAndDiffract layer needs it)
    ("ops", "diffract"),
    # kernel layouts: TensorFlow takes reference positions, PyTorch (B, C, 2) shifts
    ("ops", "extract_patches"),
    ("ops", "merge_patches"),
    ("ops", "translate"),
    # not yet on the kernel contract: model objects, weights and data sets differ per backend
    ("train", "fit"),
    ("train", "train_steps"),
    # Lightning's per-step overhead is measured as an extra row
    ("bench", "run"),
}
"""Shared functions whose parameters differ, with the reason."""

_PAIR = ("tensorflow", "pytorch")


def _public(module: str, backend: str) -> dict[str, ast.AST]:
    tree = ast.parse((ROOT / "backends" / backend / f"{module}.py").read_text(encoding="utf-8"))
    names: dict[str, ast.AST] = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names[node.name] = node
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update({t.id: node for t in targets if isinstance(t, ast.Name)})
    return {name: node for name, node in names.items() if not name.startswith("_")}


def _allowed(backend: str, module: str) -> set[str]:
    return FRAMEWORK_ONLY.get(backend, {}).get(module, set())


def _parameters(node: ast.AST) -> list[str]:
    assert isinstance(node, ast.FunctionDef)
    args = node.args
    return [a.arg for a in args.posonlyargs + args.args + args.kwonlyargs]


@pytest.mark.parametrize("module", TWIN_MODULES)
def test_public_names_have_a_twin(module: str) -> None:
    names = {backend: set(_public(module, backend)) for backend in _PAIR}
    table = []
    for backend, other in (_PAIR, _PAIR[::-1]):
        lonely = names[backend] - names[other] - _allowed(backend, module)
        table += [f"{backend}.{module}.{name} has no {other} twin" for name in sorted(lonely)]
    assert not table, "\n".join(table)


@pytest.mark.parametrize("module", TWIN_MODULES)
def test_allow_list_names_still_exist(module: str) -> None:
    stale = [
        f"{backend}.{module}.{name}"
        for backend in _PAIR
        for name in sorted(_allowed(backend, module) - set(_public(module, backend)))
    ]
    assert not stale, f"remove from the allow-list: {stale}"


@pytest.mark.parametrize("module", TWIN_MODULES)
def test_shared_functions_take_the_same_parameters(module: str) -> None:
    tf, pt = (_public(module, backend) for backend in _PAIR)
    shared = sorted(
        name
        for name in set(tf) & set(pt)
        if isinstance(tf[name], ast.FunctionDef) and isinstance(pt[name], ast.FunctionDef)
    )
    differ = [
        f"{module}.{name}: tensorflow {_parameters(tf[name])} vs pytorch {_parameters(pt[name])}"
        for name in shared
        if (module, name) not in SIGNATURES_DIFFER
        and _parameters(tf[name]) != _parameters(pt[name])
    ]
    assert not differ, "\n".join(differ)
    stale = [
        f"{m}.{n}"
        for m, n in SIGNATURES_DIFFER
        if m == module and (n not in shared or _parameters(tf[n]) == _parameters(pt[n]))
    ]
    assert not stale, f"remove from SIGNATURES_DIFFER: {stale}"
