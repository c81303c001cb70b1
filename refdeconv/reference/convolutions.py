"""Convolution variants: depthwise, separable and transposed convolutions, as Keras 3 computes them.

Every variant is one or two :class:`~refdeconv.reference.linear.Conv` operations (grouped,
windowed cross-correlations), so their vector-Jacobian products are the adjoints of those:

- ``DepthwiseConv1D/2D`` is the grouped convolution with one group per input channel and
  ``depth_multiplier`` filters per group: output channel ``c M + m`` reads input channel ``c``
  (``tf.nn.depthwise_conv2d``'s order);
- ``SeparableConv1D/2D`` is that depthwise convolution (no bias) followed by a ``1 x 1``
  pointwise convolution carrying the bias (``tf.nn.separable_conv2d``);
- ``Conv1DTranspose/2DTranspose/3DTranspose`` is :class:`ConvTranspose`: the forward pass of a transposed
  convolution is the adjoint of the convolution whose kernel it holds, and its adjoint is that
  convolution (``tf.nn.conv_transpose`` is ``conv2d_backprop_input``).

``Conv1D/2D/3D`` (grouped or not) and ``Conv1D`` with ``padding="causal"`` are ``linear.Conv`` itself
(translated in :mod:`~refdeconv.reference.layers`).
"""

from __future__ import annotations

import keras

from .linear import Conv
from .reading import activation_ops, channels_last, padding, unsupported, weight

L = keras.layers


def transpose_extent(n: int, k: int, stride: int, dilation: int, pad: str, output_padding: int | None) -> int:
    """Output extent of a transposed convolution along one axis, as Keras 3 computes it.

    Parameters
    ----------
    n, k, stride, dilation : int
        Input extent, kernel size, stride, dilation.
    pad : {"valid", "same"}
    output_padding : int or None

    Returns
    -------
    int
        With the effective kernel ``e = (k - 1) dilation + 1``: ``"valid"`` gives
        ``(n - 1) s + e + p`` where ``p = output_padding``, or ``max(e, s) - e`` when it is
        ``None``; ``"same"`` gives ``n s`` when ``output_padding`` is ``None``, else
        ``(n - 1) s + (e mod 2) + p``
        (``keras.src.backend.common.backend_utils._get_output_shape_given_tf_padding``).
    """
    e = (k - 1) * dilation + 1
    if pad == "valid":
        return (n - 1) * stride + e + (max(e, stride) - e if output_padding is None else output_padding)
    return n * stride if output_padding is None else (n - 1) * stride + e % 2 + output_padding


class ConvTranspose:
    """Transposed convolution of channels-last input (NWC, NHWC, NDHWC): ``y = A^T x + b``
    where ``A`` is the convolution with the layer's ``(*size, filters, C)`` kernel, from
    ``filters`` channels on the output grid to the input's ``C`` channels.

    Parameters
    ----------
    kernel : ndarray
        ``(*size, filters, C)`` (Keras's transposed kernel layout: ``(kw, filters, C)``,
        ``(kh, kw, filters, C)``, ``(kd, kh, kw, filters, C)``).
    bias : ndarray ``(filters,)`` or None
    strides, dilation : tuple of int
    padding : {"valid", "same"}
    output_padding : tuple of (int or None)
        Keras's ``output_padding`` per axis (``None`` for Keras's default).

    Notes
    -----
    ``tf.nn.conv_transpose`` computes the input-gradient of ``A`` on an input of the output's
    extent (:meth:`extent`): the padding of ``A`` is TensorFlow's rule for that extent
    (``"same"``: total ``max((n - 1) s + e - extent, 0)``, ``floor(total / 2)`` before), and
    output positions no window of ``A`` reads (the ``output_padding`` tail of ``"valid"``) get
    the bias only. The forward pass is ``Conv.transpose`` (every input pixel spreads its values
    through the filters, flipped relative to ``A``'s cross-correlation); the adjoint is ``A``.
    """

    def __init__(self, kernel, bias, strides, padding, dilation, output_padding):
        self.conv, self.bias = Conv(kernel, None, strides, padding, dilation), bias
        self.padding, self.output_padding = padding, tuple(output_padding)

    def extent(self, spatial) -> tuple:
        """Output extent for the input extent ``spatial`` (Keras's rule, :func:`transpose_extent`).

        Raises ``ValueError`` when ``A`` does not map that extent back to ``spatial`` (Keras's
        ``"same"`` rule with ``output_padding`` can give such extents; TensorFlow then fails).
        """
        g = self.conv.geometry
        out = tuple(
            transpose_extent(n, k, s, d, self.padding, p)
            for n, k, s, d, p in zip(spatial, g.size, g.strides, g.dilation, self.output_padding)
        )
        if g.plan(out)[0] != tuple(spatial):
            raise ValueError(f"output extent {out} is not the transpose of input extent {tuple(spatial)}")
        return out

    def forward(self, x):
        """``y = A^T x + b``."""
        y = self.conv.transpose(x, self.extent(x.shape[1:-1]))
        return y if self.bias is None else y + self.bias

    def vjp(self, u, inputs, output, rule):
        """``x* = A u``: the convolution with the same kernel."""
        return (self.conv.forward(u),)


