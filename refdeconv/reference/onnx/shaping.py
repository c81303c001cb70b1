"""ONNX operations that move values without changing them: ``Identity``, ``Dropout`` and float
``Cast``; ``Flatten``, ``Reshape``, ``Squeeze``, ``Unsqueeze``; ``Transpose``, ``Concat``,
``Split``, ``Slice``, ``Gather``; ``Pad``; ``Resize`` (nearest and linear).

None of them may move values between samples: the batch axis stays axis 0 with its extent, or
the node is refused. Shapes given as inputs (``Reshape``'s ``shape``, ``Slice``'s ``starts``...)
are constants by the time a node is translated: the trace folds the shape subgraphs first.
"""

from __future__ import annotations

import numpy as np

from .. import linear
from .resize import resize

#: ONNX element types a float ``Cast`` may target: values pass unchanged (the oracle is float64).
FLOATS = (1, 10, 11, 16)


def _identity(node):
    if node.op_type == "Cast" and node.attrs.get("to") not in FLOATS:
        raise node.refuse(f"a cast of a traced value to ONNX element type {node.attrs.get('to')}")
    if node.op_type == "Dropout" and len(node.proto.output) > 1 and node.proto.output[1]:
        raise node.refuse("its mask output")
    return [(linear.Affine(1.0, 0.0), [0])]


class Rows:
    """A reshape to a fixed shape whose first axis holds whole rows of samples: ``(N, T, C)`` to
    ``(N T, C)`` and back (Keras's ``Tensordot`` for a ``Dense`` on a sequence, as tf2onnx exports
    it). Row-major, sample ``i``'s values stay in rows ``i k .. (i + 1) k - 1``; the adjoint
    reshapes ``u`` back."""

    def __init__(self, shape):
        self.shape = tuple(shape)

    def forward(self, x):
        """``x`` reshaped to :attr:`shape`."""
        return x.reshape(self.shape)

    def vjp(self, u, inputs, output, rule):
        """``u`` reshaped back to the input's shape."""
        return (u.reshape(inputs[0].shape),)


def _reshaped(node, out_shape):
    """A reshape of the traced input to ``out_shape``: the batch axis kept, or its samples' values
    kept in whole rows of the first axis (``out_shape[0]`` a multiple of the number of samples);
    one that would put two samples' values in one row is refused."""
    x = node.traced(0)
    if out_shape and out_shape[0] == x.shape[0] == node.samples:
        return [(linear.Reshape(tuple(out_shape[1:])), [0])]
    if not out_shape or out_shape[0] % node.samples or x.shape[0] % node.samples:
        raise node.refuse(f"a reshape of {x.shape} to {tuple(out_shape)}, which moves the batch axis "
                          f"(it would mix the values of {node.samples} samples)")
    return [(Rows(out_shape), [0])]


def _reshape(node):
    x, shape = node.traced(0), [int(v) for v in node.constant(1)]
    if not node.attrs.get("allowzero", 0):
        shape = [x.shape[i] if v == 0 else v for i, v in enumerate(shape)]
    try:
        return _reshaped(node, np.empty(x.shape, bool).reshape(shape).shape)
    except ValueError as err:
        raise node.refuse(f"a reshape of {x.shape} to {shape}: {err}") from None


def _flatten(node):
    x = node.traced(0)
    axis = int(node.attrs.get("axis", 1))
    axis = axis + x.ndim if axis < 0 else axis
    return _reshaped(node, (int(np.prod(x.shape[:axis], dtype=int)), int(np.prod(x.shape[axis:], dtype=int))))


def _squeeze(node):
    x = node.traced(0)
    axes = node.ints("axes", 1)
    axes = [node.axis(a) for a in axes] if axes else [a for a in range(1, x.ndim) if x.shape[a] == 1]
    return _reshaped(node, tuple(n for a, n in enumerate(x.shape) if a not in axes))


def _unsqueeze(node):
    x = node.traced(0)
    rank = x.ndim + len(node.ints("axes", 1))
    axes = {node.axis(a, rank) for a in node.ints("axes", 1)}
    dims = iter(x.shape)
    return _reshaped(node, tuple(1 if a in axes else next(dims) for a in range(rank)))


class Permutation:
    """``x.transpose(perm)`` with ``perm[0] = 0``; the adjoint is the inverse permutation."""

    def __init__(self, perm):
        self.perm, self.inverse = tuple(perm), tuple(np.argsort(perm))

    def forward(self, x):
        """The axes of ``x`` in the order :attr:`perm`."""
        return x.transpose(self.perm)

    def vjp(self, u, inputs, output, rule):
        """``u`` with the inverse permutation."""
        return (u.transpose(self.inverse),)


