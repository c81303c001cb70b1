"""Element-wise merges of several tensors (``Multiply``, ``Subtract``,
``Average``, ``Maximum``, ``Minimum``, InceptionResNetV2's ``CustomScaleLayer``),
each with its forward and its vector-Jacobian product side by side.

Broadcasting follows Keras's ``Merge.call`` (``keras/src/layers/merging/base_merge.py``):
inputs of lower rank get unit axes inserted at axis 1 until all ranks agree,
then NumPy broadcasting applies (batch sizes must agree). The adjoint of a
broadcast sums ``u`` over the broadcast axes (:func:`unbroadcast`).

``Maximum``/``Minimum`` fold ``tf.maximum``/``tf.minimum`` over the inputs from
left to right; TensorFlow's gradient of ``maximum(a, b)`` goes entirely to
``a`` when ``a >= b`` (``_MaximumMinimumGrad``), so among tied inputs the
*first* one gets the whole signal (measured, TF 2.21, Keras 3.15: with three
inputs tied, input 0 got ``u`` and the others 0; with inputs 1 and 2 tied above
input 0, input 1 got it).
"""

from __future__ import annotations

import keras
import numpy as np

from keras.src.applications.inception_resnet_v2 import CustomScaleLayer


def aligned(xs):
    """The inputs with unit axes inserted at axis 1 up to the largest rank (Keras's merge reshape)."""
    rank = max(x.ndim for x in xs)
    return [x.reshape(x.shape[0], *(1,) * (rank - x.ndim), *x.shape[1:]) for x in xs]


def unbroadcast(g, shape):
    """Adjoint of broadcasting an input of ``shape`` through :func:`aligned`: sum ``g`` back to ``shape``."""
    lifted = (shape[0], *(1,) * (g.ndim - len(shape)), *shape[1:])
    axes = tuple(i for i, (n, m) in enumerate(zip(lifted, g.shape)) if n == 1 and m != 1)
    return g.sum(axis=axes, keepdims=True).reshape(shape)


class WeightedSum:
    """``y = sum_i w_i x_i`` with fixed weights (``Subtract``: ``(1, -1)``;
    ``Average``: ``1/k`` each; ``CustomScaleLayer``: ``(1, scale)``).

    Notes
    -----
    Linear in every input: ``x_i* = w_i u``, summed over the axes along which
    input ``i`` was broadcast.
    """

    def __init__(self, weights):
        self.weights = tuple(float(w) for w in weights)

    def forward(self, *xs):
        """``sum_i w_i x_i``."""
        return sum(w * x for w, x in zip(self.weights, aligned(xs)))

    def vjp(self, u, inputs, output, rule):
        """``x_i* = w_i u`` (unbroadcast)."""
        return tuple(unbroadcast(w * u, x.shape) for w, x in zip(self.weights, inputs))


class Multiply:
    """``y = prod_i x_i`` element-wise (``Multiply``).

    Notes
    -----
    Multilinear: ``x_i* = u * prod_{j != i} x_j`` (unbroadcast), computed as a
    product over the other inputs, never by dividing ``y`` by ``x_i`` (which
    would fail where ``x_i = 0``).
    """

    def forward(self, *xs):
        """The element-wise product."""
        return np.prod(np.broadcast_arrays(*aligned(xs)), axis=0)

    def vjp(self, u, inputs, output, rule):
        """``x_i* = u * prod_{j != i} x_j``."""
        xs = aligned(inputs)
        others = (np.prod(np.broadcast_arrays(u, *xs[:i], *xs[i + 1 :]), axis=0) for i in range(len(xs)))
        return tuple(unbroadcast(g, x.shape) for g, x in zip(others, inputs))


class Extremum:
    """Element-wise maximum (``largest=True``, ``Maximum``) or minimum (``Minimum``) of the inputs.

    Notes
    -----
    ``y = x_w`` where ``w`` is the winning input at each element; the
    vector-Jacobian product sends ``u`` to the winner only. Ties go to the
    first tied input (TensorFlow's convention, see the module docstring),
    which is what ``np.argmax``/``np.argmin`` return.
    """

    def __init__(self, largest: bool):
        self.largest = largest

    def forward(self, *xs):
        """The element-wise maximum or minimum."""
        stack = np.stack(np.broadcast_arrays(*aligned(xs)))
        return stack.max(axis=0) if self.largest else stack.min(axis=0)

    def vjp(self, u, inputs, output, rule):
        """``u`` sent to the first winning input at each element."""
        stack = np.stack(np.broadcast_arrays(*aligned(inputs)))
        winner = stack.argmax(axis=0) if self.largest else stack.argmin(axis=0)
        return tuple(unbroadcast(u * (winner == i), x.shape) for i, x in enumerate(inputs))


L = keras.layers

#: Layer type -> ``translation(layer, input_shapes) -> list of operations``.
TRANSLATIONS = {
    L.Multiply: lambda layer, shapes: [Multiply()],
    L.Subtract: lambda layer, shapes: [WeightedSum((1.0, -1.0))],
    L.Average: lambda layer, shapes: [WeightedSum([1.0 / len(shapes)] * len(shapes))],
    L.Maximum: lambda layer, shapes: [Extremum(True)],
    L.Minimum: lambda layer, shapes: [Extremum(False)],
    CustomScaleLayer: lambda layer, shapes: [WeightedSum((1.0, layer.scale))],
}
