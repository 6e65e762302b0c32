"""The model's named stages and canonical weights, framework-free.

Both backends build the same network (docs/model.md) and expose it through the names defined
here: every weight under a canonical name with its reference (Keras, HWIO) shape, and every
intermediate activation under a stage name, in the reference layout (NHWC; complex as complex64).
The parity engine walks :func:`stages` in order to find the first divergent layer, and re-feeds
each stage its reference inputs in single-step mode.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from backends.config.canonical import AMP_ACTIVATIONS, SUPPORTED_N, ModelConfig

C_OUTER = 4  # channels of the border branch (model.md section 4)

PHASE_ACTIVATION = "pi_tanh"
"""Activation of the phase head: ``π · tanh(x)`` (model.md section 4)."""

HEAD_ACTIVATIONS = (*AMP_ACTIVATIONS, PHASE_ACTIVATION)
"""Every head activation by name: the amplitude head's choices and the phase head's."""


@dataclass(frozen=True)
class Stage:
    """One named activation of the forward graph."""

    name: str
    inputs: tuple[str, ...]
    description: str


def check_supported_n(N: int) -> None:
    """Raise ValueError for a patch size the network cannot be built for."""
    if N not in SUPPORTED_N:
        raise ValueError(
            f"Unsupported input size: {N}; the model supports N in {list(SUPPORTED_N)}"
        )


def encoder_filters(config: ModelConfig) -> list[int]:
    """Filters of each encoder block (model.md section 3)."""
    check_supported_n(config.N)
    n_blocks = int(math.log2(config.N // 8))
    base = [128 // 2 ** (n_blocks - 1 - i) for i in range(n_blocks)]
    return [config.n_filters_scale * f for f in base]


def decoder_filters(config: ModelConfig) -> list[int]:
    """Filters of each decoder block of one head ladder (model.md section 3)."""
    check_supported_n(config.N)
    n_blocks = int(math.log2(config.N // 8)) - 1
    base = [32 * 2 ** (n_blocks - 1 - i) for i in range(n_blocks)]
    return [config.n_filters_scale * f for f in base]


def border_filters(config: ModelConfig) -> int:
    """F_b = n_filters_scale * 2048 / N."""
    check_supported_n(config.N)
    return config.n_filters_scale * (2048 // config.N)


def output_channels(config: ModelConfig) -> int:
    """C_o: channels each head emits (C if object_big else 1)."""
    return config.channels if config.object_big else 1


def weight_shapes(config: ModelConfig) -> dict[str, tuple[int, ...]]:
    """Canonical weight names -> reference (HWIO kernel / bias) shapes, in construction order."""
    shapes: dict[str, tuple[int, ...]] = {}

    def conv(name: str, c_in: int, c_out: int) -> None:
        shapes[f"{name}.kernel"] = (3, 3, c_in, c_out)
        shapes[f"{name}.bias"] = (c_out,)

    c_in = config.channels
    for i, f in enumerate(encoder_filters(config), start=1):
        conv(f"enc{i}.conv1", c_in, f)
        conv(f"enc{i}.conv2", f, f)
        c_in = f
    bottleneck = c_in
    head_in = 32 * config.n_filters_scale
    c_o = output_channels(config)
    f_b = border_filters(config)
    for head in ("amp", "phase"):
        c = bottleneck
        for j, f in enumerate(decoder_filters(config), start=1):
            conv(f"{head}.dec{j}.conv1", c, f)
            conv(f"{head}.dec{j}.conv2", f, f)
            c = f
        if config.pad_object:
            conv(f"{head}.head.conv_main", head_in - C_OUTER, c_o)
            if config.probe_big:
                conv(f"{head}.head.border.conv1", C_OUTER, f_b)
                conv(f"{head}.head.border.conv2", f_b, f_b)
                conv(f"{head}.head.conv_border_out", f_b, c_o)
        else:
            conv(f"{head}.head.border.conv1", head_in, f_b)
            conv(f"{head}.head.border.conv2", f_b, f_b)
            conv(f"{head}.head.conv_border_out", f_b, c_o)
    return shapes


def parameter_count(config: ModelConfig) -> int:
    """Conv weights + biases, the figure of model.md section 7."""
    return sum(math.prod(s) for s in weight_shapes(config).values())


def stages(config: ModelConfig) -> list[Stage]:
    """Named activations in topological order (model.md sections 3-5)."""
    n_enc = len(encoder_filters(config))
    n_dec = len(decoder_filters(config))
    out: list[Stage] = [
        Stage("intensity_scaler", ("input",), "input / exp(log_scale)"),
    ]
    prev = "intensity_scaler"
    for i in range(1, n_enc + 1):
        out.append(Stage(f"enc{i}", (prev,), f"encoder block {i}: conv, conv, max-pool"))
        prev = f"enc{i}"
    bottleneck = prev
    for head, act in (("amp", "amp"), ("phase", "phi")):
        p = bottleneck
        for j in range(1, n_dec + 1):
            out.append(Stage(f"{head}.dec{j}", (p,), f"{head} decoder block {j}"))
            p = f"{head}.dec{j}"
        if config.pad_object:
            out.append(Stage(act, (p,), f"{head} main path after its activation, before padding"))
        out.append(Stage(f"{head}.head", (p,), f"{head} head output, N x N"))
    out += [
        Stage("obj", ("amp.head", "phase.head"), "combined complex object"),
        Stage("padded_obj_2", ("obj", "input_positions"), "object canvas (B, M, M, 1)"),
        Stage("trimmed_obj", ("padded_obj_2",), "central N x N of the canvas"),
        Stage(
            "padded_objs_with_offsets",
            ("padded_obj_2", "input_positions"),
            "patches extracted from the canvas (B*C, N, N, 1)",
        ),
        Stage("probe_illumination", ("padded_objs_with_offsets",), "exit wave O * P"),
        Stage("pred_amplitude", ("probe_illumination",), "far-field amplitude (B*C, N, N, 1)"),
        Stage("pred_diff_channels", ("pred_amplitude",), "flat -> channel (B, N, N, C)"),
        Stage("intensity_scaler_inv", ("pred_diff_channels",), "x exp(log_scale)"),
        Stage("pred_intensity", ("intensity_scaler_inv",), "square"),
    ]
    return out


MODEL_OUTPUTS = ("trimmed_obj", "pred_amp_scaled", "pred_intensity")
"""Training-model outputs; ``pred_amp_scaled`` is the stage ``intensity_scaler_inv``."""


def padded_size(config: ModelConfig, offset: int = 4, max_position_jitter: int = 10) -> int:
    """M = N + (gridsize - 1) * offset + max_position_jitter; M - N must be even."""
    M = config.N + (config.gridsize - 1) * offset + max_position_jitter
    if (M - config.N) % 2:
        raise ValueError(
            f"padded size M={M} minus N={config.N} is odd (offset={offset}, "
            f"max_position_jitter={max_position_jitter}); choose values that make M - N even"
        )
    return M