def _transpose(node):
    perm = [int(p) for p in node.attrs.get("perm", range(node.rank())[::-1])]
    if perm[0] != 0:
        raise node.refuse(f"perm {perm} moves the batch axis")
    return [(Permutation(perm), [0])]


class Cut:
    """``x[index]`` for a tuple of slices or an index array along one axis; the adjoint puts ``u``
    back in place (accumulating where indices repeat) and zeros elsewhere."""

    def __init__(self, index, axis: int | None = None):
        self.index, self.axis = index, axis

    def forward(self, x):
        """The selected part of ``x``."""
        return x[self.index] if self.axis is None else np.take(x, self.index, axis=self.axis)

    def vjp(self, u, inputs, output, rule):
        """``u`` scattered back onto zeros of the input's shape."""
        g = np.zeros_like(inputs[0])
        if self.axis is None:
            g[self.index] = u
        else:
            np.add.at(g, (slice(None),) * self.axis + (self.index,), u)
        return (g,)


def _slice(node):
    x = node.traced(0)
    if node.opset < 10:
        starts, ends, axes = node.attrs["starts"], node.attrs["ends"], node.attrs.get("axes")
        steps = None
    else:
        starts, ends = node.ints("starts", 1), node.ints("ends", 2)
        axes, steps = node.ints("axes", 3), node.ints("steps", 4)
    axes = range(len(starts)) if axes is None else axes
    steps = [1] * len(starts) if steps is None else steps
    index = [slice(None)] * x.ndim
    for a, start, end, step in zip(axes, starts, ends, steps):
        index[node.axis(int(a), batch=True)] = slice(int(start), int(end), int(step))
    if range(*index[0].indices(x.shape[0])) != range(x.shape[0]):
        raise node.refuse("a slice of the batch axis")
    return [(Cut(tuple(index)), [0])]


def _split(node):
    x = node.traced(0)
    axis = node.axis(int(node.attrs.get("axis", 0)))
    sizes = node.ints("split", 1)
    outputs = len(node.proto.output)
    if sizes is None:
        n = x.shape[axis]
        chunk = -(-n // outputs)
        sizes = [min(chunk, n - i * chunk) for i in range(outputs)]
    cuts = np.concatenate([[0], np.cumsum(sizes)])
    index = lambda a, b: tuple(slice(None) if i != axis else slice(int(a), int(b)) for i in range(x.ndim))  # noqa: E731
    return [(Cut(index(a, b)), [0]) for a, b in zip(cuts[:-1], cuts[1:])]


def _gather(node):
    axis = node.axis(int(node.attrs.get("axis", 0)))
    indices = np.asarray(node.constant(1), np.int64)
    indices = np.where(indices < 0, indices + node.traced(0).shape[axis], indices)
    return [(Cut(indices, axis), [0])]


def _concat(node):
    for p in range(len(node.args)):
        node.traced(p)
    return [(linear.Concatenate(node.axis(int(node.attrs["axis"]))), list(range(len(node.args))))]


class Padding:
    """Constant padding by non-negative ``(before, after)`` pairs; the adjoint crops ``u``."""

    def __init__(self, pads, value: float):
        self.pads, self.value = tuple(pads), value

    def forward(self, x):
        """``x`` padded with :attr:`value`."""
        return np.pad(x, self.pads, constant_values=self.value)

    def vjp(self, u, inputs, output, rule):
        """``u`` cropped back to the input."""
        return (u[tuple(slice(a, a + n) for (a, _), n in zip(self.pads, inputs[0].shape))],)


def _pad(node):
    x = node.traced(0)
    if node.attrs.get("mode", "constant") != "constant":
        raise node.refuse(f"mode {node.attrs['mode']!r} (constant padding is modelled)")
    pads = node.ints("pads", 1)
    axes = node.ints("axes", 3) if node.opset >= 18 else None
    axes = [node.axis(a, batch=True) for a in axes] if axes else list(range(x.ndim))
    pairs = [(0, 0)] * x.ndim
    for i, a in enumerate(axes):
        pairs[a] = (pads[i], pads[i + len(axes)])
    if pairs[0] != (0, 0) or min(min(p) for p in pairs) < 0:
        raise node.refuse(f"pads {pads}: padding the batch axis, or negative pads (crops)")
    value = node.attrs.get("value", node.constant(2, 0.0))
    return [(Padding(pairs, np.asarray(value, np.float64).item()), [0])]


#: Op type -> translation (see :mod:`refdeconv.reference.onnx.nodes`).
TRANSLATIONS = {
    "Identity": _identity, "Dropout": _identity, "Cast": _identity,
    "Flatten": _flatten, "Reshape": _reshape, "Squeeze": _squeeze, "Unsqueeze": _unsqueeze,
    "Transpose": _transpose, "Slice": _slice, "Split": _split, "Gather": _gather, "Concat": _concat,
    "Pad": _pad, "Resize": resize, "Upsample": resize,
}
