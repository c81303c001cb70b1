"""Keras 3 models from drawn :class:`~tests.strategies.NetSpec` networks.

One spec, many models: ``style`` picks how the model is written (Sequential or
Functional), ``dtype`` its precision, and ``relu`` (a wrapper of an activation
function) lets a test replace every ReLU-family activation, fused or separate,
by a ``Lambda`` of its own — the way :mod:`tests.tf_rules` builds an
independent TensorFlow computation of a rule. Weights come from the spec, so
every model built from one spec computes the same function.
"""

from __future__ import annotations

import functools

import keras

L = keras.layers

STYLES = ("sequential", "functional")


def relu_function(spec: dict):
    """The Keras activation function a ReLU-form spec stands for (same TensorFlow ops)."""
    form = spec.get("form", "activation")
    if form == "relu6":
        return keras.activations.relu6
    if form == "capped":
        return functools.partial(keras.activations.relu, max_value=spec["max_value"])
    if form == "thresholded":
        return functools.partial(keras.activations.relu, threshold=spec["threshold"])
    return keras.activations.relu


def _relu_layer(spec: dict, dtype: str):
    form = spec["form"]
    if form == "layer":
        return L.ReLU(dtype=dtype)
    if form == "activation_layer":
        return L.Activation("relu", dtype=dtype)
    if form == "relu6":
        return L.Activation("relu6", dtype=dtype)
    if form == "capped":
        return L.ReLU(max_value=spec["max_value"], dtype=dtype)
    return L.ReLU(threshold=spec["threshold"], dtype=dtype)


def _layers(spec: dict, dtype: str, relu) -> list:
    """Keras layers for one spec layer; the first one carries the spec's weights."""
    kind, act = spec["type"], spec.get("activation", "linear")
    hooked = relu is not None and act == "relu"
    fused = "linear" if hooked else act
    if kind == "dense":
        main = L.Dense(spec["units"], activation=fused, dtype=dtype)
    elif kind in ("conv1d", "conv2d"):
        conv = L.Conv1D if kind == "conv1d" else L.Conv2D
        main = conv(spec["filters"], spec["kernel_size"], strides=spec["strides"], padding=spec["padding"],
                    dilation_rate=spec["dilation_rate"], activation=fused, dtype=dtype)
    elif kind[:-2] in ("maxpool", "avgpool"):
        pool = {"maxpool1d": L.MaxPooling1D, "maxpool2d": L.MaxPooling2D,
                "avgpool1d": L.AveragePooling1D, "avgpool2d": L.AveragePooling2D}[kind]
        main = pool(spec["pool_size"], strides=spec["strides"], padding=spec["padding"], dtype=dtype)
    elif kind == "relu":
        if relu is not None:
            return [L.Lambda(relu(relu_function(spec)), dtype=dtype)]
        main = _relu_layer(spec, dtype)
    else:
        main = {
            "flatten": lambda: L.Flatten(dtype=dtype),
            "globalavgpool1d": lambda: L.GlobalAveragePooling1D(dtype=dtype),
            "globalavgpool2d": lambda: L.GlobalAveragePooling2D(dtype=dtype),
            "globalmaxpool1d": lambda: L.GlobalMaxPooling1D(dtype=dtype),
            "globalmaxpool2d": lambda: L.GlobalMaxPooling2D(dtype=dtype),
            "dropout": lambda: L.Dropout(0.5, dtype=dtype),
            "batchnorm": lambda: L.BatchNormalization(dtype=dtype),
            "activation": lambda: L.Activation(spec.get("name"), dtype=dtype),
        }[kind]()
    return [main] + ([L.Lambda(relu(relu_function(spec)), dtype=dtype)] if hooked else [])


def build(net, style: str = "sequential", dtype: str = "float64", relu=None) -> keras.Model:
    """A Keras model computing ``net`` (a :class:`~tests.strategies.NetSpec`).

    Parameters
    ----------
    net : NetSpec
        The drawn network.
    style : {"sequential", "functional"}
        How the model is written.
    dtype : str
        Keras dtype of every layer and of the input.
    relu : callable, optional
        ``relu(fn) -> fn'``: when given, every ReLU-family activation ``fn`` is
        computed by ``Lambda(fn')`` instead of its usual Keras form.
    """
    groups = [_layers(spec, dtype, relu) for spec in net.layers]
    flat = [layer for group in groups for layer in group]
    inputs = keras.Input(net.input_shape, dtype=dtype)
    if style == "sequential":
        model = keras.Sequential([inputs, *flat])
    elif style == "functional":
        h = inputs
        for layer in flat:
            h = layer(h)
        model = keras.Model(inputs, h)
    else:
        raise ValueError(f"style: expected one of {STYLES}, got {style!r}")
    for i, group in enumerate(groups):
        shapes = [tuple(w.shape) for w in group[0].weights]
        if shapes:
            group[0].set_weights([w.astype(dtype) for w in net.weights(i, shapes)])
    return model
