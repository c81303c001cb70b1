"""Max-pool switches that belong to refdeconv: unpooling with one tie rule, whatever kernel runs.

Zeiler & Fergus's unpooling sends each window's backward signal to the window's maximum, its
*switch*. When several positions tie for the maximum, TensorFlow's kernels disagree: on CPU the
2-D ``MaxPoolGrad`` sends the signal to the first of them in row-major window order, but
``MaxPool3DGrad`` (oneDNN off, and on this project's machines with oneDNN on too) sends it to
*every* tied maximum (measured, TF 2.21), and GPU kernels are free to differ again. Ties are
common: after a ReLU, an all-zero window is a tie. The gradient and guided rules multiply the
signal there by the ReLU's zero mask, so they do not feel it; DeconvNet ignores the forward sign
and does (a map off by 0.73 of its scale on a small video net, measured by a new-user try).

Inside a refdeconv trace, the gradients of ``MaxPool``, ``MaxPoolV2``, ``MaxPool3D`` and
``MaxPoolWithArgmax`` are therefore computed by :func:`unpool`, from the pool's input and output
alone, with refdeconv's rule (the first maximum in row-major window order; overlapping windows
accumulate), for every rule, rank, padding, stride and data format. Elsewhere (the user's own
gradients, other threads) TensorFlow's own gradient runs, unchanged. Global max-pooling is
``reduce_max``, whose gradient TensorFlow writes from element-wise ops (the signal split equally
among tied maxima, for every kernel): it is left as it is, and the reference follows it.

References
----------
.. [1] Zeiler, M. D. & Fergus, R. "Visualizing and Understanding Convolutional Networks",
   ECCV 2014, arXiv:1311.2901, section 2.1 (unpooling, switches).
.. [2] TensorFlow ``tensorflow/python/ops/nn_grad.py`` (``_MaxPoolGrad``, ``_MaxPool3DGrad``),
   whose input-gradients these replace inside refdeconv traces.
"""

from __future__ import annotations

import itertools
import math
import threading

import tensorflow as tf

from .rules import current, op_attr, put_in_front

#: Op types whose gradient :func:`unpool` computes inside refdeconv traces.
POOL_OPS = ("MaxPool", "MaxPoolV2", "MaxPool3D", "MaxPoolWithArgmax")

_LOCK = threading.Lock()
_HOOKED: dict = {}  # op type -> TensorFlow's own gradient function


