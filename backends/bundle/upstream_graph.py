"""Upstream Keras layer names -> this project's canonical weight names, from the layer graph.

Upstream names its Conv2D layers by construction order (``conv2d_8`` ...), which says nothing
about their role. The role follows from the graph in ``config.json``: walking back from the
activation layers ``amp`` and ``phi`` through single-input layers gives each head's main path
(encoder convs, decoder convs, the main output conv); the other conv chain that ends in a head
and shares its decoder is the border branch (two convs and the border output conv). Each name
is then checked against :func:`backends.graph.weight_shapes` for the restored config.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from backends.bundle.keras_archive import KerasArchiveError, KerasLayer
from backends.config.canonical import ModelConfig
from backends.graph import decoder_filters, encoder_filters, weight_shapes

__all__ = ["HEAD_ACTIVATIONS", "canonical_layer_names", "canonical_weights"]

HEAD_ACTIVATIONS = {"amp": "amp", "phase": "phi"}
"""Canonical head -> the name of upstream's activation layer at the end of its main path."""


def _conv_before(layers: Mapping[str, KerasLayer], name: str) -> str | None:
    """The nearest Conv2D feeding ``name`` through single-input layers."""
    seen = 0
    current = layers[name]
    while len(current.inbound) == 1 and seen < len(layers):
        seen += 1
        source = current.inbound[0]
        if source not in layers:
            return None
        current = layers[source]
        if current.class_name == "Conv2D":
            return current.name
    return None


def _chain(layers: Mapping[str, KerasLayer], conv: str) -> list[str]:
    """``conv`` and every Conv2D before it, input first."""
    out = [conv]
    while (prev := _conv_before(layers, out[-1])) is not None and prev not in out:
        out.append(prev)
    return out[::-1]


def _names_for_head(
    layers: Mapping[str, KerasLayer], head: str, config: ModelConfig, source: str
) -> dict[str, str]:
    activation = HEAD_ACTIVATIONS[head]
    if activation not in layers:
        raise KerasArchiveError(
            f"{source}: no layer named {activation!r}; only upstream models with pad_object "
            "(a separate main path per head) can be imported"
        )
    main = _conv_before(layers, activation)
    if main is None:
        raise KerasArchiveError(f"{source}: no Conv2D feeds the {activation!r} layer")
    n_enc, n_dec = len(encoder_filters(config)), len(decoder_filters(config))
    chain = _chain(layers, main)
    if len(chain) != 2 * (n_enc + n_dec) + 1:
        raise KerasArchiveError(
            f"{source}: the {head} head's main path has {len(chain)} convs, expected "
            f"{2 * (n_enc + n_dec) + 1} for N={config.N}"
        )
    names: dict[str, str] = {}
    for i in range(n_enc):
        names[f"enc{i + 1}.conv1"] = chain[2 * i]
        names[f"enc{i + 1}.conv2"] = chain[2 * i + 1]
    for j in range(n_dec):
        names[f"{head}.dec{j + 1}.conv1"] = chain[2 * (n_enc + j)]
        names[f"{head}.dec{j + 1}.conv2"] = chain[2 * (n_enc + j) + 1]
    names[f"{head}.head.conv_main"] = main
    if config.probe_big:
        trunk = chain[:-1]
        convs = [n for n, layer in layers.items() if layer.class_name == "Conv2D"]
        feeding = {_conv_before(layers, n) for n in convs}
        borders = [
            _chain(layers, n)
            for n in convs
            if n not in feeding and n != main and _chain(layers, n)[: len(trunk)] == trunk
        ]
        if len(borders) != 1 or len(borders[0]) != len(trunk) + 3:
            raise KerasArchiveError(
                f"{source}: cannot identify the {head} head's border branch (probe_big) in "
                "the layer graph"
            )
        b1, b2, out = borders[0][len(trunk) :]
        names[f"{head}.head.border.conv1"] = b1
        names[f"{head}.head.border.conv2"] = b2
        names[f"{head}.head.conv_border_out"] = out
    return names


def canonical_layer_names(
    layers: Mapping[str, KerasLayer], config: ModelConfig, source: str
) -> dict[str, str]:
    """Canonical conv name (``amp.dec1.conv1``) -> upstream layer name (``conv2d_8``)."""
    if not config.pad_object:
        raise KerasArchiveError(
            f"{source}: the model was trained with pad_object=False; importing that "
            "architecture is not supported (retrain with `parity train`)"
        )
    names: dict[str, str] = {}
    for head in HEAD_ACTIVATIONS:
        for canonical, layer in _names_for_head(layers, head, config, source).items():
            if names.get(canonical, layer) != layer:
                raise KerasArchiveError(
                    f"{source}: {canonical} maps to both {names[canonical]} and {layer}"
                )
            names[canonical] = layer
    return names


def canonical_weights(
    layers: Mapping[str, KerasLayer],
    weights: Mapping[str, list[np.ndarray]],
    config: ModelConfig,
    source: str,
) -> dict[str, np.ndarray]:
    """Reference-layout (HWIO) weights under canonical names for ``config``.

    Raises KerasArchiveError when the graph does not have the expected shape or a weight is
    missing or misshapen.
    """
    names = canonical_layer_names(layers, config, source)
    expected = weight_shapes(config)
    out: dict[str, np.ndarray] = {}
    for canonical, layer in names.items():
        arrays = weights.get(layer)
        if arrays is None or len(arrays) != 2:
            raise KerasArchiveError(
                f"{source}: layer {layer!r} ({canonical}) has no kernel and bias in "
                "model.weights.h5"
            )
        for suffix, array in zip(("kernel", "bias"), arrays):
            key = f"{canonical}.{suffix}"
            if tuple(array.shape) != expected.get(key):
                raise KerasArchiveError(
                    f"{source}: layer {layer!r} {suffix} has shape {tuple(array.shape)}, "
                    f"expected {expected.get(key)} for {key}"
                )
            out[key] = np.asarray(array, np.float32)
    missing = sorted(set(expected) - set(out))
    if missing:
        raise KerasArchiveError(f"{source}: no upstream layer for {', '.join(missing)}")
    return out
