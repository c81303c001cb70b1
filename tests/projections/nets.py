"""Small float64 Keras models for the projection tests: three nets for the maps (2-D, 1-D, residual),
one with integer weights full of ties, and positive-kernel nets for the receptive fields."""

from __future__ import annotations

import keras
import numpy as np

L = keras.layers
F64 = "float64"


def seeded(model, seed: int, positive: bool = False):
    """``model`` with weights from ``default_rng(seed)``: kernels N(0, 1/fan_in) and biases N(0, 0.3),
    or (``positive``) kernels uniform in [0.5, 1.5] and zero biases, so every path raises the output."""
    rng = np.random.default_rng(seed)
    for layer in model._flatten_layers(include_self=False, recursive=True):  # noqa: SLF001 - nested models too
        if isinstance(layer, keras.Model) or not layer.weights:
            continue
        shapes = [tuple(w.shape) for w in layer.weights]
        if positive:
            layer.set_weights([rng.uniform(0.5, 1.5, shapes[0])] + [np.zeros(s) for s in shapes[1:]])
        else:
            kernel = rng.normal(0.0, 1.0 / np.sqrt(np.prod(shapes[0][:-1])), shapes[0])
            layer.set_weights([kernel] + [rng.normal(0.0, 0.3, s) for s in shapes[1:]])
    return model


def image_net(seed: int = 0):
    """conv/ReLU/max-pool, conv/ReLU (``"conv2"``, the layer projected), dense head; input (10, 10, 2)."""
    return seeded(keras.Sequential([
        keras.Input((10, 10, 2), dtype=F64),
        L.Conv2D(4, 3, activation="relu", dtype=F64, name="conv1"),
        L.MaxPooling2D(2, dtype=F64, name="pool1"),
        L.Conv2D(5, 2, padding="same", activation="relu", dtype=F64, name="conv2"),
        L.Flatten(dtype=F64), L.Dense(3, dtype=F64),
    ]), seed)


def sequence_net(seed: int = 0):
    """Conv1D (causal, dilated)/ReLU/max-pool, Conv1D (strided, ``"conv2"``); input (24, 3): a time axis."""
    return seeded(keras.Sequential([
        keras.Input((24, 3), dtype=F64),
        L.Conv1D(4, 3, padding="causal", dilation_rate=2, activation="relu", dtype=F64, name="conv1"),
        L.MaxPooling1D(2, dtype=F64, name="pool1"),
        L.Conv1D(4, 3, strides=2, activation="relu", dtype=F64, name="conv2"),
        L.GlobalAveragePooling1D(dtype=F64), L.Dense(2, dtype=F64),
    ]), seed)


def residual_net(seed: int = 0, positive: bool = False):
    """A Functional residual block: ``relu(a + conv(a))`` (``"res"``), a max-pool and a conv; (9, 9, 2)."""
    inp = keras.Input((9, 9, 2), dtype=F64)
    a = L.Conv2D(3, 3, padding="same", activation="relu", dtype=F64, name="a")(inp)
    b = L.Conv2D(3, 3, strides=1, dtype=F64, name="b")(a)
    b = L.ZeroPadding2D(1, dtype=F64)(b)
    res = L.ReLU(dtype=F64, name="res")(L.Add(dtype=F64)([a, b]))
    pooled = L.MaxPooling2D(3, strides=2, padding="same", dtype=F64, name="pool")(res)
    out = L.Conv2D(3, 2, activation="relu", dtype=F64, name="top")(pooled)
    return seeded(keras.Model(inp, out, name="residual"), seed, positive)


def integer_net():
    """Integer weights on integer inputs: every activation exact, many exactly equal (ties)."""
    model = keras.Sequential([keras.Input((5, 5, 1), dtype=F64),
                              L.Conv2D(2, 2, activation="relu", dtype=F64, name="conv"),
                              L.MaxPooling2D(2, strides=1, dtype=F64, name="pool")])
    kernel = np.zeros((2, 2, 1, 2))
    kernel[..., 0] = 1.0
    kernel[..., 1] = [[[1.0], [-1.0]], [[2.0], [0.0]]]
    model.get_layer("conv").set_weights([kernel, np.array([0.0, -1.0])])
    return model


def integer_inputs():
    return np.random.default_rng(3).integers(0, 2, (3, 5, 5, 1)).astype(np.float64)


def _positive(layers, shape, seed):
    return seeded(keras.Sequential([keras.Input(shape, dtype=F64), *layers]), seed, positive=True)


def field_net(name: str):
    """``(positive-kernel model, the layer whose receptive fields are checked)`` for a name of :data:`FIELD_NETS`."""
    if name == "residual (Functional)":
        return residual_net(7, positive=True), "top"
    if name == "nested Sequential":
        inner = keras.Sequential([keras.Input((9, 9, 1), dtype=F64), L.Conv2D(2, 3, strides=2, padding="same",
                                  dtype=F64), L.MaxPooling2D(2, strides=1, dtype=F64)], name="inner")
        inp = keras.Input((9, 9, 1), dtype=F64)
        out = L.Conv2D(2, 2, dtype=F64, name="out")(inner(L.Activation("relu", dtype=F64)(inp)))
        return seeded(keras.Model(inp, out), 8, positive=True), "out"
    c2, c1 = (lambda *a, **k: L.Conv2D(*a, dtype=F64, **k)), (lambda *a, **k: L.Conv1D(*a, dtype=F64, **k))
    layers, shape = {
        "valid": lambda: ([c2(2, 3), c2(2, 3, name="out")], (9, 9, 1)),
        "same, strided, odd": lambda: ([c2(2, 3, strides=2, padding="same"),
                                        c2(2, 3, strides=2, padding="same", name="out")], (9, 9, 1)),
        "same, strided, even": lambda: ([c2(2, 4, strides=2, padding="same"),
                                         c2(2, 3, strides=3, padding="same", name="out")], (10, 10, 1)),
        "dilated": lambda: ([c2(2, 3, dilation_rate=2), c2(2, (2, 3), dilation_rate=(1, 2), name="out")], (10, 10, 1)),
        "pooled": lambda: ([c2(2, 3, padding="same", activation="relu"),
                            L.MaxPooling2D(3, strides=2, padding="same", dtype=F64), L.AveragePooling2D(2, dtype=F64),
                            c2(2, 2, name="out")], (10, 10, 1)),
        "padded, cropped, upsampled": lambda: ([L.ZeroPadding2D(((1, 2), (0, 1)), dtype=F64), c2(2, 3),
                                                L.Cropping2D(((1, 0), (0, 2)), dtype=F64), L.UpSampling2D(2, dtype=F64),
                                                c2(2, 3, strides=2, name="out")], (8, 8, 1)),
        "causal 1-D": lambda: ([c1(2, 3, padding="causal", dilation_rate=2), L.MaxPooling1D(2, dtype=F64),
                                c1(2, 3, strides=2, padding="same", name="out")], (20, 2)),
    }[name]()
    return _positive(layers, shape, FIELD_NETS.index(name)), "out"


#: The receptive-field cases: valid, same (odd and even extents), strided, dilated, pooled, padded,
#: cropped and upsampled, causal 1-D, a Functional residual block, a nested Sequential model.
FIELD_NETS = ("valid", "same, strided, odd", "same, strided, even", "dilated", "pooled", "padded, cropped, upsampled",
              "causal 1-D", "residual (Functional)", "nested Sequential")
