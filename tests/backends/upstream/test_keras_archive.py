"""Upstream model.keras read as data: the Keras 3 group-key quirk, links and storage outside the
file refused, the layer graph mapped to canonical names, and fuzzing that escapes only
KerasArchiveError."""

from __future__ import annotations

import contextlib
import io
import json
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from backends.bundle.keras_archive import (
    KerasArchiveError,
    parse_config,
    read_keras_model,
    read_weights_h5,
)
from backends.bundle.upstream_graph import canonical_layer_names, canonical_weights
from backends.config.canonical import ModelConfig
from backends.graph import weight_shapes
from tests.backends.upstream.opcodes import FIXTURES

CONFIG_G2 = (FIXTURES / "config-g2.json").read_bytes()


def _weights_file(layers: dict[str, tuple[str, list[np.ndarray]]]) -> bytes:
    """An HDF5 file in Keras 3's layout: ``layers/<key>/vars/<i>``, real name as attribute."""
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as h5:
        h5.create_group("vars").attrs["name"] = "functional_2"
        for key, (name, arrays) in layers.items():
            group = h5.create_group(f"layers/{key}/vars")
            group.attrs["name"] = name
            for i, array in enumerate(arrays):
                group.create_dataset(str(i), data=array)
    return buffer.getvalue()


