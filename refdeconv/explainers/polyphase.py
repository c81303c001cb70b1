"""The input-gradient of a strided convolution of few channels, as one stride-1 convolution.

A map's backward pass ends, at the input, with the vector-Jacobian product of the model's first
convolution: usually a strided one reading 1 to 4 channels (ResNet's and DenseNet's ``7 x 7``
stride-2 stem on RGB). TensorFlow computes it with ``Conv2DBackpropInput``, whose oneDNN kernel is
slow when the channels it produces are few: for that stem, at 64 x 64 and batch 32, it takes
17 ms, while the forward convolution takes 4 ms and the same product written as below 7 ms
(measured, TF 2.21, AVX-512). Once the frontier cache has taken away the backward pass above
ResNet50's max-pool, that one kernel is most of what is left. Inside a refdeconv trace, and for
such convolutions only, the product is therefore computed by :func:`input_gradient`; everywhere
else, and for every other convolution, TensorFlow's own gradient is used. The kernel is chosen by
the op's static shapes alone, so maps stay bitwise repeatable, from process to process too.

Wide inputs keep TensorFlow's kernel: with 64 or more channels ``Conv2DBackpropInput`` costs what
the forward convolution costs, and the decomposition below, which computes ``s1 s2`` output
channels per input channel, roughly twice that. Stride 1 gains nothing (measured: a convolution
producing 3 channels is as slow in the forward direction).

References
----------
.. [1] Vaidyanathan, P. P. "Multirate Systems and Filter Banks", Prentice Hall, 1993, ch. 4
   (polyphase decomposition of an interpolating filter).
.. [2] TensorFlow ``tf.raw_ops.Conv2DBackpropInput`` and ``tensorflow/python/ops/nn_grad.py``
   (``_Conv2DGrad``), whose input-gradient this replaces and whose filter-gradient it keeps.
"""

from __future__ import annotations

import threading

import tensorflow as tf

from .rules import current, op_attr, put_in_front

#: A strided ``Conv2D`` reading at most this many channels gets :func:`input_gradient`.
NARROW = 4

_LOCK = threading.Lock()
_HOOKED: dict = {}  # "Conv2D" -> TensorFlow's own gradient function


