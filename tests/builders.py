"""Keras models from drawn :class:`~tests.strategies.NetSpec` networks.

One spec, many models: ``style`` picks how the model is written (Sequential,
Functional, nested sub-models, subclassed), ``dtype`` its precision, ``lib``
the Keras package (Keras 3, or tf-keras for Keras 2 models), and ``relu`` how
each ReLU-family activation is written: ``None`` for the spec's Keras form
(``activation="relu"``, ``ReLU(...)``, ``Activation(...)``), or a function
``spec -> callable`` whose callable is put in a ``Lambda``. Weights come from
the spec, so every model built from one spec computes the same function.
"""

from __future__ import annotations

import functools

import keras
import tensorflow as tf

STYLES = ("sequential", "functional", "nested", "subclassed")
_RECURRENT = {"simplernn": "SimpleRNN", "lstm": "LSTM", "gru": "GRU"}

_PLAIN = {  # plain ReLU / relu6 written as functions
    "tf.nn": {"relu": tf.nn.relu, "relu6": tf.nn.relu6},
    "keras.ops": {"relu": keras.ops.relu, "relu6": keras.ops.relu6},
}
WRITINGS = ("keras", *_PLAIN)


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


def written(name: str):
    """``relu`` argument of :func:`build` writing plain ReLUs with ``tf.nn`` or ``keras.ops`` functions."""
    if name == "keras":
        return None

    def choose(spec):
        form = spec.get("form", "activation")
        if form in ("capped", "thresholded"):
            return relu_function(spec)
        return _PLAIN[name]["relu6" if form == "relu6" else "relu"]

    return choose


def _relu_layer(L, spec: dict, dtype: str):
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


def _layers(L, spec: dict, dtype: str, relu) -> list:
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
        return [L.Lambda(relu(spec), dtype=dtype)] if relu is not None else [_relu_layer(L, spec, dtype)]
    elif kind in _RECURRENT:
        return [_recurrent(L, spec, dtype, relu({"form": "activation"}) if hooked else act)]
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
    return [main] + ([L.Lambda(relu({"form": "activation"}), dtype=dtype)] if hooked else [])


def _recurrent(L, spec: dict, dtype: str, activation):
    """A recurrent layer (``unroll=False``: the cell runs in a loop), the cell's ReLU written as asked.

    Keras's ``Bidirectional`` copies its layers through their configs, which cannot hold a
    function activation: its cells are built with the activation's name, then given the function.
    """
    cls = getattr(L, _RECURRENT[spec["type"]])
    named = activation if isinstance(activation, str) else "relu"
    layer = cls(spec["units"], activation=named, return_sequences=True, dtype=dtype)
    if spec.get("bidirectional"):
        layer = L.Bidirectional(layer, merge_mode=spec["bidirectional"], dtype=dtype)
    if not isinstance(activation, str):
        for direction in (layer.forward_layer, layer.backward_layer) if spec.get("bidirectional") else (layer,):
            direction.cell.activation = activation
    return layer


def _subclassed(lib, layers, dtype):
    class SpecModel(lib.Model):
        """A subclassed model running the layers in its own ``call``."""

        def __init__(self):
            super().__init__(dtype=dtype)
            self.steps = list(layers)

        def call(self, x, training=False):
            for layer in self.steps:
                x = layer(x, training=training)
            return x

    return SpecModel()


def build(net, style: str = "sequential", dtype: str = "float64", relu=None, lib=keras):
    """A model computing ``net`` (a :class:`~tests.strategies.NetSpec`); see the module docstring."""
    groups = [_layers(lib.layers, spec, dtype, relu) for spec in net.layers]
    flat = [layer for group in groups for layer in group]
    inputs = lib.Input(net.input_shape, dtype=dtype)
    if style == "sequential":
        model = lib.Sequential([inputs, *flat])
    elif style == "functional":
        h = inputs
        for layer in flat:
            h = layer(h)
        model = lib.Model(inputs, h)
    elif style == "nested":  # the first half two levels deep, the second half one level deep
        half = len(flat) // 2
        inner = lib.Sequential([lib.Input(net.input_shape, dtype=dtype), *flat[:half]])
        outer = lib.Sequential([lib.Input(net.input_shape, dtype=dtype), inner])
        model = lib.Model(inputs, lib.Sequential([lib.Input(tuple(outer.outputs[0].shape[1:]), dtype=dtype), *flat[half:]])(outer(inputs)))
    elif style == "subclassed":
        model = _subclassed(lib, flat, dtype)
        model(tf.zeros((1, *net.input_shape), dtype=dtype))
    else:
        raise ValueError(f"style: expected one of {STYLES}, got {style!r}")
    for i, group in enumerate(groups):
        shapes = [tuple(w.shape) for w in group[0].weights]
        if shapes:
            group[0].set_weights([w.astype(dtype) for w in net.weights(i, shapes)])
    return model
