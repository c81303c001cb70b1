"""Normalisations and rescalings at inference: ``LayerNormalization``,
``GroupNormalization``, ``Normalization``, ``Rescaling`` and ConvNeXt's
``LayerScale``/``StochasticDepth``.

The affine ones (``Normalization``, ``Rescaling``, ``LayerScale``) become
:class:`~refdeconv.reference.linear.Affine`. Layer and group normalisation
standardise each sample with its own statistics, a nonlinear map whose exact
vector-Jacobian product is :class:`Standardize`'s; their ``gamma``/``beta`` follow
as an ``Affine``.

Keras conventions (Keras 3.15 source):

- ``Normalization`` (``layers/preprocessing/normalization.py``):
  ``(x - mean) / maximum(sqrt(variance), keras.config.epsilon())``, and
  ``mean + x * maximum(sqrt(variance), epsilon)`` with ``invert=True``; the
  statistics are read from the built layer (``layer.mean``/``layer.variance``),
  which already holds Keras's rounding (a Python float ``mean=`` goes through
  float32 in ``convert_to_tensor``);
- ``LayerNormalization`` (``ops.nn._layer_normalization``):
  ``(x - m) * rsqrt(v + epsilon) * gamma + beta`` with the biased variance
  ``v`` of ``tf.nn.moments``; with the deprecated ``rms_scaling=True``:
  ``x * rsqrt(v + epsilon) * gamma``, no centring and no ``beta`` (``v`` is
  still the centred variance);
- ``GroupNormalization``: channels split into ``groups`` contiguous blocks,
  each standardised over all non-batch axes, then per-channel gamma/beta;
- ``Rescaling``: ``x * cast(scale) + cast(offset)``, where a Python float or
  list is rounded to float32 by the cast (:func:`_cast_constant`); ``LayerScale``: ``x * gamma``;
  ``StochasticDepth`` is the identity at inference.
"""

from __future__ import annotations

import keras
import numpy as np
from keras.src.applications.convnext import LayerScale, StochasticDepth

from . import linear
from .reading import unsupported, weight


