"""ONNX arithmetic: ``Add``, ``Sub``, ``Mul``, ``Div``, ``Pow``, ``Max``, ``Min`` with NumPy
broadcasting, and the matrix products ``MatMul`` and ``Gemm``.

``Max(x, 0)`` is a ReLU (kind ``"Max"``, active for ``x > 0``) and takes the rule; any other
``Max`` or ``Min`` sends the signal to the winning operand (the first on ties, as TensorFlow's
``Maximum``). ``MatMul`` with a constant right operand and ``Gemm`` with constant ``B`` and ``C``
are :class:`~refdeconv.reference.linear.Dense`; a product of two traced values is
:class:`Product`.
"""

from __future__ import annotations

import numpy as np

from .. import activations as act
from .. import linear
from .nodes import Value


def unbroadcast(g: np.ndarray, shape: tuple) -> np.ndarray:
    """Adjoint of NumPy's broadcasting of an operand of ``shape``: sum ``g`` back to ``shape``."""
    g = g.sum(axis=tuple(range(g.ndim - len(shape)))) if g.ndim > len(shape) else g
    axes = tuple(i for i, (n, m) in enumerate(zip(shape, g.shape)) if n == 1 and m != 1)
    return g.sum(axis=axes, keepdims=True).reshape(shape)


#: Kind -> (forward ``f(a, b)``, partials ``(df/da * u, df/db * u)`` as ``p(u, a, b)``).
KINDS = {
    "Add": (np.add, lambda u, a, b: (u, u)),
    "Sub": (np.subtract, lambda u, a, b: (u, -u)),
    "Mul": (np.multiply, lambda u, a, b: (u * b, u * a)),
    "Div": (np.divide, lambda u, a, b: (u / b, -u * a / (b * b))),
    "Pow": (np.power, lambda u, a, b: (u * b * a ** (b - 1), u * np.log(np.where(a > 0, a, 1.0)) * a**b)),
    "Max": (np.maximum, lambda u, a, b: (u * (a >= b), u * (a < b))),
    "Min": (np.minimum, lambda u, a, b: (u * (a <= b), u * (a > b))),
}


class Binary:
    """Element-wise ``f(a, b)`` with NumPy broadcasting; an operand may be a fixed constant.

    Parameters
    ----------
    kind : str
        Key of :data:`KINDS` (the ONNX op type).
    constants : dict
        Operand position (0 or 1) -> constant array; the others are the traced inputs, in order.

    Notes
    -----
    The vector-Jacobian product is each traced operand's partial derivative times ``u``,
    summed over the axes along which that operand was broadcast (:func:`unbroadcast`).
    """

    def __init__(self, kind: str, constants: dict):
        self.kind, self.constants = kind, constants
        self.function, self.partials = KINDS[kind]

    def operands(self, traced) -> list:
        """``[a, b]``: the constants in their places, the traced values in the others."""
        traced = iter(traced)
        return [self.constants[p] if p in self.constants else next(traced) for p in (0, 1)]

    def forward(self, *xs):
        """``f(a, b)``."""
        return self.function(*self.operands(xs))

    def vjp(self, u, inputs, output, rule):
        """Each traced operand's partial times ``u``, unbroadcast to its shape."""
        a, b = self.operands(inputs)
        grads = self.partials(u, a, b)
        return tuple(unbroadcast(g, x.shape) for p, (g, x) in enumerate(zip(grads, (a, b))) if p not in self.constants)


def _binary(node):
    kind = node.op_type
    if kind == "Max" and len(node.args) == 2:
        zero = [not node.is_traced(p) and np.size(node.args[p]) == 1 and np.all(node.args[p] == 0) for p in (0, 1)]
        if sum(zero) == 1:
            traced = zero.index(True) ^ 1
            if np.broadcast_shapes(node.traced(traced).shape, np.shape(node.args[1 - traced])) == node.traced(traced).shape:
                return [(act.ReLU(kind="Max"), [traced])]
    if len(node.args) != 2:
        raise node.refuse(f"{len(node.args)} operands (two are modelled)")
    constants = {p: np.asarray(a, np.float64) for p, a in enumerate(node.args) if not isinstance(a, Value)}
    if kind == "Pow" and node.is_traced(1):
        raise node.refuse("a traced exponent")
    return [(Binary(kind, constants), [p for p in (0, 1) if p not in constants])]


class Product:
    """``a @ b`` of two traced values (``numpy.matmul``, batch axes of equal extents).

    Notes
    -----
    The adjoint is ``(u b^T, a^T u)`` on the last two axes.
    """

    def forward(self, a, b):
        """``a @ b``."""
        return a @ b

    def vjp(self, u, inputs, output, rule):
        """``(u b^T, a^T u)``."""
        a, b = inputs
        return u @ np.swapaxes(b, -1, -2), np.swapaxes(a, -1, -2) @ u


def _matmul(node):
    if node.is_traced(0) and node.is_traced(1):
        a, b = node.traced(0), node.traced(1)
        if a.ndim != b.ndim or a.ndim < 3 or a.shape[:-2] != b.shape[:-2]:
            raise node.refuse(f"a product of traced values of shapes {a.shape} and {b.shape} (batch axes must match)")
        return [(Product(), [0, 1])]
    kernel = node.constant(1)
    if kernel.ndim != 2 or node.traced(0).ndim < 2:
        raise node.refuse(f"a constant right operand of shape {np.shape(kernel)} (a matrix is modelled)")
    return [(linear.Dense(np.asarray(kernel, np.float64), None), [0])]


def _gemm(node):
    a = node.traced(0)
    if node.attrs.get("transA", 0) or a.ndim != 2:
        raise node.refuse("transA or an input that is not a matrix (it would mix samples)")
    kernel = np.asarray(node.constant(1), np.float64)
    kernel = kernel.T if node.attrs.get("transB", 0) else kernel
    bias = node.constant(2)
    if bias is not None:
        bias = float(node.attrs.get("beta", 1.0)) * np.asarray(bias, np.float64)
        if bias.ndim == 2 and bias.shape[0] != 1:
            raise node.refuse(f"a bias C of shape {bias.shape} that differs from sample to sample")
        bias = np.broadcast_to(bias.reshape(-1), (kernel.shape[1],)).copy()
    return [(linear.Dense(float(node.attrs.get("alpha", 1.0)) * kernel, bias), [0])]


#: Op type -> translation (see :mod:`refdeconv.reference.onnx.nodes`).
TRANSLATIONS = {kind: _binary for kind in KINDS} | {"MatMul": _matmul, "Gemm": _gemm}
