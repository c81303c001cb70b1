"""Translation of one Keras 3 layer into reference operations, with float64 weights.

Only layers whose inference computation the reference reproduces exactly are
translated; anything else (a ``Lambda``, attention, a custom layer, a
subclass of a known layer, a non-default data format) raises
``NotImplementedError`` naming the layer and its type, so that the oracle can
never return a wrong map silently. Layer types are matched exactly, not with
``isinstance``: a subclass may override ``call``.

:func:`translate` dispatches on the layer type to a table of translations:
:data:`TRANSLATIONS` here (dense, convolution, pooling, reshapes, batch
normalisation, activations, merges), extended by one table per family of
operations in its own module: :mod:`.shaping`, :mod:`.merging`,
:mod:`.normalization`, :mod:`.recurrent`, :mod:`.sequence`,
:mod:`.convolutions`.
"""

from __future__ import annotations

import keras
import numpy as np

from functools import partial

from . import activations as act
from . import convolutions, linear, merging, normalization, pooling, recurrent, sequence, shaping
from .reading import activation_ops, channels_last, leaky, padding, unsupported, weight

L = keras.layers

_IDENTITY = (
    L.Dropout, L.SpatialDropout1D, L.SpatialDropout2D, L.SpatialDropout3D, L.GaussianNoise,
    L.GaussianDropout, L.AlphaDropout, L.ActivityRegularization,
)
_POOLS = {
    **dict.fromkeys((L.MaxPooling1D, L.MaxPooling2D, L.MaxPooling3D), pooling.MaxPool),
    **dict.fromkeys((L.AveragePooling1D, L.AveragePooling2D, L.AveragePooling3D), pooling.AvgPool),
}
_GLOBAL_POOLS = {
    **dict.fromkeys((L.GlobalAveragePooling1D, L.GlobalAveragePooling2D, L.GlobalAveragePooling3D), pooling.GlobalAvgPool),
    **dict.fromkeys((L.GlobalMaxPooling1D, L.GlobalMaxPooling2D, L.GlobalMaxPooling3D), pooling.GlobalMaxPool),
}


#: TensorFlow's kernels for these plan "same" padding without clamping it at zero
#: (``"same_unclamped"`` in :class:`~refdeconv.reference.windows.Geometry`); ``Conv3DTranspose``
#: (``conv3d_transpose``) clamps it, as the 1-D and 2-D kernels do.
_UNCLAMPED_SAME = (L.Conv3D, L.MaxPooling3D, L.AveragePooling3D)


def _windowed_padding(layer, allowed=("valid", "same")) -> str:
    pad = padding(layer, allowed)
    return "same_unclamped" if pad == "same" and type(layer) in _UNCLAMPED_SAME else pad


def _dense(layer, input_shapes):
    return [linear.Dense(weight(layer.kernel), weight(layer.bias))] + activation_ops(layer, layer.activation)


def _conv(layer, input_shapes):
    channels_last(layer)
    pad = _windowed_padding(layer, ("valid", "same", "causal"))  # Keras allows "causal" for Conv1D only
    conv = linear.Conv(weight(layer.kernel), weight(layer.bias), layer.strides, pad, layer.dilation_rate, layer.groups)
    return [conv] + activation_ops(layer, layer.activation)


def _pool(layer, input_shapes):
    channels_last(layer)
    return [_POOLS[type(layer)](layer.pool_size, layer.strides, _windowed_padding(layer))]


def _global_pool(layer, input_shapes):
    channels_last(layer)
    return [_GLOBAL_POOLS[type(layer)](layer.keepdims)]


def _flatten(layer, input_shapes):
    channels_last(layer)
    return [linear.Reshape((-1,))]


def _batch_norm(layer, input_shapes):
    rank = len(input_shapes[0])
    axes = {a % rank for a in np.atleast_1d(layer.axis)}
    shape = [input_shapes[0][i] if i in axes else 1 for i in range(rank)]
    gamma = weight(layer.gamma) if layer.scale else 1.0
    beta = weight(layer.beta) if layer.center else 0.0
    scale = gamma / np.sqrt(weight(layer.moving_variance) + layer.epsilon)
    shift = beta - weight(layer.moving_mean) * scale
    return [linear.Affine(np.reshape(scale, shape), np.reshape(shift, shape))]


def _relu_layer(layer, input_shapes):
    slope, cap, threshold = float(layer.negative_slope), layer.max_value, float(layer.threshold)
    if slope == 0.0:
        return [act.ReLU(threshold, None if cap is None else float(cap))]
    if cap is None and threshold == 0.0:
        return [leaky(slope)]
    return [act.LeakyCapped(slope, threshold, None if cap is None else float(cap))]


def _softmax(layer, input_shapes):
    if layer.axis not in (-1, len(input_shapes[0]) - 1):
        raise unsupported(layer, f"axis={layer.axis}, only the last axis")
    return [act.Softmax(-1)]


#: Layer type -> ``translation(layer, input_shapes) -> list of operations``.
TRANSLATIONS = {
    L.Dense: _dense, L.Conv1D: _conv, L.Conv2D: _conv, L.Conv3D: _conv,
    **dict.fromkeys(_POOLS, _pool), **dict.fromkeys(_GLOBAL_POOLS, _global_pool),
    L.Flatten: _flatten, L.Reshape: lambda layer, shapes: [linear.Reshape(layer.target_shape)],
    **dict.fromkeys(_IDENTITY, lambda layer, shapes: []),
    L.BatchNormalization: _batch_norm,
    L.Activation: lambda layer, shapes: activation_ops(layer, layer.activation),
    L.ReLU: _relu_layer, L.LeakyReLU: lambda layer, shapes: [leaky(layer.negative_slope)],
    L.ELU: lambda layer, shapes: [act.Elementwise("elu", float(layer.alpha))],
    L.PReLU: lambda layer, shapes: [act.Elementwise("prelu", weight(layer.alpha))],
    L.Softmax: _softmax,
    L.Add: lambda layer, shapes: [merging.WeightedSum([1.0] * len(shapes))],  # broadcasts as Keras's Add
    L.Concatenate: lambda layer, shapes: [linear.Concatenate(layer.axis)],
}


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

    Raises
    ------
    NotImplementedError
        The layer's type (matched exactly) or one of its settings is not modelled.
    """
    translation = TRANSLATIONS.get(type(layer))
    if translation is None:
        raise unsupported(layer, "no reference operation for this layer type")
    return translation(layer, input_shapes)



TRANSLATIONS.update({**shaping.TRANSLATIONS, **merging.TRANSLATIONS, **normalization.TRANSLATIONS,
                     **recurrent.TRANSLATIONS, **sequence.TRANSLATIONS, **convolutions.TRANSLATIONS})
#: A wrapper translates its inner layer with :func:`translate` itself.
TRANSLATIONS[L.TimeDistributed] = partial(sequence.time_distributed, translate=translate)
