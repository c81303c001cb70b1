"""The loop specification of the windowed operations: convolution, max- and
average-pooling, forward and vector-Jacobian product.

This module is the spec that the vectorised reference
(:mod:`refdeconv.reference.windows`, ``linear.Conv``, ``pooling.MaxPool``,
``pooling.AvgPool``) is tested against in ``tests/reference/test_ops.py``. It is written
for reading, not speed: plain Python loops over output positions, one window
at a time, the padding worked out from TensorFlow's rule and nothing shared
with the reference. Inputs are tiny, so slow is fine.

Conventions are TensorFlow's: NHWC inputs, HWIO kernels, cross-correlation,
``"valid"``/``"same"`` padding with ``floor(total / 2)`` of the padding before
the data. A 1-D operation is the 2-D one with ``H = 1``.
"""

from __future__ import annotations

import numpy as np


def _plan(n, k, s, d, padding):
    """Output extent and padding before the data along one axis.

    Parameters
    ----------
    n, k, s, d : int
        Input extent, window size, stride, dilation.
    padding : {"valid", "same"}
        TensorFlow's padding scheme.

    Returns
    -------
    out, before : int
        ``valid``: ``out = floor((n - e) / s) + 1`` (0 when the effective
        window ``e = (k - 1) d + 1`` exceeds ``n``), no padding.
        ``same``: ``out = ceil(n / s)``; total padding
        ``max((out - 1) s + e - n, 0)``, of which ``floor(total / 2)`` before.
    """
    e = (k - 1) * d + 1
    if padding == "valid":
        return ((n - e) // s + 1 if n >= e else 0), 0
    if padding != "same":
        raise ValueError(f"padding: expected 'valid' or 'same', got {padding!r}")
    out = -(-n // s)
    total = max((out - 1) * s + e - n, 0)
    return out, total // 2


def _taps(x_shape, size, strides, padding, dilation=(1, 1)):
    """Yield ``(oh, ow, taps)`` for every output position, where ``taps`` lists
    ``((i, j), (h, w))``, window offset and input position, of the window's
    *real* input positions in row-major window order (taps on padding are
    left out)."""
    (_, H, W, _), (kh, kw), (sh, sw), (dh, dw) = x_shape, size, strides, dilation
    ho, top = _plan(H, kh, sh, dh, padding)
    wo, left = _plan(W, kw, sw, dw, padding)
    for oh in range(ho):
        for ow in range(wo):
            taps = []
            for i in range(kh):
                for j in range(kw):
                    h, w = oh * sh - top + i * dh, ow * sw - left + j * dw
                    if 0 <= h < H and 0 <= w < W:
                        taps.append(((i, j), (h, w)))
            yield oh, ow, taps


def output_shape(x_shape, size, strides, padding, dilation=(1, 1), channels=None):
    """Shape ``(N, Ho, Wo, channels)`` of a 2-D window operation's output on
    ``(N, H, W, C)`` input (``channels=None`` keeps ``C``)."""
    (n, H, W, c) = x_shape
    channels = c if channels is None else channels
    ho, _ = _plan(H, size[0], strides[0], dilation[0], padding)
    wo, _ = _plan(W, size[1], strides[1], dilation[1], padding)
    return (n, ho, wo, channels)


def conv2d_naive(x, kernel, bias, strides, padding, dilation=(1, 1)):
    """2-D cross-correlation, as ``tf.nn.conv2d``.

    Parameters
    ----------
    x : ndarray, ``(N, H, W, C)``
    kernel : ndarray, ``(kh, kw, C, O)`` (HWIO)
    bias : ndarray ``(O,)`` or None
    strides, dilation : tuple of int ``(sh, sw)``, ``(dh, dw)``
    padding : {"valid", "same"}

    Returns
    -------
    ndarray, ``(N, Ho, Wo, O)``
        ``y[n, oh, ow, o] = sum over taps (i, j) and c of x[n, h, w, c] kernel[i, j, c, o] + bias[o]``
        with ``(h, w) = (oh sh - top + i dh, ow sw - left + j dw)``; taps on
        padding contribute zero.
    """
    kh, kw, C, O = kernel.shape
    y = np.zeros(output_shape(x.shape, (kh, kw), strides, padding, dilation, O))
    for n in range(x.shape[0]):
        for oh, ow, taps in _taps(x.shape, (kh, kw), strides, padding, dilation):
            for o in range(O):
                total = 0.0 if bias is None else float(bias[o])
                for (i, j), (h, w) in taps:
                    for c in range(C):
                        total += x[n, h, w, c] * kernel[i, j, c, o]
                y[n, oh, ow, o] = total
    return y


def conv2d_vjp_naive(x_shape, kernel, u, strides, padding, dilation=(1, 1)):
    """Vector-Jacobian product of :func:`conv2d_naive` (bias aside): scatter every
    output's ``u`` back through its window with the transposed filters.

    Parameters
    ----------
    x_shape : tuple, ``(N, H, W, C)``
    kernel : ndarray, ``(kh, kw, C, O)``
    u : ndarray, ``(N, Ho, Wo, O)``
    strides, padding, dilation : as :func:`conv2d_naive`

    Returns
    -------
    ndarray, ``x_shape``
        ``g[n, h, w, c] = sum over outputs (oh, ow, o) whose window reads
        (h, w) at tap (i, j) of u[n, oh, ow, o] kernel[i, j, c, o]``.
    """
    kh, kw, C, O = kernel.shape
    g = np.zeros(x_shape)
    for n in range(x_shape[0]):
        for oh, ow, taps in _taps(x_shape, (kh, kw), strides, padding, dilation):
            for (i, j), (h, w) in taps:
                for c in range(C):
                    for o in range(O):
                        g[n, h, w, c] += u[n, oh, ow, o] * kernel[i, j, c, o]
    return g


def maxpool2d_naive(x, pool, strides, padding, u=None):
    """Max-pooling and its vector-Jacobian product, as ``tf.nn.max_pool2d`` on CPU.

    Parameters
    ----------
    x : ndarray, ``(N, H, W, C)``
    pool, strides : tuple of int
    padding : {"valid", "same"}
    u : ndarray ``(N, Ho, Wo, C)`` or None
        Upstream signal; ``None`` means all ones.

    Returns
    -------
    y : ndarray, ``(N, Ho, Wo, C)``
        Maximum over each window's real positions (padding never wins).
    g : ndarray, ``(N, H, W, C)``
        Each window's ``u`` sent to the window's *first* maximum in row-major
        window order (the switch); overlapping windows accumulate.
    """
    shape = output_shape(x.shape, pool, strides, padding, (1, 1), x.shape[3])
    u = np.ones(shape) if u is None else u
    y, g = np.zeros(shape), np.zeros(x.shape)
    for n in range(x.shape[0]):
        for oh, ow, taps in _taps(x.shape, pool, strides, padding):
            assert taps, "TensorFlow's padding never leaves a window without real positions"
            for c in range(x.shape[3]):
                switch = taps[0][1]
                for _, (h, w) in taps[1:]:
                    if x[n, h, w, c] > x[n, switch[0], switch[1], c]:  # strict: the first maximum stays
                        switch = (h, w)
                y[n, oh, ow, c] = x[n, switch[0], switch[1], c]
                g[n, switch[0], switch[1], c] += u[n, oh, ow, c]
    return y, g


def avgpool2d_naive(x, pool, strides, padding, u=None):
    """Average pooling and its vector-Jacobian product, as ``tf.nn.avg_pool2d``.

    Parameters
    ----------
    x : ndarray, ``(N, H, W, C)``
    pool, strides : tuple of int
    padding : {"valid", "same"}
    u : ndarray ``(N, Ho, Wo, C)`` or None
        Upstream signal; ``None`` means all ones.

    Returns
    -------
    y : ndarray, ``(N, Ho, Wo, C)``
        Mean over each window's real positions: with ``"same"`` the divisor
        is the count of non-padded positions, not the window size.
    g : ndarray, ``(N, H, W, C)``
        ``u / count`` added to every real position of the window.
    """
    shape = output_shape(x.shape, pool, strides, padding, (1, 1), x.shape[3])
    u = np.ones(shape) if u is None else u
    y, g = np.zeros(shape), np.zeros(x.shape)
    for n in range(x.shape[0]):
        for oh, ow, taps in _taps(x.shape, pool, strides, padding):
            for c in range(x.shape[3]):
                y[n, oh, ow, c] = sum(x[n, h, w, c] for _, (h, w) in taps) / len(taps)
                for _, (h, w) in taps:
                    g[n, h, w, c] += u[n, oh, ow, c] / len(taps)
    return y, g
