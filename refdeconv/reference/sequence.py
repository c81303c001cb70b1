"""Sequence wrappers: ``Bidirectional`` over a recurrent layer and ``TimeDistributed`` over
any layer the reference translates.

Each wrapper is one operation holding the operations of what it wraps; its vector-Jacobian
product is theirs, recombined, so the ReLU rule reaches every wrapped ReLU.
"""

from __future__ import annotations

import keras
import numpy as np

from .reading import unsupported
from .recurrent import Chain, plain_input, recurrent_op

#: ``merge_mode`` -> (merge of ``a``, ``b``; its vector-Jacobian product ``u -> (a*, b*)``),
#: as ``keras/src/layers/rnn/bidirectional.py``.
MERGES = {
    "concat": (lambda a, b: np.concatenate([a, b], axis=-1), lambda u, a, b: np.split(u, [a.shape[-1]], axis=-1)),
    "sum": (lambda a, b: a + b, lambda u, a, b: (u, u)),
    "ave": (lambda a, b: (a + b) / 2, lambda u, a, b: (u / 2, u / 2)),
    "mul": (lambda a, b: a * b, lambda u, a, b: (u * b, u * a)),
}


class Bidirectional:
    """Two recurrent operations on the same ``(N, T, F)`` input, merged.

    Parameters
    ----------
    forward_op, backward_op : refdeconv.reference.recurrent.Recurrent
        Keras's ``forward_layer`` and ``backward_layer`` (the latter built with the opposite
        ``go_backwards``, so its sequence output is in reversed time).
    merge_mode : {"concat", "sum", "ave", "mul"}
        How the two outputs are joined (:data:`MERGES`).
    return_sequences : bool
        Whether the outputs are sequences; then the backward output is flipped back in time
        before merging (``ops.flip(y_rev, axis=1)`` in Keras).

    Notes
    -----
    ``y = merge(F(x), P B(x))`` with ``P`` the time flip (identity without sequences);
    ``x* = F^T(a*) + B^T(P b*)`` with ``(a*, b*)`` the merge's vector-Jacobian product
    (``P`` is its own transpose).
    """

    def __init__(self, forward_op, backward_op, merge_mode: str, return_sequences: bool):
        self.forward_op, self.backward_op = forward_op, backward_op
        self.merge, self.merge_vjp = MERGES[merge_mode]
        self.flip = return_sequences

    def _outputs(self, x):
        b = self.backward_op.forward(x)
        return self.forward_op.forward(x), b[:, ::-1] if self.flip else b

    def forward(self, x):
        """``merge(F(x), P B(x))``."""
        return self.merge(*self._outputs(x))

    def vjp(self, u, inputs, output, rule):
        """``F^T(a*) + B^T(P b*)``: each direction's backpropagation through time."""
        a, b = self._outputs(inputs[0])
        ua, ub = self.merge_vjp(u, a, b)
        ub = ub[:, ::-1] if self.flip else ub
        return (self.forward_op.vjp(ua, inputs, None, rule)[0] + self.backward_op.vjp(ub, inputs, None, rule)[0],)


class TimeDistributed:
    """Operations applied to each time step of ``(N, T, ...)`` input.

    Keras calls the inner layer once per step (``keras/src/layers/rnn/time_distributed.py``);
    the inner operations act on each sample alone, so the reference merges the batch and
    time axes into one of ``N T`` samples, applies them, and splits back. The adjoint does
    the same with the inner operations' vector-Jacobian product.
    """

    def __init__(self, inner: Chain):
        self.inner = inner

    def forward(self, x):
        """The inner operations on ``x`` reshaped to ``(N T, ...)``, reshaped back."""
        y = self.inner.forward(x.reshape(-1, *x.shape[2:]))
        return y.reshape(*x.shape[:2], *y.shape[1:])

    def vjp(self, u, inputs, output, rule):
        """The inner vector-Jacobian product on ``(N T, ...)``, reshaped back."""
        x = inputs[0]
        g = self.inner.vjp(u.reshape(-1, *u.shape[2:]), [x.reshape(-1, *x.shape[2:])], None, rule)[0]
        return (g.reshape(x.shape),)


def _bidirectional(layer, input_shapes):
    plain_input(layer, input_shapes)
    if layer.merge_mode not in MERGES:
        raise unsupported(layer, f"merge_mode={layer.merge_mode!r} (None gives two outputs)")
    fwd, bwd = recurrent_op(layer.forward_layer), recurrent_op(layer.backward_layer)
    return [Bidirectional(fwd, bwd, layer.merge_mode, layer.return_sequences)]


def time_distributed(layer, input_shapes, translate):
    """Translation of ``TimeDistributed``: ``translate`` (the layer table's dispatcher) of the
    inner layer at per-step shapes ``(None, *shape[2:])``, as one :class:`TimeDistributed`."""
    plain_input(layer, input_shapes)
    shape = tuple(input_shapes[0])
    return [TimeDistributed(Chain(translate(layer.layer, [(None, *shape[2:])])))]


#: Layer type -> translation (``TimeDistributed`` needs ``translate``: registered in ``layers.py``).
TRANSLATIONS = {keras.layers.Bidirectional: _bidirectional}