def depthwise(kernel, bias, strides, padding, dilation) -> Conv:
    """The depthwise convolution of a ``(kh, kw, C, M)`` (or ``(kw, C, M)``) kernel.

    It is the grouped :class:`~refdeconv.reference.linear.Conv` with ``C`` groups of one input
    channel and ``M`` filters each: output channel ``c M + m`` is input channel ``c``
    correlated with ``kernel[..., c, m]`` (``tf.nn.depthwise_conv2d``'s order).
    """
    *size, channels, multiplier = kernel.shape
    return Conv(kernel.reshape(*size, 1, channels * multiplier), bias, strides, padding, dilation, groups=channels)


def separable(depthwise_kernel, pointwise_kernel, bias, strides, padding, dilation) -> list:
    """A separable convolution as two operations: :func:`depthwise` without bias, then the
    ``1 x 1`` pointwise convolution with the ``(1, 1, C M, O)`` (or ``(1, C M, O)``) kernel and
    the bias (``tf.nn.separable_conv2d``)."""
    ones = (1,) * (pointwise_kernel.ndim - 2)
    return [
        depthwise(depthwise_kernel, None, strides, padding, dilation),
        Conv(pointwise_kernel, bias, ones, "valid", ones),
    ]


def _depthwise_checks(layer):
    channels_last(layer)
    if len(set(layer.strides)) > 1:  # tf.nn.depthwise_conv2d: "only supports equal length strides"
        raise unsupported(layer, f"strides={layer.strides}: TensorFlow computes equal row and column strides only")


def _depthwise_layer(layer, input_shapes):
    _depthwise_checks(layer)
    op = depthwise(weight(layer.kernel), weight(layer.bias), layer.strides, padding(layer), layer.dilation_rate)
    return [op] + activation_ops(layer, layer.activation)


def _separable_layer(layer, input_shapes):
    _depthwise_checks(layer)
    kernels = weight(layer.depthwise_kernel), weight(layer.pointwise_kernel)
    ops = separable(*kernels, weight(layer.bias), layer.strides, padding(layer), layer.dilation_rate)
    return ops + activation_ops(layer, layer.activation)


def _transpose(layer, input_shapes):
    channels_last(layer)
    pad = padding(layer)
    if max(layer.dilation_rate) > 1:  # tf.nn.conv_transpose on CPU: "do not yet support dilation rates larger than 1"
        raise unsupported(layer, f"dilation_rate={layer.dilation_rate}: TensorFlow cannot compute it on CPU to check it")
    output_padding = layer.output_padding or (None,) * layer.rank
    op = ConvTranspose(weight(layer.kernel), weight(layer.bias), layer.strides, pad, layer.dilation_rate, output_padding)
    spatial = input_shapes[0][1:-1]
    if None not in spatial:  # otherwise checked at run time
        try:
            op.extent(spatial)
        except ValueError as err:
            raise unsupported(layer, str(err)) from None
    return [op] + activation_ops(layer, layer.activation)


#: Layer type -> ``translation(layer, input_shapes) -> list of operations``.
TRANSLATIONS = {
    L.DepthwiseConv1D: _depthwise_layer, L.DepthwiseConv2D: _depthwise_layer,
    L.SeparableConv1D: _separable_layer, L.SeparableConv2D: _separable_layer,
    L.Conv1DTranspose: _transpose, L.Conv2DTranspose: _transpose, L.Conv3DTranspose: _transpose,
}
