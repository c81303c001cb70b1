"""Backward signals at the input of any layer of a Sequential net, for every class: the map of the
net's tail from that layer up, taken at the layer's real input (the oracle, float64).

The oracle returns maps at a model's input only; the signal that reaches a hidden layer under a rule
is the map of the model made of the layers above it, at the activations that layer receives (every
rule's backward pass above the layer reads only the forward values above it). Used by ``sixt2020``
to follow the signals of different classes layer by layer.
"""

from __future__ import annotations

import keras
import numpy as np

from .study import RULES


def tail(model, name: str, kept: dict | None = None) -> keras.Model:
    """The layers of ``model`` from ``name`` up as a new Sequential (copies of the layers with the same weights;
    ``model``'s layers get no new call). ``kept``: a dict of the tails already built, reused for a net of the
    same architecture (its weights set from ``model``)."""
    i = [layer.name for layer in model.layers].index(name)
    if i == 0:
        return model
    key = (tuple(type(layer).__name__ for layer in model.layers), name)
    if kept is None or key not in kept:
        shape = (None, *model.input_shape[1:])
        for layer in model.layers[:i]:
            shape = layer.compute_output_shape(shape)
        sub = keras.Sequential([keras.Input(tuple(shape[1:])),
                                *(type(layer).from_config(layer.get_config()) for layer in model.layers[i:])])
        if kept is None:
            kept = {}
        kept[key] = sub
    sub = kept[key]
    for new, old in zip(sub.layers, model.layers[i:]):
        new.set_weights(old.get_weights())
    return sub


def activations(model, x, name: str) -> np.ndarray:
    """The input of layer ``name`` on ``x`` (float64, the oracle's forward pass)."""
    from .. import reference

    i = [layer.name for layer in model.layers].index(name)
    return np.asarray(x, np.float64) if i == 0 else reference.forward(model, x, output_layer=model.layers[i - 1].name)


def signals(model, x, name: str, classes: int, rules=RULES, kept: dict | None = None) -> dict:
    """``{rule: (n, classes, d)}``: the backward signal at the input of layer ``name`` for each of the first
    ``classes`` classes, under each rule, for each input of ``x`` (float64, the oracle on :func:`tail`; ``kept``
    goes to it)."""
    from .. import reference

    a = activations(model, x, name)
    n = len(a)
    found = reference.compile(tail(model, name, kept)).maps([np.repeat(a, classes, axis=0)],
                                                            np.tile(np.arange(classes), n), rules)
    return {rule: m[0].reshape(n, classes, -1) for rule, m in zip(rules, found)}
