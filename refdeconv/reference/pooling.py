"""Pooling: forward and vector-Jacobian product side by side, and the switch rule.

Max-pooling's backward pass is Zeiler & Fergus's *unpooling through switches*:
each window's signal goes to the position that won the window in the forward
pass. When several positions tie for the maximum, the signal goes to the first
of them in row-major order within the window (over ``(w)``, ``(h, w)`` or
``(d, h, w)``); overlapping windows accumulate. :func:`switch_index` is that
rule, in one place, for 1-, 2- and 3-D pooling alike. It is TensorFlow's CPU
rule for 1-D and 2-D pools (measured on TensorFlow 2.21, oneDNN on and off),
and refdeconv's convention for 3-D ones: TensorFlow's ``MaxPool3D`` gradient
with oneDNN off sends the signal to every tied maximum (DESIGN.md §3).

Global max-pooling is not a windowed max-pool in TensorFlow: it is
``reduce_max``, whose gradient splits the signal equally among tied maxima.
:class:`GlobalMaxPool` follows it.
"""

from __future__ import annotations

import numpy as np

from .windows import Geometry, windows, windows_adjoint


def switch_index(window_values: np.ndarray) -> np.ndarray:
    """Index of the switch along the window axis (``-2``) of ``(N, *out, K, C)`` windows: the
    first maximum in row-major window order (``np.argmax`` returns the first)."""
    return np.argmax(window_values, axis=-2)


class _Pool:
    """Shared geometry of 1-D (``(N, T, C)``), 2-D (``(N, H, W, C)``) and 3-D
    (``(N, D, H, W, C)``) pooling: pool size, strides, padding (a scheme or explicit pairs),
    dilation and ceil mode, as :class:`~refdeconv.reference.windows.Geometry` takes them.

    A 1-D pool reads its input as ``(N, 1, T, C)`` (``H = 1``, a ``(1, k)`` window): its
    windows, :func:`~refdeconv.reference.windows.windows` of the lifted input with
    :attr:`geometry`, are then laid out as a 2-D pool's, which
    :mod:`refdeconv.conformance.maxima` relies on (``one_d`` tells it to lift).
    """

    def __init__(self, pool_size, strides, padding, dilation=None, ceil=False):
        self.one_d = len(pool_size) == 1
        if self.one_d:
            pool_size, strides = (1, *pool_size), (1, *strides)
            dilation = None if dilation is None else (1, *dilation)
            padding = padding if isinstance(padding, str) else ((0, 0), *padding)
        self.geometry = Geometry(tuple(pool_size), tuple(strides), padding, dilation, ceil)

    def _lift(self, x):
        return x[:, None] if self.one_d else x

    def _drop(self, y):
        return y[:, 0] if self.one_d else y


class MaxPool(_Pool):
    """Max-pooling; backward through the switches of :func:`switch_index`.

    Notes
    -----
    With ``s(n, p, c)`` the switch of the window at output position ``p``, the forward pass is
    ``y[n, p, c] = x[n, s, c]`` and the vector-Jacobian product is
    ``x*[n, q, c] = sum over windows p whose switch is q of u[n, p, c]``.
    Padding holds ``-inf`` and never wins.
    """

    def forward(self, x):
        """The maximum of each window (padding never wins)."""
        return self._drop(windows(self._lift(x), self.geometry, fill=-np.inf).max(axis=-2))

    def vjp(self, u, inputs, output, rule):
        """Unpooling: each window's ``u`` sent to its switch, overlaps accumulated."""
        x = self._lift(inputs[0])
        w = windows(x, self.geometry, fill=-np.inf)
        k = np.arange(w.shape[-2])[:, None]
        hits = k == switch_index(w)[..., None, :]
        g = windows_adjoint(hits * self._lift(u)[..., None, :], self.geometry, x.shape[1:-1])
        return (self._drop(g),)


class AvgPool(_Pool):
    """Average pooling; with ``"same"`` padding the divisor counts only real
    positions, as TensorFlow does. The adjoint spreads ``u / count`` evenly."""

    def _count(self, extent):
        ones = np.ones((1, *extent, 1))
        return windows(ones, self.geometry).sum(axis=-2)

    def forward(self, x):
        """The mean of each window's real (non-padding) positions."""
        x = self._lift(x)
        return self._drop(windows(x, self.geometry).sum(axis=-2) / self._count(x.shape[1:-1]))

    def vjp(self, u, inputs, output, rule):
        """``u / count`` spread over each window's positions, overlaps accumulated."""
        x = self._lift(inputs[0])
        share = self._lift(u) / self._count(x.shape[1:-1])
        k = len(self.geometry.offsets())
        spread = np.broadcast_to(share[..., None, :], (*share.shape[:-1], k, share.shape[-1]))
        return (self._drop(windows_adjoint(spread, self.geometry, x.shape[1:-1])),)


class GlobalAvgPool:
    """Mean over all spatial axes (every axis but batch and channels)."""

    def __init__(self, keepdims: bool):
        self.keepdims = keepdims

    def forward(self, x):
        """The mean over all spatial axes."""
        return x.mean(axis=tuple(range(1, x.ndim - 1)), keepdims=self.keepdims)

    def vjp(self, u, inputs, output, rule):
        """``u / (number of positions)`` broadcast to every position."""
        x = inputs[0]
        axes = tuple(range(1, x.ndim - 1))
        u = u if self.keepdims else np.expand_dims(u, axes)
        return (np.broadcast_to(u / np.prod([x.shape[a] for a in axes]), x.shape).copy(),)


class GlobalMaxPool:
    """Max over all spatial axes; ties share the signal equally (``tf.reduce_max``)."""

    def __init__(self, keepdims: bool):
        self.keepdims = keepdims

    def forward(self, x):
        """The maximum over all spatial axes."""
        return x.max(axis=tuple(range(1, x.ndim - 1)), keepdims=self.keepdims)

    def vjp(self, u, inputs, output, rule):
        """``u`` split equally among the tied maxima of each channel."""
        x = inputs[0]
        axes = tuple(range(1, x.ndim - 1))
        top = x == x.max(axis=axes, keepdims=True)
        u = u if self.keepdims else np.expand_dims(u, axes)
        return (top * u / top.sum(axis=axes, keepdims=True),)
