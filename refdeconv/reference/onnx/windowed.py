"""ONNX windowed operations, channels first: ``Conv``, ``ConvTranspose``, ``MaxPool``,
``AveragePool``, the global pools and the reductions ``ReduceMean``, ``ReduceSum``, ``ReduceMax``.

Each is the reference's own channels-last operation (:class:`~refdeconv.reference.linear.Conv`,
:class:`~refdeconv.reference.pooling.MaxPool` with its switches...) run through
:class:`~refdeconv.reference.layout.ChannelsFirst`, with ONNX's geometry: explicit ``pads``
(``[x1_begin, x2_begin, ..., x1_end, x2_end, ...]``) or ``auto_pad`` (``SAME_UPPER`` is
TensorFlow's ``"same"``), ``dilations``, ``ceil_mode``. Kernels ``(O, C / group, *k)`` become the
reference's ``(*k, C / group, O)``: weights move once, at read time; values never.

``GlobalMaxPool`` sends a tied maximum's signal to the first maximum, as a max-pool's switches do
and as PyTorch's ``AdaptiveMaxPool(1)`` (which the TorchScript exporter writes as it) does; in a
graph written by tf2onnx (Keras's ``model.export``), whose producer says so, it splits the signal
equally among the tied maxima, as TensorFlow's ``reduce_max`` gradient does for Keras's
``GlobalMaxPooling``. ``ReduceMax`` (``torch.amax``, TensorFlow's ``reduce_max``) splits it.
"""

from __future__ import annotations

import numpy as np

from .. import linear, pooling
from ..layout import ChannelsFirst
from ..windows import Geometry

PADDINGS = {"VALID": "valid", "SAME_UPPER": "same", "SAME_LOWER": "same_lower"}


def _geometry_args(node, size: int):
    """``(strides, padding, dilation)`` of a windowed node with ``size`` spatial axes."""
    strides = tuple(node.attrs.get("strides", (1,) * size))
    dilation = tuple(node.attrs.get("dilations", (1,) * size))
    auto = node.attrs.get("auto_pad", "NOTSET")
    if auto in PADDINGS:
        return strides, PADDINGS[auto], dilation
    pads = list(node.attrs.get("pads", (0,) * 2 * size))
    return strides, tuple(zip(pads[:size], pads[size:])), dilation


def _windowed(node, op, geometry):
    """``[(ChannelsFirst(op), [0])]``, refused when a window is larger than the padded input (ONNX's
    output extent is then 0, where runtimes that truncate toward zero read one window anyway)."""
    spatial = node.traced(0).shape[2:]
    if 0 in geometry.plan(spatial)[0] and 0 not in spatial:
        raise node.refuse(f"a window of {geometry.size} (dilations {geometry.dilation}) larger than its padded "
                          f"input {spatial}: the output would be empty")
    return [(ChannelsFirst(op), [0])]


def _kernel(weights: np.ndarray) -> np.ndarray:
    """``(O, C_g, *k)`` -> ``(*k, C_g, O)``."""
    return np.moveaxis(np.asarray(weights, np.float64), (0, 1), (-1, -2))


def _conv(node):
    weights = node.constant(1)
    bias = node.constant(2)
    strides, padding, dilation = _geometry_args(node, weights.ndim - 2)
    conv = linear.Conv(_kernel(weights), None if bias is None else np.asarray(bias, np.float64), strides, padding,
                       dilation, groups=int(node.attrs.get("group", 1)))
    return _windowed(node, conv, conv.geometry)


class TransposedConv:
    """ONNX ``ConvTranspose`` of channels-last input: ``y = A^T x + b``, with ``A`` the convolution
    with the same kernel and pads from the output grid to the input grid.

    Notes
    -----
    Output extent per axis: ``s (n - 1) + output_padding + (k - 1) d + 1 - pads_begin - pads_end``
    (the ONNX specification); positions no window of ``A`` reads get the bias only. The
    vector-Jacobian product is ``A u``.
    """

    def __init__(self, conv: linear.Conv, bias, output_padding):
        self.conv, self.bias, self.output_padding = conv, bias, tuple(output_padding)

    def extent(self, spatial):
        """Output extent for the input extent ``spatial``."""
        g = self.conv.geometry
        return tuple(s * (n - 1) + p + (k - 1) * d + 1 - a - b
                     for n, k, s, d, p, (a, b) in zip(spatial, g.size, g.strides, g.dilation, self.output_padding,
                                                      g.padding))

    def forward(self, x):
        """``y = A^T x + b``."""
        y = self.conv.transpose(x, self.extent(x.shape[1:-1]))
        return y if self.bias is None else y + self.bias

    def vjp(self, u, inputs, output, rule):
        """``x* = A u``."""
        return (self.conv.forward(u),)


