"""Channels-first data for the channels-last operations: PyTorch's ONNX layout (``(N, C, W)``,
``(N, C, H, W)``, ``(N, C, D, H, W)``) read by the same windowed operations as Keras's.

The window operations (:mod:`~refdeconv.reference.windows` and the convolutions and pools over
it) index channels last. :class:`ChannelsFirst` runs one of them on channels-first values: it
moves the channel axis last on entry and back on exit, in its forward pass and its
vector-Jacobian product alike. The axis moves are views (``numpy.moveaxis``), taken inside the
operation, so the model's values keep the model's own layout everywhere else: the user's inputs
and maps are never transposed.
"""

from __future__ import annotations

import numpy as np


def channels_last(x: np.ndarray) -> np.ndarray:
    """``(N, C, *spatial)`` viewed as ``(N, *spatial, C)``."""
    return np.moveaxis(x, 1, -1)


def channels_first(x: np.ndarray) -> np.ndarray:
    """``(N, *spatial, C)`` viewed as ``(N, C, *spatial)``."""
    return np.moveaxis(x, -1, 1)


class ChannelsFirst:
    """The operation ``op`` of channels-last values, on channels-first ones.

    Parameters
    ----------
    op : object
        A reference operation (``forward``, ``vjp``) whose inputs and output are channels-last.

    Notes
    -----
    With ``P`` the axis move ``(N, C, *s) -> (N, *s, C)`` (a permutation, so ``P^T = P^{-1}``),
    the wrapped forward is ``P^{-1} op(P x)`` and its vector-Jacobian product
    ``P^{-1} op*(P u)``: the adjoint of a composition with a permutation.
    """

    def __init__(self, op):
        self.op = op

    def forward(self, *xs):
        """``op`` on the inputs with their channels last, its output with channels first."""
        return channels_first(self.op.forward(*(channels_last(x) for x in xs)))

    def vjp(self, u, inputs, output, rule):
        """``op``'s vector-Jacobian product in the channels-last frame, moved back."""
        grads = self.op.vjp(channels_last(u), [channels_last(x) for x in inputs], channels_last(output), rule)
        return tuple(channels_first(g) for g in grads)
