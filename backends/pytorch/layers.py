"""Network building blocks of docs/model.md sections 3-4 as ``nn.Module`` classes.

Attribute names follow the canonical weight names of :mod:`backends.graph`, so a module's
``state_dict`` keys are ``<canonical layer name>.weight`` / ``.bias`` (e.g.
``amp.head.border.conv1.weight``).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from backends import graph
from backends.config.canonical import ModelConfig
from backends.graph import C_OUTER, HEAD_ACTIVATIONS, PHASE_ACTIVATION

Tensor = torch.Tensor


def _swish(x: Tensor) -> Tensor:
    """``x · sigmoid(x)``, written out as the reference computes it."""
    return x * torch.sigmoid(x)


def _pi_tanh(x: Tensor) -> Tensor:
    """``π · tanh(x)``."""
    return math.pi * torch.tanh(x)


_ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "sigmoid": torch.sigmoid,
    "swish": _swish,
    "softplus": F.softplus,
    "relu": torch.relu,
    PHASE_ACTIVATION: _pi_tanh,
}


def head_activation(kind: str) -> Callable[[Tensor], Tensor]:
    """The head activation named ``kind`` (one of :data:`backends.graph.HEAD_ACTIVATIONS`:
    the amplitude head's choices, or ``pi_tanh`` for the phase head; model.md section 4)."""
    if kind not in HEAD_ACTIVATIONS:
        raise ValueError(
            f"Unknown activation {kind!r}; choose one of: {', '.join(HEAD_ACTIVATIONS)}"
        )
    return _ACTIVATIONS[kind]


def conv_memory_format(n: int) -> torch.memory_format:
    """The memory order the convolutions of a model of patch size ``n`` run in.

    Channels-last at N=64, where oneDNN's channels-last kernels are about a quarter faster and as
    accurate as row-major ones (one-ulp weight changes move the gradients by 1e-6 of their
    maximum); row-major (NCHW) at larger N, where oneDNN's channels-last convolution backward
    loses accuracy: at N=128 a one-ulp weight change moved the gradients by up to 1e-2 of their
    maximum (TensorFlow 4e-5, NCHW 2e-5 to 4e-5) and the backends' gradients differed by as much
    (docs/benchmarks.md).
    """
    return torch.channels_last if n <= 64 else torch.contiguous_format


class ConvLayout:
    """Blocks whose convolutions run in :attr:`memory_format` (set by the model from its N):
    every block converts its input, so a block computes the same bits whether its input comes
    from the previous block or from outside."""

    memory_format: torch.memory_format = torch.contiguous_format

    def conv_input(self, x: Tensor) -> Tensor:
        """``x`` in the block's memory order (a no-op when it already is)."""
        return x.contiguous(memory_format=self.memory_format)


def _conv3x3(c_in: int, c_out: int) -> nn.Conv2d:
    """3x3, stride 1, padding 1 (= Keras "same" here), with bias."""
    return nn.Conv2d(c_in, c_out, kernel_size=3, stride=1, padding=1, bias=True)


class HeadConv(nn.Conv2d):
    """A head's output convolution (3x3, "same", bias) to its few output channels, computed as
    a projection of every pixel's channels onto the 3x3 taps of each output channel followed
    by the sum of the nine shifted tap maps.

    The same convolution as :class:`torch.nn.Conv2d` with the same weights, summed in another
    order (float32 rounding apart). With one to a few output channels the direct kernels
    reduce dozens of input channels per output pixel at a few GFLOP/s; the projection is one
    matrix product over the input channels. Nearest-neighbour upsampling commutes with the
    projection, so :meth:`upsampled` convolves the 2x-upsampled input while projecting at the
    low resolution (docs/benchmarks.md, Two targets at the limits of two cores).
    """

    def forward(self, x: Tensor) -> Tensor:
        return self._shifted_sum(self._taps(x))

    def upsampled(self, x: Tensor) -> Tensor:
        """``forward(F.interpolate(x, scale_factor=2, mode="nearest"))``."""
        return self._shifted_sum(F.interpolate(self._taps(x), scale_factor=2, mode="nearest"))

    def _taps(self, x: Tensor) -> Tensor:
        """(B, C_out * 9, H, W): each pixel's channels times each tap of each output channel."""
        c_out, c_in = self.out_channels, self.in_channels
        w = self.weight.permute(1, 0, 2, 3).reshape(c_in, c_out * 9)
        return torch.matmul(x.permute(0, 2, 3, 1), w).permute(0, 3, 1, 2)

    def _shifted_sum(self, taps: Tensor) -> Tensor:
        """The convolution from its tap maps: output (y, x) of channel o adds tap (dy, dx) of
        the input pixel (y + dy - 1, x + dx - 1), zero outside the image."""
        b, _, h, w = taps.shape
        padded = F.pad(taps.reshape(b * self.out_channels, 9, h, w), (1, 1, 1, 1))
        out = padded[:, 0, 0:h, 0:w]
        for k in range(1, 9):
            dy, dx = divmod(k, 3)
            out = out + padded[:, k, dy : dy + h, dx : dx + w]
        assert self.bias is not None
        return out.reshape(b, self.out_channels, h, w) + self.bias.view(1, -1, 1, 1)


def _head_conv(c_in: int, c_out: int) -> HeadConv:
    return HeadConv(c_in, c_out, kernel_size=3, stride=1, padding=1, bias=True)


class EncoderBlock(ConvLayout, nn.Module):
    """``E(f)``: conv (ReLU), conv (ReLU), 2x2 max-pool."""

    def __init__(self, c_in: int, f: int) -> None:
        super().__init__()
        self.conv1 = _conv3x3(c_in, f)
        self.conv2 = _conv3x3(f, f)

    def forward(self, x: Tensor) -> Tensor:
        x = F.relu(self.conv1(self.conv_input(x)), inplace=True)
        x = F.relu(self.conv2(x), inplace=True)
        return F.max_pool2d(x, kernel_size=2, stride=2)


class DecoderBlock(ConvLayout, nn.Module):
    """``D(f)``: conv (ReLU), conv (ReLU), x2 nearest-neighbour upsampling."""

    def __init__(self, c_in: int, f: int) -> None:
        super().__init__()
        self.conv1 = _conv3x3(c_in, f)
        self.conv2 = _conv3x3(f, f)

    def forward(self, x: Tensor) -> Tensor:
        return F.interpolate(self.features(x), scale_factor=2, mode="nearest")

    def features(self, x: Tensor) -> Tensor:
        """The block before its upsampling."""
        x = F.relu(self.conv1(self.conv_input(x)), inplace=True)
        return F.relu(self.conv2(x), inplace=True)


class Head(nn.Module):
    """``decoder_last`` (model.md section 4): N/2 x N/2 features -> one N x N head output.

    ``pad_object=True``: ``conv_main`` on channels ``[0, F-4)`` then the activation and zero
    padding by N/4; with ``probe_big`` a border branch on channels ``[F-4, F)`` (``border`` =
    D(F_b), ``conv_border_out``, swish, times ``1 - Q``) is added. ``pad_object=False``: the
    border structure on all channels, then the activation, no padding or mask. The output
    convolutions are :class:`HeadConv`.
    """

    def __init__(
        self,
        c_in: int,
        c_out: int,
        border_filters: int,
        act: Callable[[Tensor], Tensor],
        pad_object: bool,
        probe_big: bool,
    ) -> None:
        super().__init__()
        self.c_in = c_in
        self.act = act
        self.pad_object = pad_object
        self.probe_big = probe_big
        if pad_object:
            self.conv_main = _head_conv(c_in - C_OUTER, c_out)
            if probe_big:
                self.border = DecoderBlock(C_OUTER, border_filters)
                self.conv_border_out = _head_conv(border_filters, c_out)
        else:
            self.border = DecoderBlock(c_in, border_filters)
            self.conv_border_out = _head_conv(border_filters, c_out)

    def main(self, h: Tensor) -> Tensor:
        """Main path after its activation, before padding (stages ``amp`` / ``phi``)."""
        return self.act(self.conv_main(h[:, : self.c_in - C_OUTER]))

    def assemble(self, h: Tensor, main: Tensor | None, border_mask: Tensor) -> Tensor:
        """Head output (B, C_o, N, N) from decoder features ``h`` and, when pad_object, the
        main-path activation ``main``."""
        if not self.pad_object:
            return self.act(self._border_out(h))
        assert main is not None
        q = main.shape[-1] // 2
        out = F.pad(main, (q, q, q, q))
        if self.probe_big:
            border = _swish(self._border_out(h[:, self.c_in - C_OUTER :]))
            out = out + border * border_mask
        return out

    def _border_out(self, h: Tensor) -> Tensor:
        """``conv_border_out(border(h))``: the border block, then the output convolution of its
        upsampled features."""
        return self.conv_border_out.upsampled(self.border.features(h))


class Decoder(nn.Module):
    """One head's decoder ladder ``dec1 .. dec{L-1}`` followed by its ``head``."""

    def __init__(
        self, config: ModelConfig, bottleneck: int, act: Callable[[Tensor], Tensor]
    ) -> None:
        super().__init__()
        c = bottleneck
        self.n_blocks = 0
        for j, f in enumerate(graph.decoder_filters(config), start=1):
            self.add_module(f"dec{j}", DecoderBlock(c, f))
            c = f
            self.n_blocks = j
        self.head = Head(
            c_in=c,
            c_out=graph.output_channels(config),
            border_filters=graph.border_filters(config),
            act=act,
            pad_object=config.pad_object,
            probe_big=config.probe_big,
        )

    def block(self, j: int) -> DecoderBlock:
        """Decoder block ``dec{j}``."""
        return getattr(self, f"dec{j}")
