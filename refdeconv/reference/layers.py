"""Translation of one Keras 3 layer into reference operations, with float64 weights.

Only layers whose inference computation the reference reproduces exactly are
translated; anything else (a ``Lambda``, attention, a custom layer, a
subclass of a known layer, a non-default data format) raises
``NotImplementedError`` naming the layer and its type, so that the oracle can
never return a wrong map silently. Layer types are matched exactly, not with
``isinstance``: a subclass may override ``call``.
"""

from __future__ import annotations

import keras
import numpy as np

from . import activations as act
from . import linear, pooling

L = keras.layers

_IDENTITY = (
    L.Dropout, L.SpatialDropout1D, L.SpatialDropout2D, L.GaussianNoise,
    L.GaussianDropout, L.AlphaDropout, L.ActivityRegularization,
)
_POOLS = {
    L.MaxPooling1D: pooling.MaxPool, L.MaxPooling2D: pooling.MaxPool,
    L.AveragePooling1D: pooling.AvgPool, L.AveragePooling2D: pooling.AvgPool,
}
_GLOBAL_POOLS = {
    L.GlobalAveragePooling1D: pooling.GlobalAvgPool, L.GlobalAveragePooling2D: pooling.GlobalAvgPool,
    L.GlobalMaxPooling1D: pooling.GlobalMaxPool, L.GlobalMaxPooling2D: pooling.GlobalMaxPool,
}


def unsupported(layer, why: str) -> NotImplementedError:
    """The error for a layer the reference cannot model."""
    return NotImplementedError(
        f"reference: layer {layer.name!r} of type {type(layer).__name__} is not supported ({why}); "
        "the NumPy reference models Dense, Conv1D/2D, pooling, Flatten, Reshape, Dropout, "
        "BatchNormalization, Add, Concatenate and activation layers of Sequential/Functional models"
    )


def _weight(variable) -> np.ndarray | None:
    return None if variable is None else np.asarray(variable.numpy(), np.float64)


def _leaky(slope: float):
    """Leaky ReLU with TensorFlow's slope: the ``LeakyRelu`` op keeps ``alpha`` as a
    32-bit float attribute, so a float64 model computes with ``float32(slope)``."""
    return act.Elementwise("leaky_relu", float(np.float32(slope)))


def activation_ops(layer, function) -> list:
    """Operations of a Keras activation function (``activation=`` or ``Activation``)."""
    name = getattr(function, "__name__", repr(function))
    if name == "linear":
        return []
    if name == "relu":
        return [act.ReLU()]
    if name == "relu6":
        return [act.ReLU(0.0, 6.0)]
    if name == "softmax":
        return [act.Softmax(-1)]
    if name == "leaky_relu":
        return [_leaky(0.2)]  # keras.activations.leaky_relu's default slope
    if name in act.ELEMENTWISE:
        return [act.Elementwise(name)]
    raise unsupported(layer, f"activation {name!r}")


def _channels_last(layer) -> None:
    if getattr(layer, "data_format", "channels_last") != "channels_last":
        raise unsupported(layer, f"data_format={layer.data_format!r}, only 'channels_last'")


def _padding(layer) -> str:
    if layer.padding not in ("valid", "same"):
        raise unsupported(layer, f"padding={layer.padding!r}, only 'valid' or 'same'")
    return layer.padding


def _batch_norm(layer, input_shape: tuple) -> linear.Affine:
    rank = len(input_shape)
    axes = {a % rank for a in np.atleast_1d(layer.axis)}
    shape = [input_shape[i] if i in axes else 1 for i in range(rank)]
    gamma = _weight(layer.gamma) if layer.scale else 1.0
    beta = _weight(layer.beta) if layer.center else 0.0
    scale = gamma / np.sqrt(_weight(layer.moving_variance) + layer.epsilon)
    shift = beta - _weight(layer.moving_mean) * scale
    return linear.Affine(np.reshape(scale, shape), np.reshape(shift, shape))


def _relu_layer(layer) -> list:
    slope, cap, threshold = float(layer.negative_slope), layer.max_value, float(layer.threshold)
    if slope == 0.0:
        return [act.ReLU(threshold, None if cap is None else float(cap))]
    if cap is None and threshold == 0.0:
        return [_leaky(slope)]
    raise unsupported(layer, "negative_slope combined with max_value or threshold")


def translate(layer, input_shapes: list[tuple]) -> list:
    """Operations computing ``layer`` at inference, in order.

    Parameters
    ----------
    layer : keras.layers.Layer
        The layer (not a model: the graph reader inlines nested models).
    input_shapes : list of tuple
        Symbolic shapes of the layer's inputs at this call.

    Returns
    -------
    list
        Reference operations; the first takes all the layer's inputs, the rest
        one tensor each. An empty list is the identity.
    """
    kind = type(layer)
    if kind is L.Dense:
        return [linear.Dense(_weight(layer.kernel), _weight(layer.bias))] + activation_ops(layer, layer.activation)
    if kind in (L.Conv1D, L.Conv2D):
        _channels_last(layer)
        if layer.groups != 1:
            raise unsupported(layer, f"groups={layer.groups}, only 1")
        conv = linear.Conv(_weight(layer.kernel), _weight(layer.bias), layer.strides, _padding(layer), layer.dilation_rate)
        return [conv] + activation_ops(layer, layer.activation)
    if kind in _POOLS:
        _channels_last(layer)
        return [_POOLS[kind](layer.pool_size, layer.strides, _padding(layer))]
    if kind in _GLOBAL_POOLS:
        _channels_last(layer)
        return [_GLOBAL_POOLS[kind](layer.keepdims)]
    if kind is L.Flatten:
        _channels_last(layer)
        return [linear.Reshape((-1,))]
    if kind is L.Reshape:
        return [linear.Reshape(layer.target_shape)]
    if kind in _IDENTITY:
        return []
    if kind is L.BatchNormalization:
        return [_batch_norm(layer, input_shapes[0])]
    if kind is L.Activation:
        return activation_ops(layer, layer.activation)
    if kind is L.ReLU:
        return _relu_layer(layer)
    if kind is L.LeakyReLU:
        return [_leaky(layer.negative_slope)]
    if kind is L.ELU:
        return [act.Elementwise("elu", float(layer.alpha))]
    if kind is L.Softmax:
        if layer.axis not in (-1, len(input_shapes[0]) - 1):
            raise unsupported(layer, f"axis={layer.axis}, only the last axis")
        return [act.Softmax(-1)]
    if kind is L.Add:
        return [linear.Add()]
    if kind is L.Concatenate:
        return [linear.Concatenate(layer.axis)]
    raise unsupported(layer, "no reference operation for this layer type")
