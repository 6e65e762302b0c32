"""Weight layout conversion and checking (model.md section 10)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from backends.config import ModelConfig
from backends.graph import weight_shapes
from backends.weights import check_weights, convert_weights, from_torch, to_torch


def _weights(cfg: ModelConfig, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {n: rng.standard_normal(s).astype(np.float32) for n, s in weight_shapes(cfg).items()}


def test_to_torch_kernel_layout_by_index() -> None:
    k = np.arange(3 * 3 * 2 * 5, dtype=np.float32).reshape(3, 3, 2, 5)  # (kh, kw, cin, cout)
    t = to_torch("enc1.conv1.kernel", k)
    assert t.shape == (5, 2, 3, 3)  # (cout, cin, kh, kw)
    for o, i, y, x in [(0, 0, 0, 0), (4, 1, 2, 1), (2, 0, 1, 2)]:
        assert t[o, i, y, x] == k[y, x, i, o]
    assert t.flags.c_contiguous


def test_bias_unchanged_and_copied() -> None:
    b = np.arange(5, dtype=np.float32)
    out = to_torch("enc1.conv1.bias", b)
    np.testing.assert_array_equal(out, b)
    out[0] = 99
    assert b[0] == 0
    np.testing.assert_array_equal(from_torch("enc1.conv1.bias", b), b)


@given(shape=st.tuples(*(st.integers(1, 4) for _ in range(4))))
def test_round_trip(shape: tuple[int, int, int, int]) -> None:
    k = np.random.default_rng(0).standard_normal(shape)
    np.testing.assert_array_equal(from_torch("x.kernel", to_torch("x.kernel", k)), k)


def test_conv_equivalence_of_layouts() -> None:
    """A 'valid' cross-correlation computed from either layout gives the same output."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((5, 6, 2))  # H W Cin
    k = rng.standard_normal((3, 3, 2, 4))  # HWIO
    kt = to_torch("a.kernel", k)  # OIHW
    out_tf = np.zeros((3, 4, 4))
    out_pt = np.zeros((3, 4, 4))
    for y in range(3):
        for xx in range(4):
            win = x[y : y + 3, xx : xx + 3, :]
            out_tf[y, xx] = np.einsum("hwi,hwio->o", win, k)
            out_pt[y, xx] = np.einsum("hwi,oihw->o", win, kt)
    np.testing.assert_allclose(out_pt, out_tf, rtol=1e-12)


def test_rank_and_kind_errors() -> None:
    with pytest.raises(ValueError, match=r"'enc1.conv1.kernel'.*4-D"):
        to_torch("enc1.conv1.kernel", np.zeros((3, 3, 2)))
    with pytest.raises(ValueError, match="unknown weight kind"):
        to_torch("log_scale", np.zeros(()))


@pytest.mark.parametrize(
    "cfg",
    [
        ModelConfig(),
        ModelConfig(gridsize=2),
        ModelConfig(N=128, probe_big=False),
        ModelConfig(pad_object=False, object_big=False, gridsize=2),
    ],
)
def test_check_weights_accepts_exact_set(cfg: ModelConfig) -> None:
    check_weights(_weights(cfg), cfg)


def test_check_weights_lists_every_problem() -> None:
    cfg = ModelConfig()
    w = _weights(cfg)
    del w["enc1.conv1.kernel"]
    del w["phase.head.conv_main.bias"]
    w["extra.kernel"] = np.zeros((3, 3, 1, 1))
    w["enc2.conv1.kernel"] = np.zeros((3, 3, 1, 1))
    with pytest.raises(ValueError) as info:
        check_weights(w, cfg)
    msg = str(info.value)
    assert "missing: enc1.conv1.kernel, phase.head.conv_main.bias" in msg
    assert "extra: extra.kernel" in msg
    assert "misshapen: enc2.conv1.kernel (3, 3, 1, 1) (expected (3, 3, 64, 128))" in msg


def test_check_weights_gridsize_mismatch() -> None:
    w = _weights(ModelConfig(gridsize=1))
    with pytest.raises(
        ValueError, match=r"enc1.conv1.kernel \(3, 3, 1, 64\) \(expected \(3, 3, 4, 64\)\)"
    ):
        check_weights(w, ModelConfig(gridsize=2))


def test_convert_weights_whole_mapping() -> None:
    cfg = ModelConfig()
    w = _weights(cfg)
    t = convert_weights(w, to="pytorch")
    assert t["enc1.conv1.kernel"].shape == (64, 1, 3, 3)
    assert t["enc1.conv1.bias"].shape == (64,)
    back = convert_weights(t, to="reference", source="pytorch")
    check_weights(back, cfg)
    for name in w:
        np.testing.assert_array_equal(back[name], w[name])
    same = convert_weights(w, to="tensorflow")
    assert same["enc1.conv1.kernel"] is not w["enc1.conv1.kernel"]
    np.testing.assert_array_equal(same["enc1.conv1.kernel"], w["enc1.conv1.kernel"])
    with pytest.raises(ValueError, match="to='jax'"):
        convert_weights(w, to="jax")


def test_conversions_never_alias_their_input() -> None:
    # a kernel with one output channel is already contiguous after the transpose
    kernel = np.arange(9 * 60, dtype=np.float32).reshape(1, 60, 3, 3)
    converted = from_torch("amp.head.conv_main.kernel", kernel)
    back = to_torch("amp.head.conv_main.kernel", converted)
    kernel[...] = -1.0
    converted_before = converted.copy()
    back[...] = 7.0
    assert converted.min() >= 0.0
    np.testing.assert_array_equal(converted, converted_before)
