"""Keras models from networks written in the test vectors' layer vocabulary.

A network is a chain of layer dicts (``{"type": "conv2d", "filters": 3,
"kernel_size": [3, 3], "strides": [1, 1], "padding": "valid"}``, ...; see
:data:`VOCABULARY`). One network, many models that compute the same function:
``form`` picks how every ReLU is written, ``kind`` how the model is put
together, ``dtype`` its precision. The weights are given per layer index, so
all models of a network share them.

ReLU forms (:data:`FORMS`)
    ``activation`` (fused ``activation="relu"`` on the preceding Dense/Conv,
    else ``Activation("relu")``), ``layer`` (``ReLU()``), ``activation_layer``
    (``Activation("relu")``), ``shared`` (one ``ReLU()`` layer called at every
    ReLU), ``tf.nn`` and ``keras.ops`` (``Lambda(tf.nn.relu)``,
    ``Lambda(keras.ops.relu)``), ``custom_layer`` (a subclassed layer whose
    ``call`` is ``tf.nn.relu``), and three that change the function: ``relu6``
    (``Activation("relu6")``), ``capped`` (``ReLU(max_value=1)``),
    ``thresholded`` (``ReLU(threshold=0.25)``).
Model kinds (:data:`KINDS`)
    ``sequential``, ``functional``, ``nested`` (the first half of the layers
    two sub-models deep, the rest one deep), ``residual`` (functional; every
    layer-and-ReLU block whose output has its input's shape gets an identity
    shortcut, ``Add()([block(h), h])``), ``subclassed`` (a model running the
    layers in its own ``call``).

The NumPy reference reads every kind but ``subclassed`` and every form but
``tf.nn``, ``keras.ops`` and ``custom_layer``; :func:`readable` names the
equivalent model it can read.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

L = keras.layers

#: Layer type -> the config keys it carries (besides ``type``).
VOCABULARY = {
    "dense": ("units",),
    "conv1d": ("filters", "kernel_size", "strides", "padding"),
    "conv2d": ("filters", "kernel_size", "strides", "padding"),
    "maxpool1d": ("pool_size", "strides", "padding"),
    "maxpool2d": ("pool_size", "strides", "padding"),
    "avgpool1d": ("pool_size", "strides", "padding"),
    "avgpool2d": ("pool_size", "strides", "padding"),
    "flatten": (),
    "relu": (),
}
WEIGHTED = ("dense", "conv1d", "conv2d")
FORMS = ("activation", "layer", "activation_layer", "shared", "tf.nn", "keras.ops", "custom_layer",
         "relu6", "capped", "thresholded")
KINDS = ("sequential", "functional", "nested", "residual", "subclassed")

_POOLS = {"maxpool1d": L.MaxPooling1D, "maxpool2d": L.MaxPooling2D,
          "avgpool1d": L.AveragePooling1D, "avgpool2d": L.AveragePooling2D}


class ReLUInCall(L.Layer):
    """A custom layer whose ``call`` is ``tf.nn.relu`` (no Keras activation involved)."""

    def call(self, x):
        """``tf.nn.relu(x)``."""
        return tf.nn.relu(x)


def readable(form: str, kind: str) -> tuple[str, str]:
    """The ``(form, kind)`` of an equivalent model the NumPy reference can read."""
    return ("layer" if form in ("tf.nn", "keras.ops", "custom_layer") else form,
            "sequential" if kind == "subclassed" else kind)


def check_layers(layers) -> None:
    """``ValueError`` naming the first layer dict outside :data:`VOCABULARY`."""
    for i, spec in enumerate(layers):
        kind = spec.get("type") if isinstance(spec, dict) else None
        if kind not in VOCABULARY:
            raise ValueError(f"layers[{i}]: type {kind!r} is not one of {sorted(VOCABULARY)}")
        missing = [key for key in VOCABULARY[kind] if key not in spec]
        if missing:
            raise ValueError(f"layers[{i}]: a {kind} layer needs {missing}, got {spec}")
        if "padding" in spec and spec["padding"] not in ("valid", "same"):
            raise ValueError(f"layers[{i}]: padding must be 'valid' or 'same', got {spec['padding']!r}")


def _relu(form: str, dtype: str, shared):
    if form in ("layer", "activation", "activation_layer"):
        return L.ReLU(dtype=dtype) if form == "layer" else L.Activation("relu", dtype=dtype)
    return {
        "shared": lambda: shared,
        "tf.nn": lambda: L.Lambda(tf.nn.relu, dtype=dtype),
        "keras.ops": lambda: L.Lambda(keras.ops.relu, dtype=dtype),
        "custom_layer": lambda: ReLUInCall(dtype=dtype),
        "relu6": lambda: L.Activation("relu6", dtype=dtype),
        "capped": lambda: L.ReLU(max_value=1.0, dtype=dtype),
        "thresholded": lambda: L.ReLU(threshold=0.25, dtype=dtype),
    }[form]()


def _groups(layers, form: str, dtype: str) -> list[list]:
    """Keras layers per network layer (a ReLU fused into its Dense/Conv has none)."""
    shared = L.ReLU(dtype=dtype) if form == "shared" else None
    groups = []
    for i, spec in enumerate(layers):
        kind = spec["type"]
        fuse = form == "activation" and i + 1 < len(layers) and layers[i + 1]["type"] == "relu"
        act = "relu" if fuse and kind in WEIGHTED else None
        if kind == "dense":
            groups.append([L.Dense(spec["units"], activation=act, dtype=dtype)])
        elif kind in ("conv1d", "conv2d"):
            conv = L.Conv1D if kind == "conv1d" else L.Conv2D
            groups.append([conv(spec["filters"], spec["kernel_size"], strides=spec["strides"],
                                padding=spec["padding"], activation=act, dtype=dtype)])
        elif kind in _POOLS:
            pool = _POOLS[kind](spec["pool_size"], strides=spec["strides"], padding=spec["padding"], dtype=dtype)
            groups.append([pool])
        elif kind == "flatten":
            groups.append([L.Flatten(dtype=dtype)])
        else:
            fused = form == "activation" and i > 0 and layers[i - 1]["type"] in WEIGHTED
            groups.append([] if fused else [_relu(form, dtype, shared)])
    return groups


def _residual(groups, layers, h):
    start = h
    for i, group in enumerate(groups):
        if layers[i]["type"] != "relu":
            start = h
        for layer in group:
            h = layer(h)
        if layers[i]["type"] == "relu" and tuple(h.shape) == tuple(start.shape):
            h = L.Add(dtype=h.dtype)([h, start])
    return h


def _subclassed(layers: list, dtype: str):
    class ChainModel(keras.Model):
        """A subclassed model running its layers in its own ``call``."""

        def __init__(self):
            super().__init__(dtype=dtype)
            self.chain = list(layers)

        def call(self, x, training=False):
            for layer in self.chain:
                x = layer(x)
            return x

    return ChainModel()


def build(layers, input_shape, weights, form: str = "layer", kind: str = "sequential", dtype: str = "float64"):
    """A Keras 3 model computing a network.

    Parameters
    ----------
    layers : list of dict
        The network, in :data:`VOCABULARY`.
    input_shape : tuple of int
        One sample's shape (no batch axis).
    weights : callable or dict
        ``weights(i, shapes)`` returning layer ``i``'s ``[kernel, bias]`` for
        the given shapes, or a dict ``i -> [kernel, bias]``.
    form, kind : str
        See :data:`FORMS` and :data:`KINDS`.
    dtype : str
        The model's dtype.

    Returns
    -------
    keras.Model
    """
    if form not in FORMS:
        raise ValueError(f"form: expected one of {FORMS}, got {form!r}")
    if kind not in KINDS:
        raise ValueError(f"kind: expected one of {KINDS}, got {kind!r}")
    check_layers(layers)
    groups = _groups(layers, form, dtype)
    flat = [layer for group in groups for layer in group]
    inputs = keras.Input(tuple(input_shape), dtype=dtype)
    if kind == "sequential":
        model = keras.Sequential([inputs, *flat])
    elif kind == "functional":
        h = inputs
        for layer in flat:
            h = layer(h)
        model = keras.Model(inputs, h)
    elif kind == "residual":
        model = keras.Model(inputs, _residual(groups, layers, inputs))
    elif kind == "nested":
        half = len(flat) // 2
        inner = keras.Sequential([keras.Input(tuple(input_shape), dtype=dtype), *flat[:half]])
        outer = keras.Sequential([keras.Input(tuple(input_shape), dtype=dtype), inner])
        h = outer(inputs)
        model = keras.Model(inputs, keras.Sequential([keras.Input(tuple(h.shape[1:]), dtype=dtype), *flat[half:]])(h))
    else:
        model = _subclassed(flat, dtype)
        model(np.zeros((1, *input_shape), dtype))
    for i, group in enumerate(groups):
        if layers[i]["type"] in WEIGHTED:
            shapes = [tuple(w.shape) for w in group[0].weights]
            values = weights[i] if isinstance(weights, dict) else weights(i, shapes)
            group[0].set_weights([np.asarray(w, dtype) for w in values])
    return model