def _keras_zip(config: bytes, weights: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("metadata.json", '{"keras_version": "3.15.1"}')
        zf.writestr("config.json", config)
        zf.writestr("model.weights.h5", weights)
    return buffer.getvalue()


SMALL = _weights_file(
    {
        "conv2d": ("conv2d", [np.ones((3, 3, 1, 2), np.float32), np.zeros(2, np.float32)]),
        "conv2d_6": ("conv2d_8", [np.full((3, 3, 2, 2), 2.0, np.float32), np.ones(2, np.float32)]),
        "max_pooling2d": ("max_pooling2d", []),
    }
)


def test_weights_are_keyed_by_the_layers_real_name_not_the_group_key() -> None:
    weights = read_weights_h5(SMALL, "model.keras")
    assert sorted(weights) == ["conv2d", "conv2d_8"]
    np.testing.assert_array_equal(weights["conv2d_8"][0], np.full((3, 3, 2, 2), 2.0))
    np.testing.assert_array_equal(weights["conv2d_8"][1], np.ones(2))


def _with(tmp_path: Path, build: object) -> bytes:
    path = tmp_path / "w.h5"
    with h5py.File(path, "w") as h5:
        group = h5.create_group("layers/conv2d/vars")
        group.attrs["name"] = "conv2d"
        build(h5, group, tmp_path)  # type: ignore[operator]
    return path.read_bytes()


def test_external_links_soft_links_external_storage_and_virtual_datasets_are_refused(
    tmp_path: Path,
) -> None:
    secret = tmp_path / "secret.h5"
    with h5py.File(secret, "w") as h5:
        h5["data"] = np.arange(4.0)
    (tmp_path / "raw.bin").write_bytes(np.arange(4.0).tobytes())

    def external_link(h5: h5py.File, group: h5py.Group, where: Path) -> None:
        group["0"] = h5py.ExternalLink(str(secret), "data")

    def soft_link(h5: h5py.File, group: h5py.Group, where: Path) -> None:
        h5["elsewhere"] = np.arange(4.0)
        group["0"] = h5py.SoftLink("/elsewhere")

    def external_storage(h5: h5py.File, group: h5py.Group, where: Path) -> None:
        group.create_dataset(
            "0", shape=(4,), dtype="<f8", external=[(str(where / "raw.bin"), 0, 32)]
        )

    def virtual(h5: h5py.File, group: h5py.Group, where: Path) -> None:
        layout = h5py.VirtualLayout(shape=(4,), dtype="<f8")
        layout[:] = h5py.VirtualSource(str(secret), "data", shape=(4,))
        group.create_virtual_dataset("0", layout)

    for build, reason in (
        (external_link, "ExternalLink"),
        (soft_link, "SoftLink"),
        (external_storage, "external storage"),
        (virtual, "virtual"),
    ):
        with pytest.raises(KerasArchiveError, match=reason):
            read_weights_h5(_with(tmp_path, build), "model.keras")


def test_datasets_needing_filter_plugins_are_refused(tmp_path: Path) -> None:
    def lzf(h5: h5py.File, group: h5py.Group, where: Path) -> None:
        group.create_dataset("0", data=np.arange(64.0), chunks=(16,), compression="lzf")

    def deflate(h5: h5py.File, group: h5py.Group, where: Path) -> None:
        group.create_dataset("0", data=np.arange(64.0), compression="gzip", shuffle=True)

    with pytest.raises(KerasArchiveError, match=r"filters \[32000\]"):
        read_weights_h5(_with(tmp_path, lzf), "model.keras")
    out = read_weights_h5(_with(tmp_path, deflate), "model.keras")
    np.testing.assert_array_equal(out["conv2d"][0], np.arange(64.0))


def test_non_numeric_datasets_are_refused(tmp_path: Path) -> None:
    def strings(h5: h5py.File, group: h5py.Group, where: Path) -> None:
        group["0"] = np.array([b"a", b"b"])

    with pytest.raises(KerasArchiveError, match="non-numeric"):
        read_weights_h5(_with(tmp_path, strings), "model.keras")


# ----------------------------------------------------------------------------- the graph


def test_upstream_layer_names_map_to_canonical_names_as_the_graph_says() -> None:
    layers = parse_config(CONFIG_G2, "config-g2.json")
    names = canonical_layer_names(layers, ModelConfig(N=64, gridsize=2, n_filters_scale=2), "g2")
    # FORMAT.md section 5 and config.json: conv2d..conv2d_5 encode; the amp head is
    # conv2d_6 (main output) .. conv2d_13, the phase head the same eight convs shifted by 8
    expected = {
        f"enc{i // 2 + 1}.conv{i % 2 + 1}": f"conv2d{'' if i == 0 else f'_{i}'}" for i in range(6)
    }
    for head, base in (("amp", 6), ("phase", 14)):
        expected |= {
            f"{head}.head.conv_main": f"conv2d_{base}",
            f"{head}.head.conv_border_out": f"conv2d_{base + 1}",
            f"{head}.dec1.conv1": f"conv2d_{base + 2}",
            f"{head}.dec1.conv2": f"conv2d_{base + 3}",
            f"{head}.dec2.conv1": f"conv2d_{base + 4}",
            f"{head}.dec2.conv2": f"conv2d_{base + 5}",
            f"{head}.head.border.conv1": f"conv2d_{base + 6}",
            f"{head}.head.border.conv2": f"conv2d_{base + 7}",
        }
    assert names == expected


def test_canonical_weights_check_every_shape() -> None:
    config = ModelConfig(N=64, gridsize=2, n_filters_scale=2)
    layers = parse_config(CONFIG_G2, "config-g2.json")
    names = canonical_layer_names(layers, config, "g2")
    shapes = weight_shapes(config)
    weights = {
        layer: [np.zeros(shapes[f"{c}.kernel"], np.float32), np.zeros(shapes[f"{c}.bias"])]
        for c, layer in names.items()
    }
    assert set(canonical_weights(layers, weights, config, "g2")) == set(shapes)
    weights["conv2d_8"][0] = np.zeros((3, 3, 128, 128), np.float32)
    with pytest.raises(KerasArchiveError, match=r"conv2d_8.*kernel.*amp\.dec1\.conv1"):
        canonical_weights(layers, weights, config, "g2")
    del weights["conv2d_8"]
    with pytest.raises(KerasArchiveError, match="conv2d_8"):
        canonical_weights(layers, weights, config, "g2")


def test_a_graph_without_the_head_activations_is_refused() -> None:
    config = json.loads(CONFIG_G2)
    config["config"]["layers"] = [x for x in config["config"]["layers"] if x["name"] != "phi"]
    layers = parse_config(json.dumps(config).encode(), "edited")
    with pytest.raises(KerasArchiveError, match="'phi'"):
        canonical_layer_names(layers, ModelConfig(N=64, gridsize=2, n_filters_scale=2), "x")


@pytest.mark.parametrize(
    "text", [b"", b"[]", b'{"config": {}}', b"\xff", b'{"config": {"layers": 3}}']
)
def test_malformed_configs_are_refused(text: bytes) -> None:
    with pytest.raises(KerasArchiveError, match=r"config\.json"):
        parse_config(text, "model.keras")


# ----------------------------------------------------------------------------- fuzzing


@st.composite
def mutated(draw: st.DrawFn, base: bytes) -> bytes:
    data = bytearray(base)
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(data) - 1))
        kind = draw(st.sampled_from(["flip", "zero", "truncate"]))
        if kind == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "zero":
            data[at : at + draw(st.integers(1, 64))] = bytes(min(64, len(data) - at))[:64]
        else:
            del data[max(at, 8) :]
    return bytes(data)


def _read_or_documented_error(read: object, data: bytes) -> None:
    with contextlib.suppress(KerasArchiveError):
        read(data, "fuzzed")  # type: ignore[operator]


@given(
    data=mutated(SMALL)
    | st.binary(max_size=2048)
    | st.binary(max_size=512).map(lambda b: SMALL[:512] + b)
)
def test_fuzz_weights_reader_escapes_only_documented_errors(data: bytes) -> None:
    _read_or_documented_error(read_weights_h5, data)


