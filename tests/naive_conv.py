"""The loop specification of the convolution variants: grouped, causal, depthwise, separable and
transposed convolutions, forward and vector-Jacobian product.

The spec that :mod:`refdeconv.reference.convolutions` and the grouped/causal
``linear.Conv`` are tested against in ``tests/reference/test_convolutions.py``. Plain Python
loops, one output (or, for the transposed convolution, one input) position at a time, written
from the definitions in TensorFlow's and Keras's documentation; they share nothing with the
reference except the window enumeration of :mod:`tests.naive` (itself a spec). A 1-D operation
is the 2-D one with ``H = 1``.
"""

from __future__ import annotations

import numpy as np

from tests.naive import _taps, conv2d_naive, output_shape


def grouped_conv2d_naive(x, kernel, bias, strides, padding, dilation, groups, u=None):
    """Grouped 2-D cross-correlation and its vector-Jacobian product.

    Parameters
    ----------
    x : ndarray ``(N, H, W, C)``
    kernel : ndarray ``(kh, kw, C / groups, O)``
    bias : ndarray ``(O,)`` or None
    strides, dilation : tuple of int
    padding : {"valid", "same"}
    groups : int
    u : ndarray ``(N, Ho, Wo, O)`` or None (all ones)

    Returns
    -------
    y : ndarray ``(N, Ho, Wo, O)``
        ``y[n, oh, ow, o] = sum over taps (i, j) and c < C / groups of
        x[n, h, w, g Cg + c] kernel[i, j, c, o] + bias[o]``, ``g = o // (O / groups)``.
    g : ndarray ``(N, H, W, C)``
        Every output's ``u`` scattered back through the same taps and channels.
    """
    kh, kw, cg, o_total = kernel.shape
    og = o_total // groups
    shape = output_shape(x.shape, (kh, kw), strides, padding, dilation, o_total)
    u = np.ones(shape) if u is None else u
    y, grad = np.zeros(shape), np.zeros(x.shape)
    for n in range(x.shape[0]):
        for oh, ow, taps in _taps(x.shape, (kh, kw), strides, padding, dilation):
            for o in range(o_total):
                first = (o // og) * cg  # the group's first input channel
                total = 0.0 if bias is None else float(bias[o])
                for (i, j), (h, w) in taps:
                    for c in range(cg):
                        total += x[n, h, w, first + c] * kernel[i, j, c, o]
                        grad[n, h, w, first + c] += u[n, oh, ow, o] * kernel[i, j, c, o]
                y[n, oh, ow, o] = total
    return y, grad


def causal_conv1d_naive(x, kernel, bias, stride, dilation, u=None):
    """Keras ``Conv1D(padding="causal")`` on ``(N, W, C)``: output ``t`` is
    ``sum_{j, c} x[t s - (k - 1 - j) d, c] kernel[j, c, o] + bias[o]``, taps before the start
    reading zero; ``ceil(W / s)`` outputs. Returns ``(y, vjp)`` as :func:`grouped_conv2d_naive`."""
    k, channels, filters = kernel.shape
    n, width, _ = x.shape
    out = -(-width // stride)
    u = np.ones((n, out, filters)) if u is None else u
    y, grad = np.zeros((n, out, filters)), np.zeros(x.shape)
    for b in range(n):
        for t in range(out):
            for f in range(filters):
                total = 0.0 if bias is None else float(bias[f])
                for j in range(k):
                    pos = t * stride - (k - 1 - j) * dilation
                    if pos < 0:
                        continue
                    for c in range(channels):
                        total += x[b, pos, c] * kernel[j, c, f]
                        grad[b, pos, c] += u[b, t, f] * kernel[j, c, f]
                y[b, t, f] = total
    return y, grad


def depthwise_conv2d_naive(x, kernel, bias, strides, padding, dilation, u=None):
    """``tf.nn.depthwise_conv2d``: ``y[n, oh, ow, c M + m] = sum over taps of x[n, h, w, c]
    kernel[i, j, c, m] + bias[c M + m]`` for a ``(kh, kw, C, M)`` kernel. Returns ``(y, vjp)``."""
    kh, kw, channels, mult = kernel.shape
    shape = output_shape(x.shape, (kh, kw), strides, padding, dilation, channels * mult)
    u = np.ones(shape) if u is None else u
    y, grad = np.zeros(shape), np.zeros(x.shape)
    for n in range(x.shape[0]):
        for oh, ow, taps in _taps(x.shape, (kh, kw), strides, padding, dilation):
            for c in range(channels):
                for m in range(mult):
                    total = 0.0 if bias is None else float(bias[c * mult + m])
                    for (i, j), (h, w) in taps:
                        total += x[n, h, w, c] * kernel[i, j, c, m]
                        grad[n, h, w, c] += u[n, oh, ow, c * mult + m] * kernel[i, j, c, m]
                    y[n, oh, ow, c * mult + m] = total
    return y, grad


def separable_conv2d_naive(x, depthwise_kernel, pointwise_kernel, bias, strides, padding, dilation, u=None):
    """Depthwise (no bias), then ``y[..., o] = sum_k d[..., k] pointwise[0, 0, k, o] + bias[o]``.
    Returns ``(y, vjp)``."""
    d, _ = depthwise_conv2d_naive(x, depthwise_kernel, None, strides, padding, dilation)
    y = conv2d_naive(d, pointwise_kernel, bias, (1, 1), "valid")
    u = np.ones(y.shape) if u is None else u
    ud = np.zeros(d.shape)  # the pointwise vjp, by loops
    for idx in np.ndindex(*d.shape[:3]):
        for k in range(d.shape[3]):
            ud[idx + (k,)] = sum(u[idx + (o,)] * pointwise_kernel[0, 0, k, o] for o in range(y.shape[3]))
    return y, depthwise_conv2d_naive(x, depthwise_kernel, None, strides, padding, dilation, ud)[1]


def _transpose_pad(n, k, s, out, padding):
    """Padding before the data of the convolution that maps ``out`` positions to ``n``: TF's
    rule for that convolution (``"same"``: ``floor(total / 2)``, ``total = max((n - 1) s + k
    - out, 0)``)."""
    return 0 if padding == "valid" else max((n - 1) * s + k - out, 0) // 2


def conv2d_transpose_naive(x, kernel, bias, strides, padding, out_extent, u=None):
    """``tf.nn.conv_transpose`` (no dilation) and its vector-Jacobian product.

    Parameters
    ----------
    x : ndarray ``(N, H, W, C)``
    kernel : ndarray ``(kh, kw, F, C)`` (Keras's transposed layout)
    bias : ndarray ``(F,)`` or None
    strides : tuple of int
    padding : {"valid", "same"}
    out_extent : tuple of int ``(Ho, Wo)``
    u : ndarray ``(N, Ho, Wo, F)`` or None (all ones)

    Returns
    -------
    y : ndarray ``(N, Ho, Wo, F)``
        Every input pixel ``(h, w)`` adds ``x[n, h, w, c] kernel[i, j, f, c]`` at output
        ``(h sh - top + i, w sw - left + j)`` (dropped outside the output), plus the bias.
    g : ndarray ``(N, H, W, C)``
        ``g[n, h, w, c] = sum over (i, j, f) of u[n, h sh - top + i, w sw - left + j, f]
        kernel[i, j, f, c]`` over the positions inside the output.
    """
    kh, kw, filters, channels = kernel.shape
    (ho, wo), (sh, sw) = out_extent, strides
    top = _transpose_pad(x.shape[1], kh, sh, ho, padding)
    left = _transpose_pad(x.shape[2], kw, sw, wo, padding)
    y = np.zeros((x.shape[0], ho, wo, filters)) + (0.0 if bias is None else bias)
    u = np.ones(y.shape) if u is None else u
    grad = np.zeros(x.shape)
    for n in range(x.shape[0]):
        for h in range(x.shape[1]):
            for w in range(x.shape[2]):
                for i in range(kh):
                    for j in range(kw):
                        a, b = h * sh - top + i, w * sw - left + j
                        if not (0 <= a < ho and 0 <= b < wo):
                            continue
                        for f in range(filters):
                            for c in range(channels):
                                y[n, a, b, f] += x[n, h, w, c] * kernel[i, j, f, c]
                                grad[n, h, w, c] += u[n, a, b, f] * kernel[i, j, f, c]
    return y, grad
