"""Linear and affine operations, each with its forward and its adjoint side by side.

Every operation here is ``y = A x + b`` for a fixed linear map ``A``; its
vector-Jacobian product is ``A^T u`` whatever the rule (DeconvNet filters with
the transposed filters, exactly as backpropagation does). Layouts are
TensorFlow's: channels-last activations (NWC, NHWC, NDHWC), WIO/HWIO/DHWIO
convolution kernels, ``(in, out)`` dense kernels.

All operations share one interface: ``forward(*inputs) -> output`` and
``vjp(u, inputs, output, rule) -> tuple`` (one array per input). They hold
float64 weights and no state between calls.
"""

from __future__ import annotations

import numpy as np

from .windows import Geometry, windows, windows_adjoint


class Dense:
    """``y = x K + b`` on the last axis (any leading axes, as Keras ``Dense``)."""

    def __init__(self, kernel: np.ndarray, bias: np.ndarray | None):
        self.kernel, self.bias = kernel, bias

    def forward(self, x):
        """``y = x K + b`` on the last axis."""
        y = np.tensordot(x, self.kernel, axes=([-1], [0]))
        return y if self.bias is None else y + self.bias

    def vjp(self, u, inputs, output, rule):
        """``x* = u K^T``."""
        return (np.tensordot(u, self.kernel, axes=([-1], [1])),)


class Conv:
    """Convolution (cross-correlation, as TensorFlow) of channels-last input with ``r`` spatial
    axes (``(N, W, C)``, ``(N, H, W, C)``, ``(N, D, H, W, C)``) and a kernel of TensorFlow's layout
    (WIO, HWIO, DHWIO); strides, dilation, ``"valid"``/``"same"``/``"causal"`` padding, and ``groups``.

    Parameters
    ----------
    kernel : ndarray
        ``(*size, C / groups, O)``: ``r`` window axes, then input and output channels.
    bias : ndarray ``(O,)`` or None
    strides, dilation : tuple of int
        One entry per spatial axis.
    padding : {"valid", "same", "same_unclamped", "causal"}
        See :class:`~refdeconv.reference.windows.Geometry`.
    groups : int
        Input and output channels are split into ``groups`` contiguous
        blocks; output block ``g`` reads input block ``g`` only (Keras
        ``groups``; ``groups = C`` with one input channel per group is the
        depthwise convolution).

    Notes
    -----
    With ``W(x)`` the ``(N, *out, K, C)`` windows of ``x`` split into the
    groups' ``(N prod(out), K C_g)`` matrices ``W_g`` and the kernel into the
    groups' ``(K C_g, O_g)`` matrices ``M_g``, the forward pass is
    ``y_g = W_g(x) M_g + b_g`` and the adjoint is ``x* = W^T(u_g M_g^T)``: the
    transposed filters applied to ``u`` and scattered back through the same
    windows (Zeiler & Fergus's "filtering"). :meth:`transpose` is that
    adjoint, which is also the forward pass of a transposed convolution.
    """

    def __init__(self, kernel, bias, strides, padding, dilation, groups: int = 1):
        *size, per_group, filters = kernel.shape
        self.geometry = Geometry(tuple(size), tuple(strides), padding, tuple(dilation))
        # (G, K C_g, O_g): group g's kernel matrix; output channel g O_g + o.
        self.matrices = kernel.reshape(-1, groups, filters // groups).transpose(1, 0, 2)
        self.channels, self.bias = per_group * groups, bias

    def forward(self, x):
        """``y_g = W_g(x) M_g + b_g``: windows times each group's kernel matrix."""
        w = windows(x, self.geometry)
        groups, rows, per_group_out = self.matrices.shape
        cells = w.shape[:-2]
        w = w.reshape(-1, w.shape[-2], groups, self.channels // groups).transpose(2, 0, 1, 3)
        y = (w.reshape(groups, -1, rows) @ self.matrices).transpose(1, 0, 2)
        y = y.reshape(*cells, groups * per_group_out)  # explicit size: empty outputs too
        return y if self.bias is None else y + self.bias

    def transpose(self, u, extent):
        """``x* = W^T(u_g M_g^T)`` onto an input of spatial ``extent`` (one entry per spatial axis)."""
        groups, _, per_group_out = self.matrices.shape
        taps, cells = len(self.geometry.offsets()), u.shape[:-1]
        ug = u.reshape(-1, groups, per_group_out).transpose(1, 0, 2)
        w = (ug @ self.matrices.transpose(0, 2, 1)).reshape(groups, -1, taps, self.channels // groups)
        w = w.transpose(1, 2, 0, 3).reshape(*cells, taps, self.channels)
        return windows_adjoint(w, self.geometry, tuple(extent))

    def vjp(self, u, inputs, output, rule):
        """``x* = W^T(u_g M_g^T)``: transposed filters, scattered back through the windows."""
        return (self.transpose(u, inputs[0].shape[1:-1]),)


class Affine:
    """Per-channel ``y = x * scale + shift`` (inference batch normalisation).

    Notes
    -----
    Keras computes ``gamma (x - mean) / sqrt(var + eps) + beta``, i.e.
    ``scale = gamma / sqrt(var + eps)`` and ``shift = beta - mean * scale``,
    broadcast along the normalised axes. The adjoint is ``u * scale``.
    """

    def __init__(self, scale: np.ndarray, shift: np.ndarray):
        self.scale, self.shift = scale, shift

    def forward(self, x):
        """``y = x * scale + shift``."""
        return x * self.scale + self.shift

    def vjp(self, u, inputs, output, rule):
        """``x* = u * scale``."""
        return (u * self.scale,)


class Reshape:
    """Reshape of the non-batch axes (``Flatten``, ``Reshape``); row-major, as TensorFlow."""

    def __init__(self, shape: tuple[int, ...]):
        self.shape = tuple(shape)

    def forward(self, x):
        """``x`` reshaped to ``(N, *shape)``."""
        return x.reshape(x.shape[0], *self.shape)

    def vjp(self, u, inputs, output, rule):
        """``u`` reshaped back to the input's shape."""
        return (u.reshape(inputs[0].shape),)


class Concatenate:
    """Concatenation along ``axis``; the adjoint splits ``u`` back."""

    def __init__(self, axis: int):
        self.axis = axis

    def forward(self, *xs):
        """The inputs joined along ``axis``."""
        return np.concatenate(xs, axis=self.axis)

    def vjp(self, u, inputs, output, rule):
        """``u`` split back along ``axis``, one piece per input."""
        cuts = np.cumsum([x.shape[self.axis] for x in inputs])[:-1]
        return tuple(np.split(u, cuts, axis=self.axis))
