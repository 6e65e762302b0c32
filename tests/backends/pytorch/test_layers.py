"""The heads' output convolution (:class:`backends.pytorch.layers.HeadConv`): the same
convolution as ``F.conv2d`` with its weights, forward and backward, summed in another order."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.pytorch
torch = pytest.importorskip("torch")
F = torch.nn.functional

from backends.pytorch.layers import HeadConv  # noqa: E402

FORMATS = {"channels_last": torch.channels_last, "nchw": torch.contiguous_format}


def _head_conv(c_in: int, c_out: int, seed: int, dtype: torch.dtype) -> HeadConv:
    torch.manual_seed(seed)
    conv = HeadConv(c_in, c_out, kernel_size=3, padding=1).to(dtype)
    with torch.no_grad():
        conv.bias.uniform_(-1.0, 1.0)  # nonzero biases, so their placement is tested
    return conv


def _input(b: int, c: int, h: int, w: int, seed: int, dtype: torch.dtype, fmt: str):
    gen = torch.Generator().manual_seed(seed + 1)
    x = torch.randn(b, c, h, w, generator=gen, dtype=dtype)
    return x.contiguous(memory_format=FORMATS[fmt])


@settings(max_examples=25, deadline=None)
@given(
    c_in=st.integers(1, 12),
    c_out=st.integers(1, 4),
    h=st.integers(1, 9),
    w=st.integers(1, 9),
    b=st.integers(1, 3),
    fmt=st.sampled_from(sorted(FORMATS)),
    seed=st.integers(0, 2**16),
)
def test_forward_and_gradients_equal_the_direct_convolution_in_float64(
    c_in: int, c_out: int, h: int, w: int, b: int, fmt: str, seed: int
) -> None:
    conv = _head_conv(c_in, c_out, seed, torch.float64)
    x = _input(b, c_in, h, w, seed, torch.float64, fmt).requires_grad_()
    x_ref = x.detach().clone().requires_grad_()
    weight = conv.weight.detach().clone().requires_grad_()
    bias = conv.bias.detach().clone().requires_grad_()

    out = conv(x)
    ref = F.conv2d(x_ref, weight, bias, padding=1)
    torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)

    upstream = torch.randn(
        ref.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(seed)
    )
    (out * upstream).sum().backward()
    (ref * upstream).sum().backward()
    torch.testing.assert_close(x.grad, x_ref.grad, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(conv.weight.grad, weight.grad, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(conv.bias.grad, bias.grad, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("fmt", sorted(FORMATS))
@pytest.mark.parametrize("c_out", [1, 4])
def test_upsampled_convolves_the_nearest_neighbour_upsampled_input(fmt: str, c_out: int) -> None:
    conv = _head_conv(6, c_out, 3, torch.float64)
    x = _input(2, 6, 5, 7, 3, torch.float64, fmt)
    up = F.interpolate(x, scale_factor=2, mode="nearest")
    expected = F.conv2d(up, conv.weight, conv.bias, padding=1)
    got = conv.upsampled(x)
    assert got.shape == (2, c_out, 10, 14)
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_float32_stays_within_rounding_of_the_float64_convolution(fmt: str) -> None:
    """The head's sizes at N=64 (64 channels, 32 x 32, upsampled to 64 x 64): the float32 result
    of the tap sums is as close to the float64 convolution as float32 rounding allows."""
    conv64 = _head_conv(64, 1, 7, torch.float64)
    x64 = _input(4, 64, 32, 32, 7, torch.float64, fmt)
    expected = F.conv2d(F.interpolate(x64, scale_factor=2), conv64.weight, conv64.bias, padding=1)
    conv32 = HeadConv(64, 1, kernel_size=3, padding=1)
    conv32.load_state_dict({k: v.float() for k, v in conv64.state_dict().items()})
    got = conv32.upsampled(x64.float()).double()
    # error relative to the sum of the 576 products' magnitudes: measured 4.4e-8 for the tap
    # sums and 2.4e-7 for oneDNN's direct float32 kernel on the same input
    scale = F.conv2d(
        F.interpolate(x64.abs(), scale_factor=2), conv64.weight.abs(), conv64.bias.abs(), padding=1
    )
    assert ((got - expected).abs() / scale).max().item() < 1e-7


def test_state_dict_is_that_of_a_conv2d() -> None:
    """Bundles store the heads' output convolutions as plain ``Conv2d`` weights."""
    head = _head_conv(8, 2, 0, torch.float32)
    plain = torch.nn.Conv2d(8, 2, kernel_size=3, padding=1)
    assert isinstance(head, torch.nn.Conv2d)
    assert {k: v.shape for k, v in head.state_dict().items()} == {
        k: v.shape for k, v in plain.state_dict().items()
    }
    plain.load_state_dict(head.state_dict())
    x = _input(1, 8, 6, 6, 0, torch.float32, "nchw")
    torch.testing.assert_close(head(x), plain(x), rtol=1e-5, atol=1e-5)
