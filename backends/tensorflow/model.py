"""The PtychoPINN network of docs/model.md as Keras 3 models, built from an explicit config.

:func:`build_model` returns :class:`PtychoPINN`: the training model ``autoencoder``, the inference
model ``diffraction_to_obj`` and ``autoencoder_no_nll`` (sharing layers), a stage-capture model,
the canonical weight map and the per-stage functions used by single-step mode. Layer names are
the canonical names of :mod:`backends.graph` with "." replaced by "_".
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from backends import graph
from backends.config.canonical import ModelConfig
from backends.core.constants import DEFAULT_MAX_POSITION_JITTER, DEFAULT_OFFSET
from backends.core.inputs import model_probe
from backends.tensorflow import layers as L
from backends.weights import check_weights

_StageFn = Callable[[Mapping[str, Any]], Any]


def layer_name(canonical: str) -> str:
    """Keras layer name of a canonical layer prefix (``enc1.conv1`` -> ``enc1_conv1``)."""
    return canonical.replace(".", "_")


def _layer_seed(seed: int, name: str) -> int:
    """Per-layer initialiser seed derived from the model seed and the layer's name."""
    state = np.random.SeedSequence([int(seed) & 0xFFFFFFFF, zlib.crc32(name.encode())])
    return int(state.generate_state(1)[0] & 0x7FFFFFFF)


@dataclass
class PtychoPINN:
    """The built network: three Keras models sharing layers, plus introspection."""

    config: ModelConfig
    autoencoder: keras.Model
    diffraction_to_obj: keras.Model
    autoencoder_no_nll: keras.Model
    capture: keras.Model
    variables: dict[str, keras.Variable]
    stage_fns: dict[str, _StageFn]
    log_scale: tf.Variable
    probe: np.ndarray
    M: int
    offset: int
    max_position_jitter: int
    stage_names: list[str] = field(default_factory=list)

    def __iter__(self):
        return iter((self.autoencoder, self.diffraction_to_obj, self.autoencoder_no_nll))

    def export_weights(self) -> dict[str, np.ndarray]:
        """All weights by canonical name (HWIO kernels), as float32 copies."""
        return {name: np.array(v.numpy()) for name, v in self.variables.items()}

    def import_weights(self, weights: Mapping[str, np.ndarray]) -> None:
        """Assign every weight by canonical name; missing/extra/misshapen -> ValueError."""
        check_weights(weights, self.config)
        for name, var in self.variables.items():
            var.assign(np.asarray(weights[name], np.float32))

    def run_stage(self, stage: str, feeds: Mapping[str, np.ndarray]) -> np.ndarray:
        """Run one stage on the given inputs (single-step mode; names of graph.stages)."""
        if stage not in self.stage_fns:
            raise KeyError(f"unknown stage {stage!r}; stages: {', '.join(self.stage_names)}")
        tensors = {k: _to_tensor(v) for k, v in feeds.items()}
        return np.asarray(self.stage_fns[stage](tensors))


def _to_tensor(x: Any) -> tf.Tensor:
    a = np.asarray(x)
    return tf.constant(a, tf.complex64 if np.iscomplexobj(a) else tf.float32)