def padding(op) -> tuple | None:
    """``((top, bottom), (left, right))`` padding of a 2-D ``Conv2D`` op, or ``None`` when its
    input's spatial extent is not static.

    Notes
    -----
    ``"SAME"`` pads ``max((ceil(n / s) - 1) s + k - n, 0)`` in all, the smaller half before
    (TensorFlow's rule); ``"EXPLICIT"`` reads ``explicit_paddings``.
    """
    x, w = op.inputs[0], op.inputs[1]
    if x.shape.rank != 4 or not x.shape[1:3].is_fully_defined() or not w.shape.is_fully_defined():
        return None
    strides, mode = op_attr(op, "strides")[1:3], op_attr(op, "padding")
    if mode == "VALID":
        return (0, 0), (0, 0)
    if mode == "EXPLICIT":
        pads = op_attr(op, "explicit_paddings")
        return (pads[2], pads[3]), (pads[4], pads[5])
    pads = []
    for n, k, s in zip(x.shape[1:3], w.shape[:2], strides):
        total = max((-(-n // s) - 1) * s + k - n, 0)
        pads.append((total // 2, total - total // 2))
    return tuple(pads)


def eligible(op) -> bool:
    """Whether the ``Conv2D`` ``op``'s input-gradient is computed by :func:`input_gradient`.

    True for NHWC, undilated, ungrouped convolutions with a stride above 1, statically shaped
    spatial axes and at most :data:`NARROW` input channels.
    """
    try:
        x, w = op.inputs[0], op.inputs[1]
        strides, dilations = op_attr(op, "strides"), op_attr(op, "dilations")
        fmt = op_attr(op, "data_format")
    except (AttributeError, ValueError, IndexError, TypeError):  # tf.recompute_grad's mock op, say
        return False
    return (fmt == "NHWC" and list(dilations) == [1, 1, 1, 1] and max(strides[1:3]) > 1
            and padding(op) is not None and w.shape[2] == x.shape[3] and x.shape[3] <= NARROW)


def input_gradient(u, kernel, extent: tuple, strides: tuple, pads: tuple):
    """``A^T u`` for the convolution ``A`` of ``kernel`` (a ``Conv2D`` op's input-gradient).

    Parameters
    ----------
    u : tf.Tensor
        ``(B, P, Q, F)``: the upstream signal at the convolution's output.
    kernel : tf.Tensor
        ``(K1, K2, C, F)``, HWIO, same dtype as ``u``.
    extent : tuple of int
        ``(H, W)``: the convolution's input extent.
    strides : tuple of int
        ``(s1, s2)``.
    pads : tuple
        ``((top, bottom), (left, right))``, as :func:`padding` gives.

    Returns
    -------
    tf.Tensor
        ``(B, H, W, C)``, dtype of ``u``: equal to ``Conv2DBackpropInput`` up to the order of
        summation.

    Notes
    -----
    Along one axis (stride ``s``, kernel ``w`` of size ``K``, input ``x`` padded by ``t`` before)
    the convolution is ``y[o] = sum_k x[s o + k - t] w[k]``, so its adjoint is
    ``x*[i - t] = sum_{s o + k = i} u[o] w[k]``. Write ``i = s q + r`` with phase ``0 <= r < s``:
    only taps ``k = s m + r`` reach it, and ``x*[s q + r - t] = sum_m u[q - m] w[s m + r]``, a
    stride-1 convolution of ``u`` with the phase's taps, reversed, over ``M = ceil(K / s)`` of
    them (the missing ones zero). The ``s1 s2`` phases of all ``C`` channels are the output
    channels of one stride-1 convolution of ``u`` (padded by ``M - 1`` before), and interleaving
    them (a depth-to-space) gives the padded input's gradient, cropped to the input. It makes
    ``ceil(K1 / s1) ceil(K2 / s2) s1 s2 / (K1 K2)`` times the multiplications of the direct
    product (1.3 for the ``7 x 7`` stride-2 stem), in a kernel that produces ``s1 s2 C`` channels.
    Derived and checked in ``proofs/p12_polyphase_adjoint.py``.
    """
    (k1, k2, c, f), (s1, s2) = kernel.shape, strides
    (h, w), ((top, _), (left, _)) = extent, pads
    m1, m2 = -(-k1 // s1), -(-k2 // s2)
    q1, q2 = -(-(top + h) // s1), -(-(left + w) // s2)
    taps = tf.pad(kernel, [[0, m1 * s1 - k1], [0, m2 * s2 - k2], [0, 0], [0, 0]])
    taps = tf.reverse(tf.reshape(taps, [m1, s1, m2, s2, c, f]), [0, 2])  # [m1, r1, m2, r2, c, f]
    taps = tf.reshape(tf.transpose(taps, [0, 2, 5, 1, 3, 4]), [m1, m2, f, s1 * s2 * c])
    p, q = u.shape[1], u.shape[2]
    padded = tf.pad(u, [[0, 0], [m1 - 1, max(q1 - p, 0)], [m2 - 1, max(q2 - q, 0)], [0, 0]])
    phases = tf.nn.conv2d(padded, taps, 1, "VALID")[:, :q1, :q2]  # channels (r1, r2, c)
    batch = tf.shape(u)[0]
    grid = tf.transpose(tf.reshape(phases, [batch, q1, q2, s1, s2, c]), [0, 1, 3, 2, 4, 5])
    return tf.reshape(grid, [batch, q1 * s1, q2 * s2, c])[:, top:top + h, left:left + w]


def _gradient(op, u):
    own = _HOOKED["Conv2D"](op, u)
    if current() is None or not eligible(op):
        return own
    x, kernel = op.inputs[0], op.inputs[1]
    strides = tuple(op_attr(op, "strides")[1:3])
    return [input_gradient(u, kernel, tuple(x.shape[1:3]), strides, padding(op)), own[1]]


def install() -> None:
    """Put :func:`input_gradient` in front of TensorFlow's registered ``Conv2D`` gradient, for
    the eligible ops (:func:`eligible`) of refdeconv traces.

    Installed once per process, like the ReLU dispatch (:func:`refdeconv.explainers.rules.install_op_hooks`):
    outside a refdeconv trace, TensorFlow's own gradient, unchanged. The filter-gradient is always
    TensorFlow's own (maps never ask for it, and TensorFlow prunes it).
    """
    with _LOCK:
        if _HOOKED:
            return
        put_in_front(_HOOKED, {"Conv2D": lambda original: _gradient})