@given(data=mutated(_keras_zip(CONFIG_G2[:2000], SMALL)) | st.binary(max_size=1024))
def test_fuzz_model_keras_reader_escapes_only_documented_errors(data: bytes) -> None:
    _read_or_documented_error(read_keras_model, data)


# ----------------------------------------------------------------------------- whole bundles

_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**31), 2**31 - 1),
    st.sampled_from([0, 1, 2, 3, 64, 128]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.lists(st.integers(0, 4), max_size=3),
)
_KEYS = ["N", "gridsize", "n_filters_scale", "intensity_scale", "probe", "amp_activation"]
_KEYS += ["object.big", "probe.big", "pad_object", "probe_scale", "nphotons", "model_type"]


@given(
    values=st.dictionaries(st.sampled_from(_KEYS), _VALUES, max_size=len(_KEYS)),
    probe=st.sampled_from([None, (64, 64, "<c8"), (64, 64, "<f4"), (8, 8, "<c8")]),
)
def test_fuzz_params_values_escape_only_documented_errors(
    values: dict, probe: tuple | None, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from backends.bundle.restricted_pickle import PickleFormatError, UnsafePickleError
    from backends.bundle.upstream import LegacyBundleError, read_upstream_bundle
    from tests.backends.upstream.opcodes import SETITEM, dill_array, plain, stream

    body = plain(values)
    if probe is not None:
        h, w, code = probe
        array = np.ones((h, w), code)
        body += plain("probe") + dill_array(code, (h, w), array.tobytes()) + SETITEM
    where = tmp_path_factory.mktemp("fuzzed")
    with zipfile.ZipFile(where / "wts.h5.zip", "w") as zf:
        zf.writestr("manifest.dill", (FIXTURES / "manifest.dill").read_bytes())
        zf.writestr("diffraction_to_obj/params.dill", stream(body))
        zf.writestr("diffraction_to_obj/model.keras", _keras_zip(CONFIG_G2, SMALL))
    documented = (LegacyBundleError, UnsafePickleError, PickleFormatError, KerasArchiveError)
    with pytest.raises(documented):
        read_upstream_bundle(where)


def _synthetic_upstream_bundle(where: Path, change: str | None = None) -> Path:
    """A bundle of the committed members with synthetic weights (``change``: one canonical
    weight that differs in the autoencoder's copy)."""
    config = ModelConfig(N=64, gridsize=2, n_filters_scale=2)
    layers = parse_config(CONFIG_G2, "config-g2.json")
    names = canonical_layer_names(layers, config, "g2")
    shapes = weight_shapes(config)
    rng = np.random.default_rng(5)

    def h5(bump: str | None) -> bytes:
        groups = {}
        for i, (canonical, layer) in enumerate(names.items()):
            arrays = [
                rng.normal(size=shapes[f"{canonical}.{k}"]).astype(np.float32)
                if bump == f"{canonical}.{k}"
                else np.full(shapes[f"{canonical}.{k}"], i, np.float32)
                for k in ("kernel", "bias")
            ]
            groups[f"conv2d_{i}"] = (layer, arrays)
        return _weights_file(groups)

    where.mkdir()
    with zipfile.ZipFile(where / "wts.h5.zip", "w") as zf:
        zf.writestr("manifest.dill", (FIXTURES / "manifest.dill").read_bytes())
        for model, bump in (("autoencoder", change), ("diffraction_to_obj", None)):
            zf.writestr(f"{model}/params.dill", (FIXTURES / "params-g2.dill").read_bytes())
            zf.writestr(f"{model}/model.keras", _keras_zip(CONFIG_G2, h5(bump)))
    return where


def test_synthetic_bundle_imports_every_canonical_weight_by_role(tmp_path: Path) -> None:
    from backends.bundle.upstream import read_upstream_bundle

    bundle = read_upstream_bundle(_synthetic_upstream_bundle(tmp_path / "ok"))
    config = bundle.training_config("tensorflow").model
    assert (config.gridsize, config.combine_mode) == (2, "legacy_rect")
    names = canonical_layer_names(parse_config(CONFIG_G2, "c"), config, "g2")
    assert set(bundle.weights) == set(weight_shapes(config))
    for i, canonical in enumerate(names):
        assert np.all(bundle.weights[f"{canonical}.kernel"] == i)
        assert np.all(bundle.weights[f"{canonical}.bias"] == i)


def test_autoencoder_weights_that_differ_are_refused(tmp_path: Path) -> None:
    from backends.bundle.upstream import LegacyBundleError, read_upstream_bundle

    where = _synthetic_upstream_bundle(tmp_path / "bad", change="phase.dec2.conv1.bias")
    with pytest.raises(LegacyBundleError, match=r"different weights \(phase\.dec2\.conv1\.bias"):
        read_upstream_bundle(where)