def _conv_transpose(node):
    weights = node.constant(1)
    size = weights.ndim - 2
    if "output_shape" in node.attrs or node.attrs.get("auto_pad", "NOTSET") not in ("NOTSET", "VALID"):
        raise node.refuse("output_shape or auto_pad SAME_*: give explicit pads and output_padding")
    strides, padding, dilation = _geometry_args(node, size)
    padding = ((0, 0),) * size if padding == "valid" else padding
    conv = linear.Conv(_kernel(weights), None, strides, padding, dilation, groups=int(node.attrs.get("group", 1)))
    bias = node.constant(2)
    op = TransposedConv(conv, None if bias is None else np.asarray(bias, np.float64),
                        node.attrs.get("output_padding", (0,) * size))
    return [(ChannelsFirst(op), [0])]


def _pool_args(node):
    size = tuple(node.attrs["kernel_shape"])
    strides, padding, dilation = _geometry_args(node, len(size))
    return size, strides, padding, dilation, bool(node.attrs.get("ceil_mode", 0))


def _max_pool(node):
    if len([o for o in node.proto.output if o]) > 1:
        raise node.refuse("its Indices output")
    size, strides, padding, dilation, ceil = _pool_args(node)
    op = pooling.MaxPool(size, strides, padding, dilation, ceil)
    return _windowed(node, op, Geometry(size, strides, padding, dilation, ceil))


class AveragePool(pooling.AvgPool):
    """ONNX ``AveragePool``: the divisor counts the window's input positions, and with
    ``count_include_pad`` its explicit padding too, never the positions a ceil-mode window reads
    past the padding (ONNX Runtime's and PyTorch's divisor).

    Notes
    -----
    A window is a box, so its count is the product over axes of the count along each axis.
    """

    def __init__(self, size, strides, padding, dilation, ceil, include_pad: bool):
        super().__init__(size, strides, padding, dilation, ceil)
        self.include_pad = include_pad

    def _count(self, extent):
        g = self.geometry
        out, pads = g.plan(extent)
        given = pads if isinstance(g.padding, str) else g.padding
        counts = []
        for n, o, k, s, d, (a, _), (ga, gb) in zip(extent, out, g.size, g.strides, g.dilation, pads, given):
            taps = np.arange(o)[:, None] * s - a + np.arange(k)[None, :] * d
            low, high = (-ga, n + gb) if self.include_pad else (0, n)
            counts.append(((taps >= low) & (taps < high)).sum(axis=1))
        total = counts[0]
        for c in counts[1:]:
            total = np.multiply.outer(total, c)
        return total.reshape(1, *out, 1).astype(np.float64)


def _average_pool(node):
    size, strides, padding, dilation, ceil = _pool_args(node)
    include = bool(node.attrs.get("count_include_pad", 0)) and not isinstance(padding, str)
    op = AveragePool(size, strides, padding, dilation, ceil, include)
    return _windowed(node, op, Geometry(size, strides, padding, dilation, ceil))


def _global_max(node):
    x = node.traced(0)
    if node.producer.startswith("tf2onnx"):  # TensorFlow's reduce_max: tied maxima share the signal
        return [(Reduce("max", tuple(range(2, x.ndim)), True), [0])]
    return [(ChannelsFirst(pooling.MaxPool(x.shape[2:], x.shape[2:], "valid")), [0])]


class Reduce:
    """``mean``, ``sum`` or ``max`` over ``axes`` (ties of ``max`` share the signal equally)."""

    def __init__(self, kind: str, axes: tuple, keepdims: bool):
        self.kind, self.axes, self.keepdims = kind, axes, keepdims

    def forward(self, x):
        """The reduction of ``x`` over :attr:`axes`."""
        return getattr(np, self.kind)(x, axis=self.axes, keepdims=self.keepdims)

    def vjp(self, u, inputs, output, rule):
        """``u`` spread back: evenly (mean), whole (sum), or to the tied maxima in equal shares (max)."""
        x = inputs[0]
        u = u if self.keepdims else np.expand_dims(u, self.axes)
        if self.kind == "sum":
            return (np.broadcast_to(u, x.shape).copy(),)
        if self.kind == "mean":
            return (np.broadcast_to(u / np.prod([x.shape[a] for a in self.axes]), x.shape).copy(),)
        top = x == x.max(axis=self.axes, keepdims=True)
        return (top * u / top.sum(axis=self.axes, keepdims=True),)


def _reduce(kind):
    def translate(node):
        rank = node.rank()
        axes = node.ints("axes", 1)
        if not axes:
            if node.attrs.get("noop_with_empty_axes", 0):
                return [(linear.Affine(1.0, 0.0), [0])]
            raise node.refuse("a reduction over every axis, the batch axis included")
        axes = tuple(sorted(node.axis(int(a), rank) for a in axes))
        return [(Reduce(kind, axes, bool(node.attrs.get("keepdims", 1))), [0])]

    return translate


#: Op type -> translation (see :mod:`refdeconv.reference.onnx.nodes`).
TRANSLATIONS = {
    "Conv": _conv,
    "ConvTranspose": _conv_transpose,
    "MaxPool": _max_pool,
    "AveragePool": _average_pool,
    "GlobalAveragePool": lambda node: [(ChannelsFirst(pooling.GlobalAvgPool(keepdims=True)), [0])],
    "GlobalMaxPool": _global_max,
    "ReduceMean": _reduce("mean"),
    "ReduceSum": _reduce("sum"),
    "ReduceMax": _reduce("max"),
}
