"""Shaping: zero padding, cropping, nearest-neighbour upsampling, repetition and
axis permutation, each with its forward and its adjoint side by side.

All are linear maps that move or copy entries without arithmetic, so each
vector-Jacobian product is the adjoint, whatever the rule: cropping is the
adjoint of zero padding (and the other way round), summing each block of copies
is the adjoint of repetition, and the inverse permutation is the adjoint of a
permutation. Layouts are Keras's ``channels_last`` (``(N, T, C)``,
``(N, H, W, C)``, ``(N, D, H, W, C)``); other data formats are refused when the
layer is read.

Keras conventions (``keras/src/layers/reshaping/``): ``ZeroPadding*D`` and
``Cropping*D`` store ``(before, after)`` per spatial axis; ``UpSampling*D``
with ``interpolation="nearest"`` is ``ops.repeat`` along each spatial axis;
``RepeatVector(n)`` reshapes ``(N, C)`` to ``(N, 1, C)`` and repeats axis 1;
``Permute(dims)`` transposes with ``(0, *dims)``.
"""

from __future__ import annotations

import keras
import numpy as np

from . import linear
from .reading import channels_last, unsupported


def _pad(x, pads):
    """``x`` with ``pads[k] = (before, after)`` zeros on axis ``k + 1``."""
    return np.pad(x, ((0, 0), *pads, *[(0, 0)] * (x.ndim - 1 - len(pads))))


def _crop(x, pads):
    """``x`` without ``pads[k] = (before, after)`` entries on axis ``k + 1``."""
    return x[(slice(None), *(slice(a, x.shape[k + 1] - b) for k, (a, b) in enumerate(pads)))]


class Pad:
    """Zero padding of the leading spatial axes (``ZeroPadding1D/2D/3D``).

    Parameters
    ----------
    pads : tuple of (int, int)
        ``(before, after)`` for axes ``1, 2, ...``; channels are never padded.

    Notes
    -----
    The forward pass embeds ``x`` in a zero array; its adjoint is the crop that
    keeps the same window: ``x* = u[:, before : before + n, ...]``.
    """

    def __init__(self, pads):
        self.pads = tuple(tuple(p) for p in pads)

    def forward(self, x):
        """``x`` surrounded by zeros."""
        return _pad(x, self.pads)

    def vjp(self, u, inputs, output, rule):
        """``u`` cropped back to the input's window."""
        return (_crop(u, self.pads),)


class Crop:
    """Cropping of the leading spatial axes (``Cropping1D/2D/3D``); ``pads`` as in :class:`Pad`.

    Notes
    -----
    The forward pass keeps ``x[:, before : n - after, ...]``; its adjoint puts
    ``u`` back in place and zeros where the cropped entries were.
    """

    def __init__(self, pads):
        self.pads = tuple(tuple(p) for p in pads)

    def forward(self, x):
        """The central window of ``x``."""
        return _crop(x, self.pads)

    def vjp(self, u, inputs, output, rule):
        """``u`` padded with zeros where the cropped entries were."""
        return (_pad(u, self.pads),)


class Repeat:
    """Each entry repeated ``repeats[k]`` times along axis ``k + 1`` (``np.repeat``, as ``ops.repeat``).

    Notes
    -----
    ``y[:, i * r + j] = x[:, i]`` for ``0 <= j < r``; the adjoint sums each
    block of ``r`` consecutive entries: ``x*[:, i] = sum_j u[:, i * r + j]``.
    """

    def __init__(self, repeats):
        self.repeats = tuple(int(r) for r in repeats)

    def forward(self, x):
        """``x`` repeated along axes ``1, 2, ...``."""
        for axis, r in enumerate(self.repeats, start=1):
            x = np.repeat(x, r, axis=axis)
        return x

    def vjp(self, u, inputs, output, rule):
        """Sum over each block of copies."""
        for axis, r in enumerate(self.repeats, start=1):
            u = u.reshape(*u.shape[:axis], u.shape[axis] // r, r, *u.shape[axis + 1 :]).sum(axis=axis + 1)
        return (u,)


class Permute:
    """Permutation of the non-batch axes (``Permute(dims)``, 1-based as Keras).

    Notes
    -----
    The forward pass is ``transpose(x, (0, *dims))``; the adjoint is the
    transpose by the inverse permutation.
    """

    def __init__(self, dims):
        self.axes = (0, *(int(d) for d in dims))

    def forward(self, x):
        """``x`` with its axes permuted."""
        return np.transpose(x, self.axes)

    def vjp(self, u, inputs, output, rule):
        """``u`` permuted back."""
        return (np.transpose(u, np.argsort(self.axes)),)


def _pads(layer, name):
    channels_last(layer)
    value = getattr(layer, name)
    pairs = (value,) if np.ndim(value[0]) == 0 else value  # 1-D layers keep one (before, after) pair
    return [tuple(int(v) for v in p) for p in pairs]


def _upsampling(layer, input_shapes):
    channels_last(layer)
    if getattr(layer, "interpolation", "nearest") != "nearest":
        raise unsupported(
            layer,
            f"interpolation={layer.interpolation!r}, only 'nearest' (TensorFlow's resize computes "
            "bilinear weights in float32, measured 1.8e-7 from float64 on a float64 model)",
        )
    return [Repeat(np.atleast_1d(layer.size))]


L = keras.layers

#: Layer type -> ``translation(layer, input_shapes) -> list of operations``.
TRANSLATIONS = {
    **dict.fromkeys((L.ZeroPadding1D, L.ZeroPadding2D, L.ZeroPadding3D), lambda layer, shapes: [Pad(_pads(layer, "padding"))]),
    **dict.fromkeys((L.Cropping1D, L.Cropping2D, L.Cropping3D), lambda layer, shapes: [Crop(_pads(layer, "cropping"))]),
    **dict.fromkeys((L.UpSampling1D, L.UpSampling2D, L.UpSampling3D), _upsampling),
    L.RepeatVector: lambda layer, shapes: [linear.Reshape((1, -1)), Repeat((layer.n,))],
    L.Permute: lambda layer, shapes: [Permute(layer.dims)],
}