class _Builder:
    """Creates the layers in canonical construction order and the per-stage functions."""

    def __init__(self, config: ModelConfig, seed: int) -> None:
        self.cfg = config
        self.seed = seed
        self.convs: dict[str, keras.layers.Conv2D] = {}

    def conv(self, canonical: str, filters: int, relu: bool) -> keras.layers.Conv2D:
        name = layer_name(canonical)
        layer = keras.layers.Conv2D(
            filters,
            3,
            padding="same",
            activation="relu" if relu else None,
            kernel_initializer=keras.initializers.GlorotUniform(seed=_layer_seed(self.seed, name)),
            bias_initializer="zeros",
            name=name,
        )
        self.convs[canonical] = layer
        return layer


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
    """Build the three Keras models of model.md section 6 from an explicit config.

    ``probe`` is the raw (N, N) or (N, N, 1) dataset (or default) probe, normalised here
    (physics.md 2.3) unless ``probe_is_normalized``; ``intensity_scale`` sets
    ``ℓ = float32(ln s)``; ``seed`` seeds the Glorot-uniform kernels (per-layer derived seeds);
    biases start at zero; ``offset`` and ``max_position_jitter`` size the padded canvas
    (physics.md 6).
    """
    cfg = config
    graph.check_supported_n(cfg.N)
    N, C = cfg.N, cfg.channels
    M = graph.padded_size(cfg, offset, max_position_jitter)
    probe = model_probe(probe, cfg.probe_scale, probe_is_normalized)
    if probe.shape != (N, N):
        raise ValueError(f"probe shape {probe.shape} does not match N={N}")
    c_o = graph.output_channels(cfg)
    head_in = 32 * cfg.n_filters_scale
    f_b = graph.border_filters(cfg)
    enc_f = graph.encoder_filters(cfg)
    dec_f = graph.decoder_filters(cfg)
    log_scale = L.make_log_scale(intensity_scale)
    b = _Builder(cfg, seed)

    # ---- layers, in the canonical construction order of graph.weight_shapes
    scaler = L.IntensityScaler(log_scale, name="intensity_scaler")
    enc: list[tuple[Any, Any, Any]] = []
    for i, f in enumerate(enc_f, start=1):
        enc.append(
            (
                b.conv(f"enc{i}.conv1", f, True),
                b.conv(f"enc{i}.conv2", f, True),
                keras.layers.MaxPooling2D(2, padding="same", name=f"enc{i}_pool"),
            )
        )

    heads: dict[str, dict[str, Any]] = {}
    for head, act_name in (("amp", "amp"), ("phase", "phi")):
        h: dict[str, Any] = {"dec": []}
        for j, f in enumerate(dec_f, start=1):
            h["dec"].append(
                (
                    b.conv(f"{head}.dec{j}.conv1", f, True),
                    b.conv(f"{head}.dec{j}.conv2", f, True),
                    keras.layers.UpSampling2D(2, name=f"{head}_dec{j}_up"),
                )
            )
        kind = cfg.amp_activation if head == "amp" else "pi_tanh"
        if cfg.pad_object:
            h["main_slice"] = L.ChannelSlice(
                0, head_in - graph.C_OUTER, name=f"{head}_head_main_slice"
            )
            h["conv_main"] = b.conv(f"{head}.head.conv_main", c_o, False)
            h["act"] = L.HeadActivation(kind, name=act_name)
            h["main_pad"] = keras.layers.ZeroPadding2D(N // 4, name=f"{head}_head_main_pad")
            if cfg.probe_big:
                h["border_slice"] = L.ChannelSlice(
                    head_in - graph.C_OUTER, head_in, name=f"{head}_head_border_slice"
                )
                h["border"] = (
                    b.conv(f"{head}.head.border.conv1", f_b, True),
                    b.conv(f"{head}.head.border.conv2", f_b, True),
                    keras.layers.UpSampling2D(2, name=f"{head}_head_border_up"),
                )
                h["border_out"] = b.conv(f"{head}.head.conv_border_out", c_o, False)
                h["border_act"] = L.HeadActivation("swish", name=f"{head}_head_border_swish")
                h["border_mask"] = L.BorderMask(N, name=f"{head}_head_border_mask")
                h["sum"] = keras.layers.Add(name=f"{head}_head")
        else:
            h["border"] = (
                b.conv(f"{head}.head.border.conv1", f_b, True),
                b.conv(f"{head}.head.border.conv2", f_b, True),
                keras.layers.UpSampling2D(2, name=f"{head}_head_border_up"),
            )
            h["border_out"] = b.conv(f"{head}.head.conv_border_out", c_o, False)
            h["act"] = L.HeadActivation(kind, name=f"{head}_head")
        heads[head] = h

    combine = L.CombineComplex(cfg.combine_mode, name="obj")
    if cfg.object_big:
        canvas_layer: keras.layers.Layer = L.ReassemblePatches(M, name="padded_obj_2")
    else:
        canvas_layer = L.PadReconstruction(M, name="padded_obj_2")
    trim_layer = L.TrimReconstruction(N, name="trimmed_obj")
    extract = L.ExtractPatchesPosition(N, name="padded_objs_with_offsets")
    illum = L.ProbeIllumination(
        probe, cfg.gaussian_smoothing_sigma, cfg.probe_mask, name="probe_illumination"
    )
    diffract = L.PadAndDiffract(name="pred_amplitude")
    to_channels = L.FlatToChannel(C, name="pred_diff_channels")
    scaler_inv = L.IntensityScalerInv(log_scale, name="intensity_scaler_inv")
    square = L.Square(name="pred_intensity")

    # ---- stage functions (single-step mode and graph construction share them)
    def seq(x, layers_):
        for layer in layers_:
            x = layer(x)
        return x

    def chain(source: str, blocks: Any) -> _StageFn:
        return lambda t: seq(t[source], blocks)

    fns: dict[str, _StageFn] = {"intensity_scaler": lambda t: scaler(t["input"])}
    prev = "intensity_scaler"
    for i, blk in enumerate(enc, start=1):
        fns[f"enc{i}"] = chain(prev, blk)
        prev = f"enc{i}"
    bottleneck = prev

    def head_fns(head: str, act_name: str) -> None:
        h = heads[head]
        p = bottleneck
        for j, blk in enumerate(h["dec"], start=1):
            fns[f"{head}.dec{j}"] = chain(p, blk)
            p = f"{head}.dec{j}"
        ladder = p
        if cfg.pad_object:

            def main(t, h=h, ladder=ladder):
                return h["act"](h["conv_main"](h["main_slice"](t[ladder])))

            fns[act_name] = main

            def padded_head(t, h=h, ladder=ladder, main=main, act_name=act_name):
                m = t[act_name] if act_name in t else main(t)
                padded = h["main_pad"](m)
                if not cfg.probe_big:
                    return padded
                z = seq(h["border_slice"](t[ladder]), h["border"])
                z = h["border_mask"](h["border_act"](h["border_out"](z)))
                return h["sum"]([padded, z])

            fns[f"{head}.head"] = padded_head
        else:

            def border_head(t, h=h, ladder=ladder):
                return h["act"](h["border_out"](seq(t[ladder], h["border"])))

            fns[f"{head}.head"] = border_head

    head_fns("amp", "amp")
    head_fns("phase", "phi")
    fns["obj"] = lambda t: combine([t["amp.head"], t["phase.head"]])
    if cfg.object_big:
        fns["padded_obj_2"] = lambda t: canvas_layer([t["obj"], t["input_positions"]])
    else:
        fns["padded_obj_2"] = lambda t: canvas_layer(t["obj"])
    fns["trimmed_obj"] = lambda t: trim_layer(t["padded_obj_2"])
    fns["padded_objs_with_offsets"] = lambda t: extract([t["padded_obj_2"], t["input_positions"]])
    fns["probe_illumination"] = lambda t: illum(t["padded_objs_with_offsets"])
    fns["pred_amplitude"] = lambda t: diffract(t["probe_illumination"])
    fns["pred_diff_channels"] = lambda t: to_channels(t["pred_amplitude"])
    fns["intensity_scaler_inv"] = lambda t: scaler_inv(t["pred_diff_channels"])
    fns["pred_intensity"] = lambda t: square(t["intensity_scaler_inv"])

    # ---- the functional graph
    stages = graph.stages(cfg)
    missing = [s.name for s in stages if s.name not in fns]
    if missing:
        raise RuntimeError(f"no implementation for stages {missing}")
    inp = keras.Input((N, N, C), name="input", dtype="float32")
    pos = keras.Input((1, 2, C), name="input_positions", dtype="float32")
    t: dict[str, Any] = {"input": inp, "input_positions": pos}
    for stage in stages:
        t[stage.name] = fns[stage.name](t)
    trimmed = t["trimmed_obj"]
    amp_scaled = t["intensity_scaler_inv"]
    intensity = t["pred_intensity"]
    autoencoder = keras.Model([inp, pos], [trimmed, amp_scaled, intensity], name="autoencoder")
    diffraction_to_obj = keras.Model([inp, pos], trimmed, name="diffraction_to_obj")
    no_nll = keras.Model([inp, pos], amp_scaled, name="autoencoder_no_nll")
    capture = keras.Model([inp, pos], [t[s.name] for s in stages], name="stage_capture")

    variables: dict[str, keras.Variable] = {}
    for canonical in graph.weight_shapes(cfg):
        prefix, attr = canonical.rsplit(".", 1)
        variables[canonical] = getattr(b.convs[prefix], attr)
    return PtychoPINN(
        config=cfg,
        autoencoder=autoencoder,
        diffraction_to_obj=diffraction_to_obj,
        autoencoder_no_nll=no_nll,
        capture=capture,
        variables=variables,
        stage_fns=fns,
        log_scale=log_scale,
        probe=probe,
        M=M,
        offset=offset,
        max_position_jitter=max_position_jitter,
        stage_names=[s.name for s in stages],
    )