class Standardize:
    """``y = c(x) / sqrt(var(x) + epsilon)`` over ``axes`` of each sample (optionally per group).

    Parameters
    ----------
    axes : tuple of int or None
        Non-batch axes to reduce over; ``None`` with ``groups``: every axis of
        the grouped view but the batch and the group axis.
    epsilon : float
        Added to the variance.
    centred : bool
        ``c(x) = x - mean(x)`` when true (layer/group normalisation),
        ``c(x) = x`` for ``rms_scaling``.
    groups : int or None
        Split the last axis into ``groups`` contiguous blocks first.

    Notes
    -----
    With ``n`` the number of reduced entries, ``m`` their mean,
    ``r = (v + epsilon)^(-1/2)``, ``v = mean((x - m)^2)``, and
    ``dr/dx_j = -r^3 (x_j - m) / n``, the vector-Jacobian product is

        x*_j = r (u_j - [centred] mean(u)) - r^3 (x_j - m) / n * sum_i u_i c_i.

    (``d m / d x_j = 1/n`` only matters for the centred case; in ``v`` its
    contribution ``-2 sum_i (x_i - m) / n`` vanishes, which is why
    ``tf.nn.moments`` may stop the gradient of the mean there.)
    """

    def __init__(self, axes, epsilon, centred=True, groups=None):
        self.axes, self.epsilon, self.centred, self.groups = axes, float(epsilon), centred, groups

    def _view(self, x):
        """``x`` grouped (``(..., groups, C / groups)``) and the axes to reduce."""
        if self.groups is None:
            return x, self.axes
        g = x.reshape(*x.shape[:-1], self.groups, x.shape[-1] // self.groups)
        return g, tuple(a for a in range(1, g.ndim) if a != g.ndim - 2)

    def _statistics(self, x):
        g, axes = self._view(x)
        mean = g.mean(axis=axes, keepdims=True)
        r = 1.0 / np.sqrt(((g - mean) ** 2).mean(axis=axes, keepdims=True) + self.epsilon)
        return g, axes, mean, r

    def forward(self, x):
        """``c(x) * r`` per sample (and group)."""
        g, _, mean, r = self._statistics(x)
        return ((g - mean if self.centred else g) * r).reshape(x.shape)

    def vjp(self, u, inputs, output, rule):
        """Exact VJP of the standardisation (see Notes)."""
        g, axes, mean, r = self._statistics(inputs[0])
        ug = u.reshape(g.shape)
        n = g.size // mean.size
        c = g - mean if self.centred else g
        head = ug - ug.mean(axis=axes, keepdims=True) if self.centred else ug
        x_star = r * head - r**3 * (g - mean) / n * (ug * c).sum(axis=axes, keepdims=True)
        return (x_star.reshape(u.shape),)


def _sample_axes(layer, axis, rank):
    axes = tuple(sorted(a % rank for a in np.atleast_1d(axis)))
    if 0 in axes:
        raise unsupported(layer, f"axis={axis} includes the batch axis (samples would not be independent)")
    return axes


def _broadcast(variable, axes, shape):
    """A weight laid out on ``axes`` of ``shape``, ready to broadcast (``None`` -> ``None``)."""
    value = weight(variable)
    return None if value is None else value.reshape([shape[a] if a in axes else 1 for a in range(len(shape))])


def _layer_norm(layer, input_shapes):
    shape = input_shapes[0]
    axes = _sample_axes(layer, layer.axis, len(shape))
    gamma, beta = (_broadcast(v, axes, shape) for v in (layer.gamma, layer.beta))
    ops = [Standardize(axes, layer.epsilon, centred=not layer.rms_scaling)]
    if gamma is not None or beta is not None:
        ops.append(linear.Affine(1.0 if gamma is None else gamma, 0.0 if beta is None else beta))
    return ops


def _group_norm(layer, input_shapes):
    rank = len(input_shapes[0])
    if layer.axis % rank != rank - 1:
        raise unsupported(layer, f"axis={layer.axis}, only the last axis")
    ops = [Standardize(None, layer.epsilon, groups=int(layer.groups))]
    if layer.scale or layer.center:
        gamma = weight(layer.gamma) if layer.scale else 1.0
        ops.append(linear.Affine(gamma, weight(layer.beta) if layer.center else 0.0))
    return ops


def _normalization(layer, input_shapes):
    if layer.mean is None:
        raise unsupported(layer, "not built: no mean and variance")
    if layer.axis:  # axis=None (stored as ()) means one scalar mean and variance
        _sample_axes(layer, layer.axis, len(input_shapes[0]))
    mean, variance = (np.asarray(v, np.float64) for v in (layer.mean, layer.variance))
    std = np.maximum(np.sqrt(variance), keras.config.epsilon())
    return [linear.Affine(std, mean) if layer.invert else linear.Affine(1.0 / std, -mean / std)]


def _cast_constant(value):
    """``backend.cast(value, "float64")`` as TensorFlow does it: a NumPy value keeps its
    precision, a Python float or list becomes a float32 tensor first (measured: ``Rescaling(1/255)``
    in a float64 model multiplies by ``float32(1/255)``)."""
    if isinstance(value, (np.ndarray, np.generic)):
        return np.asarray(value, np.float64)
    return np.asarray(value, np.float32).astype(np.float64)


def _rescaling(layer, input_shapes):
    scale, offset = _cast_constant(layer.scale), _cast_constant(layer.offset)
    if scale.ndim and keras.config.image_data_format() != "channels_last":
        raise unsupported(layer, "a per-channel scale under image_data_format 'channels_first'")
    return [linear.Affine(scale, offset)]


L = keras.layers

#: Layer type -> ``translation(layer, input_shapes) -> list of operations``.
TRANSLATIONS = {
    L.LayerNormalization: _layer_norm,
    L.GroupNormalization: _group_norm,
    L.Normalization: _normalization,
    L.Rescaling: _rescaling,
    LayerScale: lambda layer, shapes: [linear.Affine(weight(layer.gamma), 0.0)],
    StochasticDepth: lambda layer, shapes: [],
}