def unpool(x, y, u, pool_size, strides, before, checked: bool = False):
    """``A^T u`` for the max-pool ``y = maxpool(x)``: each window's ``u`` sent to its switch.

    Parameters
    ----------
    x : tf.Tensor
        ``(N, *spatial, C)``: the pool's input, channels last, 1 to 3 spatial axes of static extent.
    y, u : tf.Tensor
        ``(N, *pooled, C)``: the pool's output and the upstream signal, dtype of ``x``.
    pool_size, strides : tuple of int
        One per spatial axis.
    before : tuple of int
        The padding before the data on each spatial axis, as the op's kernel computes it
        (:func:`padding_before`); negative where the kernel skips leading positions.
    checked : bool
        Also return whether every window of this geometry holds its pooled value.

    Returns
    -------
    tf.Tensor, or (tf.Tensor, tf.Tensor)
        Of ``x``'s shape and dtype; with ``checked``, and a scalar boolean: the geometry is the
        forward pass's.

    Notes
    -----
    Along one axis, window ``o`` covers the padded positions ``s o + k``, ``0 <= k < K``. Write
    ``k = s a + r`` with phase ``0 <= r < s``: the position is ``s (o + a) + r``, that is element
    ``o + a`` of phase ``r`` of the padded input reshaped to ``(Q, s)``. So offset ``k`` reads a
    plain slice ``[a, a + O)`` of one phase, and its contribution to the backward signal is that
    slice's adjoint, a zero padding. Offsets are visited in row-major order; an offset takes the
    signal of the windows where it equals the maximum and no earlier offset did (the switch).
    The phases are interleaved back and cropped to the input. Padding holds ``-inf`` and never
    wins. Every value is a copy of one ``u`` or a sum of them (overlapping windows).
    """
    d = len(pool_size)
    skipped = [max(-b, 0) for b in before]  # leading positions no window reads
    x = x[(slice(None), *[slice(c, None) for c in skipped])]
    pads, shapes = [], []
    for i, k, s, b in zip(range(1, d + 1), pool_size, strides, before):
        n, o, b = x.shape[i], y.shape[i], max(b, 0)
        q = -(-max((o - 1) * s + k, b + n) // s)  # phase length: every window, and the input
        pads.append((b, q * s - b - n))
        shapes.append((n, o, q))
    lowest = tf.constant(-math.inf if x.dtype.is_floating else x.dtype.min, x.dtype)
    padded = tf.pad(x, [[0, 0], *[[b, a] for b, a in pads], [0, 0]], constant_values=lowest)
    batch, channels = tf.shape(x)[0], x.shape[d + 1]
    split = [batch]
    for (_, _, q), s in zip(shapes, strides):
        split += [q, s]
    order = [2 + 2 * j for j in range(d)] + [0] + [1 + 2 * j for j in range(d)] + [2 * d + 1]
    phases = tf.transpose(tf.reshape(padded, [*split, channels]), order)  # (s..., N, Q..., C)
    phases = tf.reshape(phases, [math.prod(strides), batch, *[q for _, _, q in shapes], channels])
    offsets = list(itertools.product(*[range(k) for k in pool_size]))
    stacked, remaining = _unpooled_phases(phases, y, u, offsets, strides, shapes)
    grid = tf.reshape(stacked, [*strides, batch, *[q for _, _, q in shapes], channels])
    inverse = [order.index(j) for j in range(len(order))]
    grid = tf.reshape(tf.transpose(grid, inverse), [batch, *[q * s for (_, _, q), s in zip(shapes, strides)], channels])
    grid = grid[(slice(None), *[slice(b, b + n) for (b, _), (n, _, _) in zip(pads, shapes)])]
    grid = tf.pad(grid, [[0, 0], *[[c, 0] for c in skipped], [0, 0]]) if any(skipped) else grid
    return (grid, tf.logical_not(tf.reduce_any(remaining))) if checked else grid


def _phase(offset, strides) -> int:
    """The flat index of the phase that window offset ``offset`` reads (row-major over the axes)."""
    phase = 0
    for k, s in zip(offset, strides):
        phase = phase * s + k % s
    return phase


def _unpooled_phases(phases, y, u, offsets, strides, shapes):
    """Unpooling offset by offset in row-major order: an offset takes the signal of the windows
    where it holds the maximum and no earlier offset did; overlapping windows accumulate.
    (Comparing all offsets at once, with an exclusive cumulative sum for the first maximum, was
    measured 4x slower for 2 x 2 pools: 25-35 ms against 6.6 ms a batch, TensorFlow's kernel 9.3 ms.)

    Returns ``(phases of the signal, windows with no switch)``.
    """
    sums, remaining = {}, None
    for offset in offsets:
        starts = [k // s for k, s in zip(offset, strides)]
        phase = _phase(offset, strides)
        window = phases[phase][(slice(None), *[slice(a, a + o) for a, (_, o, _) in zip(starts, shapes)])]
        hit = tf.equal(window, y)
        taken = hit if remaining is None else tf.logical_and(hit, remaining)
        remaining = tf.logical_not(hit) if remaining is None else tf.logical_and(remaining, tf.logical_not(hit))
        part = tf.pad(tf.where(taken, u, tf.zeros_like(u)),
                      [[0, 0], *[[a, q - o - a] for a, (_, o, q) in zip(starts, shapes)], [0, 0]])
        sums[phase] = part if phase not in sums else sums[phase] + part
    zeros = tf.zeros_like(phases[0]) if len(sums) < phases.shape[0] else None
    return tf.stack([sums.get(phase, zeros) for phase in range(phases.shape[0])]), remaining


def padding_before(extent: int, pooled: int, size: int, stride: int, padding: str, clamped: bool = True) -> int:
    """The padding before the data on one axis of a max-pool, as TensorFlow's kernels apply it.

    Notes
    -----
    With ``"SAME"``, the total padding is ``t = (O - 1) s + K - N``. The 2-D kernels clamp it at
    0 and put ``floor(t / 2)`` before the data (``clamped``). Eigen's 3-D kernel (oneDNN off)
    does not clamp and divides in C++ (towards zero), so a stride above the window skips leading
    positions: ``max_pool3d`` of ``[0, ..., 5]`` with window 1, stride 3, ``"SAME"`` is ``[1, 4]``,
    while oneDNN's 3-D kernel and every 2-D kernel give ``[0, 3]`` (measured, TF 2.21). The two
    differ only where ``t <= -2``.
    """
    if padding == "VALID":
        return 0
    total = (pooled - 1) * stride + size - extent
    return max(total, 0) // 2 if clamped else int(total / 2)


def _geometry(op, x, y):
    """``(pool_size, strides, befores, padding)`` of a channels-last max-pool op, spatial axes only:
    the paddings before the data that one kernel or another applies (:func:`padding_before`), the
    clamped one first.

    Raises
    ------
    ValueError
        A window or strides (``MaxPoolV2``) or spatial extents known only at run time:
        refdeconv's switches need them when the backward pass is built.
    """
    if op.type == "MaxPoolV2":
        ksize, strides = tf.get_static_value(op.inputs[1]), tf.get_static_value(op.inputs[2])
    else:
        ksize, strides = op_attr(op, "ksize"), op_attr(op, "strides")
    spatial = x.shape[1:-1]
    if ksize is None or strides is None or not spatial.is_fully_defined() or not y.shape[1:-1].is_fully_defined():
        raise ValueError(f"model: the max-pool {op.name!r} has a window, strides or extents known only at run "
                         "time; refdeconv's switches need them when the backward pass is built")
    first = _format(op).startswith("NC")
    keep = slice(2, None) if first else slice(1, -1)
    pool_size, strides = tuple(int(k) for k in ksize[keep]), tuple(int(s) for s in strides[keep])
    padding = op_attr(op, "padding")
    axes = list(zip(spatial, y.shape[1:-1], pool_size, strides))
    befores = [tuple(padding_before(*axis, padding, clamped) for axis in axes) for clamped in (True, False)]
    return pool_size, strides, sorted(set(befores), key=befores.index), padding


def _format(op) -> str:
    return "NHWC" if op.type == "MaxPoolWithArgmax" else op_attr(op, "data_format")


def _unpooled(x, y, u, pool_size, strides, befores, padding):
    """:func:`unpool` under the geometry of the kernel that runs: where kernels differ (3-D, a
    stride above the window, ``"SAME"``), the one whose windows hold the pooled values of a probe
    of distinct values (no ties: one geometry fits), pooled by the same kernel in the same graph
    at run time."""
    if len(befores) == 1:
        return unpool(x, y, u, pool_size, strides, befores[0])
    spatial = x.shape[1:-1]
    probe = tf.reshape(tf.range(spatial.num_elements(), dtype=x.dtype), [1, *spatial, 1])
    # A placeholder, not a constant: TensorFlow would fold a constant's pooling at optimisation
    # time with its default kernel, not with the one the graph runs (measured: oneDNN's, 3-D).
    probe = tf.compat.v1.placeholder_with_default(probe, probe.shape)
    pooled = tf.nn.max_pool(probe, pool_size, strides, padding)
    _, fits = unpool(probe, pooled, pooled, pool_size, strides, befores[0], checked=True)
    return tf.where(fits, unpool(x, y, u, pool_size, strides, befores[0]),
                    unpool(x, y, u, pool_size, strides, befores[1]))


def _gradient(op, *grads):
    if current() is None or not hasattr(op, "get_attr"):  # tf.recompute_grad passes a mock op
        return _HOOKED[op.type](op, *grads)
    x, y, u = op.inputs[0], op.outputs[0], grads[0]
    first = _format(op).startswith("NC")
    if first:  # channels last inside: a transpose of refdeconv's own tensors, not of the user's data
        last = [0, *range(2, x.shape.rank), 1]
        x, y, u = (tf.transpose(t, last) for t in (x, y, u))
    # One function call op, inlined by TensorFlow when it runs: the frontier's cost proxy
    # (elements produced, :mod:`.frontier`) then counts the unpooling as one pass over the input,
    # as it counted TensorFlow's own gradient op, not as its few dozen element-wise steps.
    unpooling = tf.function(lambda x, y, u: _unpooled(x, y, u, *_geometry(op, x, y)), autograph=False)
    signal = unpooling.get_concrete_function(*[tf.TensorSpec(t.shape, t.dtype) for t in (x, y, u)])(x, y, u)
    if first:
        signal = tf.transpose(signal, [0, x.shape.rank - 1, *range(1, x.shape.rank - 1)])
    return [signal] + [None] * (len(op.inputs) - 1)  # MaxPoolV2's window and strides: constants


def install() -> None:
    """Put :func:`unpool` in front of TensorFlow's registered max-pool gradients, inside
    refdeconv traces.

    Installed once per process, like the ReLU dispatch
    (:func:`refdeconv.explainers.rules.install_op_hooks`): outside a refdeconv trace, TensorFlow's
    own gradient, unchanged. The gradients of ``MaxPoolV2``'s window and strides inputs are
    TensorFlow's own (``None``).
    """
    with _LOCK:
        if _HOOKED:
            return
        put_in_front(_HOOKED, dict.fromkeys(POOL_OPS, lambda original: _gradient))
