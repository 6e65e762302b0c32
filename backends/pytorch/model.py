"""The PtychoPINN network and physics layers of docs/model.md as one ``nn.Module``.

Layout is channels-first: ``input`` (B, C, N, N) float32, positions (B, C, 1, 2) float32 ``[x, y]``
(``coords_start_relative``). The forward pass is a chain of named stages
(:func:`backends.graph.stages`); :meth:`PtychoPINN.run_stage` runs any one of them on given inputs,
and :meth:`PtychoPINN.forward` composes the same functions, so single-stage and cumulative results
are computed by identical code.

The adapter builds from the canonical configuration as the torch-native configs and the bridge
yield it (:func:`backends.config.roundtrip.resolve_model_config`), so what this backend builds
reflects what the bridge produces.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from backends import graph
from backends.config.canonical import ModelConfig
from backends.core.constants import DEFAULT_MAX_POSITION_JITTER, DEFAULT_OFFSET
from backends.core.inputs import model_probe
from backends.pytorch import ops
from backends.pytorch.layers import (
    ConvLayout,
    Decoder,
    EncoderBlock,
    conv_memory_format,
    head_activation,
)

Tensor = torch.Tensor


class PtychoPINN(nn.Module):
    """Encoder, two decoder heads, object canvas, extraction, illumination, diffraction.

    Buffers: ``log_scale`` (float32 scalar ℓ = float32(ln s), never trained), ``probe`` (N, N)
    complex64 (already normalised), plus non-persistent masks. ``offset`` and
    ``max_position_jitter`` size the padded canvas ``M`` (physics.md 6).
    """

    log_scale: Tensor
    probe: Tensor
    border_mask: Tensor
    probe_mask_c: Tensor

    def __init__(
        self,
        config: ModelConfig,
        probe: np.ndarray,
        intensity_scale: float,
        offset: int = DEFAULT_OFFSET,
        max_position_jitter: int = DEFAULT_MAX_POSITION_JITTER,
    ) -> None:
        super().__init__()
        graph.check_supported_n(config.N)
        if not (math.isfinite(intensity_scale) and intensity_scale > 0):
            raise ValueError(f"intensity_scale={intensity_scale!r} must be finite and > 0")
        self.config = config
        self.intensity_scale = float(intensity_scale)
        self.N = config.N
        self.C = config.channels
        self.offset = int(offset)
        self.max_position_jitter = int(max_position_jitter)
        self.M = graph.padded_size(config, self.offset, self.max_position_jitter)
        self.n_enc = len(graph.encoder_filters(config))
        c_in = config.channels
        for i, f in enumerate(graph.encoder_filters(config), start=1):
            self.add_module(f"enc{i}", EncoderBlock(c_in, f))
            c_in = f
        self.amp = Decoder(config, c_in, head_activation(config.amp_activation))
        self.phase = Decoder(config, c_in, head_activation(graph.PHASE_ACTIVATION))

        probe_arr = np.asarray(probe)
        if probe_arr.shape != (config.N, config.N):
            raise ValueError(
                f"probe must have shape ({config.N}, {config.N}), got {probe_arr.shape}"
            )
        log_s = np.float32(math.log(float(intensity_scale)))  # ln in float64, then float32
        self.register_buffer("log_scale", torch.tensor(log_s, dtype=torch.float32))
        self.register_buffer(
            "probe", torch.from_numpy(np.ascontiguousarray(probe_arr, dtype=np.complex64))
        )
        q = ops.center_mask(config.N)
        self.register_buffer("border_mask", 1.0 - q, persistent=False)
        self.register_buffer("probe_mask_c", ops.probe_mask(config.N), persistent=False)
        self._stage_names = [s.name for s in graph.stages(config)]
        self._object_stages = _ancestors(graph.stages(config), "trimmed_obj")
        fmt = conv_memory_format(config.N)
        for module in self.modules():
            if isinstance(module, ConvLayout):
                module.memory_format = fmt
        self.to(memory_format=fmt)  # type: ignore[call-overload]

    # ------------------------------------------------------------------ stages

    def scale(self) -> Tensor:
        return torch.exp(self.log_scale)

    def stage_names(self) -> list[str]:
        return list(self._stage_names)

    def run_stage(self, stage: str, feeds: Mapping[str, Tensor]) -> Tensor:
        """Run one stage of :func:`backends.graph.stages` on ``feeds`` (stage input name ->
        channels-first tensor; ``input_positions`` as (B, C, 1, 2))."""
        if stage not in self._stage_names:
            raise KeyError(f"unknown stage {stage!r}; stages: {', '.join(self._stage_names)}")

        def get(name: str, optional: bool = False) -> Tensor | None:
            if name not in feeds:
                if optional:
                    return None
                raise KeyError(f"stage {stage!r} needs input {name!r}")
            return standard_layout(feeds[name])

        return self._stage(stage, get)

    def _stage(self, stage: str, get: Callable[..., Tensor | None]) -> Tensor:
        """The one declaration of the forward graph: stage ``stage`` computed from its inputs,
        read through ``get(name)`` (``get(name, optional=True)`` is None when absent)."""
        cfg = self.config

        def need(name: str) -> Tensor:
            value = get(name)
            assert value is not None
            return value

        if stage == "intensity_scaler":
            return need("input") / self.scale()
        if stage.startswith("enc"):
            i = int(stage[3:])
            prev = "intensity_scaler" if i == 1 else f"enc{i - 1}"
            return getattr(self, stage)(need(prev))
        for head_name, act_stage in (("amp", "amp"), ("phase", "phi")):
            decoder: Decoder = getattr(self, head_name)
            if stage.startswith(f"{head_name}.dec"):
                j = int(stage[len(head_name) + 4 :])
                prev = f"enc{self.n_enc}" if j == 1 else f"{head_name}.dec{j - 1}"
                return decoder.block(j)(need(prev))
            last = f"{head_name}.dec{decoder.n_blocks}"
            if stage == act_stage:
                return decoder.head.main(need(last))
            if stage == f"{head_name}.head":
                h = need(last)
                main = None
                if cfg.pad_object:
                    main = get(act_stage, optional=True)
                    if main is None:
                        main = decoder.head.main(h)
                return decoder.head.assemble(h, main, self.border_mask)
        if stage == "obj":
            return ops.combine_complex(need("amp.head"), need("phase.head"), cfg.combine_mode)
        if stage == "padded_obj_2":
            shifts = ops.positions_to_shifts(need("input_positions"))
            if cfg.object_big:
                return ops.merge_patches(need("obj"), shifts, self.M)
            return ops.pad_to(need("obj"), self.M)
        if stage == "trimmed_obj":
            return ops.trim(need("padded_obj_2"), self.N)
        if stage == "padded_objs_with_offsets":
            shifts = ops.positions_to_shifts(need("input_positions"))
            return ops.channel_to_flat(ops.extract_patches(need("padded_obj_2"), shifts, self.N))
        if stage == "probe_illumination":
            mask = self.probe_mask_c if cfg.probe_mask else None
            return ops.illuminate(
                need("padded_objs_with_offsets"), self.probe, cfg.gaussian_smoothing_sigma, mask
            )
        if stage == "pred_amplitude":
            return ops.diffract(need("probe_illumination"))
        if stage == "pred_diff_channels":
            return ops.flat_to_channel(need("pred_amplitude"), self.C)
        if stage == "intensity_scaler_inv":
            return need("pred_diff_channels") * self.scale()
        if stage == "pred_intensity":
            x = need("intensity_scaler_inv")
            return x * x
        raise KeyError(f"stage {stage!r} has no implementation")  # pragma: no cover

    def _run(self, x: Tensor, positions: Tensor, stages: Sequence[str]) -> dict[str, Tensor]:
        """Activations of ``stages`` (in topological order) for one batch."""
        acts: dict[str, Tensor] = {"input": standard_layout(x), "input_positions": positions}

        def get(name: str, optional: bool = False) -> Tensor | None:
            if optional:
                return acts.get(name)
            return acts[name]

        for stage in stages:
            acts[stage] = self._stage(stage, get)
        return acts

    def forward(
        self, x: Tensor, positions: Tensor, capture: dict[str, Tensor] | None = None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """``(trimmed_obj (B,1,N,N) c64, pred_amp_scaled (B,C,N,N), pred_intensity (B,C,N,N))``.

        ``x`` is ``intensity_scale · X_full`` (B, C, N, N); ``positions`` (B, C, 1, 2). When
        ``capture`` is a dict it receives every stage activation (channels-first).
        """
        acts = self._run(x, positions, self._stage_names)
        if capture is not None:
            capture.update({name: acts[name] for name in self._stage_names})
        return acts["trimmed_obj"], acts["intensity_scaler_inv"], acts["pred_intensity"]

    def predict_object(self, x: Tensor, positions: Tensor) -> Tensor:
        """``diffraction_to_obj``: trimmed_obj only (B, 1, N, N) complex64."""
        return self._run(x, positions, self._object_stages)["trimmed_obj"]

    # ------------------------------------------------------------------ weights

    def conv_layers(self) -> dict[str, nn.Conv2d]:
        """Canonical layer name -> Conv2d, in :func:`backends.graph.weight_shapes` order."""
        modules = dict(self.named_modules())
        names = [
            n[: -len(".kernel")] for n in graph.weight_shapes(self.config) if n.endswith(".kernel")
        ]
        out: dict[str, nn.Conv2d] = {}
        for n in names:
            conv = modules[n]
            if not isinstance(conv, nn.Conv2d):
                raise TypeError(f"{n} is not a convolution")
            out[n] = conv
        return out


def _ancestors(stages: Sequence[graph.Stage], target: str) -> list[str]:
    """The stages ``target`` depends on, itself included, in topological order."""
    needed = {target}
    for stage in reversed(stages):
        if stage.name in needed:
            needed.update(stage.inputs)
    return [stage.name for stage in stages if stage.name in needed]


def standard_layout(x: Tensor) -> Tensor:
    """``x`` with row-major (NCHW) strides. Tensors whose size-1 axes carry other strides
    (e.g. from a NumPy transpose) would otherwise be taken as channels-last by the convolution
    kernels, which then sum in another order; every entry point normalises, so a stage gives
    bitwise the same result whether it is fed by the previous stage or from outside."""
    expected, step = [], 1
    for size in reversed(x.shape):
        expected.append(step)
        step *= size
    if tuple(reversed(expected)) == tuple(x.stride()):
        return x
    return x.clone(memory_format=torch.contiguous_format)


def _glorot_init(model: PtychoPINN, seed: int) -> None:
    """Glorot-uniform kernels (limit ``sqrt(6 / (9 c_in + 9 c_out))``) and zero biases, drawn
    from one seeded generator in canonical construction order."""
    gen = torch.Generator().manual_seed(int(seed))
    with torch.no_grad():
        for conv in model.conv_layers().values():
            c_out, c_in, kh, kw = conv.weight.shape
            limit = math.sqrt(6.0 / (kh * kw * c_in + kh * kw * c_out))
            w = torch.rand(conv.weight.shape, generator=gen, dtype=torch.float64)
            conv.weight.copy_((w * 2.0 - 1.0) * limit)
            assert conv.bias is not None
            conv.bias.zero_()


def build_model(
    config: ModelConfig,
    probe: np.ndarray,
    intensity_scale: float,
    seed: int = 0,
    *,
    offset: int = DEFAULT_OFFSET,
    max_position_jitter: int = DEFAULT_MAX_POSITION_JITTER,
    probe_is_normalized: bool = False,
) -> PtychoPINN:
    """A freshly initialised model (Glorot-uniform kernels from ``seed``, zero biases).

    ``probe`` is the raw (N, N) or (N, N, 1) probe; the model holds
    ``backends.physics.normalize_probe(probe, probe_scale).astype(complex64)`` (both backends
    consume the same bytes), or the probe as given when ``probe_is_normalized``. ``offset`` and
    ``max_position_jitter`` size the padded canvas (physics.md 6).
    """
    graph.check_supported_n(config.N)
    model = PtychoPINN(
        config,
        model_probe(probe, config.probe_scale, probe_is_normalized),
        intensity_scale,
        offset,
        max_position_jitter,
    )
    _glorot_init(model, seed)
    return model
