"""Linear and affine operations, each with its forward and its adjoint side by side.

Every operation here is ``y = A x + b`` for a fixed linear map ``A``; its
vector-Jacobian product is ``A^T u`` whatever the rule (DeconvNet filters with
the transposed filters, exactly as backpropagation does). Layouts are
TensorFlow's: NHWC activations, HWIO convolution kernels, ``(in, out)`` dense
kernels.

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
    """Convolution (cross-correlation, as TensorFlow) of NHWC or NWC input with a
    HWIO (or WIO) kernel; strides, dilation, ``"valid"``/``"same"`` padding.

    Notes
    -----
    With ``W(x)`` the ``(N, Ho, Wo, K, C)`` windows of ``x`` and the kernel
    reshaped to a ``(K C, O)`` matrix ``M``, the forward pass is the matrix
    product ``y = W(x) M + b`` and the adjoint is ``x* = W^T(u M^T)``: the
    transposed filters applied to ``u`` and scattered back through the same
    windows (Zeiler & Fergus's "filtering").
    """

    def __init__(self, kernel, bias, strides, padding, dilation):
        self.one_d = kernel.ndim == 3
        if self.one_d:
            kernel, strides, dilation = kernel[None], (1, *strides), (1, *dilation)
        self.geometry = Geometry(kernel.shape[:2], tuple(strides), padding, tuple(dilation))
        self.matrix = kernel.reshape(-1, kernel.shape[-1])
        self.channels, self.bias = kernel.shape[2], bias

    def forward(self, x):
        """``y = W(x) M + b``: windows times the kernel matrix."""
        x4 = x[:, None] if self.one_d else x
        w = windows(x4, self.geometry)
        y = w.reshape(*w.shape[:3], self.matrix.shape[0]) @ self.matrix  # explicit size: empty outputs too
        if self.bias is not None:
            y = y + self.bias
        return y[:, 0] if self.one_d else y

    def vjp(self, u, inputs, output, rule):
        """``x* = W^T(u M^T)``: transposed filters, scattered back through the windows."""
        x4 = inputs[0][:, None] if self.one_d else inputs[0]
        u4 = u[:, None] if self.one_d else u
        w = (u4 @ self.matrix.T).reshape(*u4.shape[:3], len(self.geometry.offsets()), self.channels)
        g = windows_adjoint(w, self.geometry, x4.shape[1:3])
        return (g[:, 0] if self.one_d else g,)


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


class Add:
    """Sum of several tensors (``Add``); the adjoint copies ``u`` to every input."""

    def forward(self, *xs):
        """``y = x_1 + ... + x_k``."""
        return sum(xs[1:], xs[0])

    def vjp(self, u, inputs, output, rule):
        """``x_i* = u`` for every input."""
        return tuple(u for _ in inputs)


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
