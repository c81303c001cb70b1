"""Where a model's maxima tie, in the reference's forward pass: the switches a map depends on.

Max-pooling, global max-pooling and ``Maximum``/``Minimum`` merges (ONNX's ``MaxPool``,
``GlobalMaxPool``, ``ReduceMax``, ``Max``, ``Min``) send the whole backward signal to one
winner (or split it among exact ties). Two kinds of
tie matter to a conformance check:

- an **exact tie**, decided by the tie rule both implementations follow
  (DESIGN.md §3): reported so that a reader knows the rule was exercised;
- a **near tie**: a non-zero winner with a rival within rounding of it. Which one
  wins then depends on the order of floating-point operations, not on the
  model: TensorFlow's matrix kernels round identical rows of a ``Dense`` input
  differently by one unit in the last place, so a value the reference ties
  exactly TensorFlow may not. The map is discontinuous there, and no tolerance
  can make two correct implementations agree. Exact zeros (all-zero windows
  after a ReLU) are exact in every implementation and are not near ties.
"""

from __future__ import annotations

import numpy as np

from ..reference import Oracle, compile
from ..reference.layout import ChannelsFirst, channels_last
from ..reference.merging import Extremum, aligned
from ..reference.onnx.arithmetic import Binary
from ..reference.onnx.windowed import Reduce
from ..reference.pooling import GlobalMaxPool, MaxPool
from ..reference.windows import windows
from .tolerances import tolerance


def _contests(op, inputs: list) -> np.ndarray | None:
    """The candidates of each maximum of ``op`` along axis 0, or ``None`` for another operation.

    Minimum merges are negated so that every contest is a maximum.
    """
    if isinstance(op, MaxPool):
        h = inputs[0]
        w = windows(h[:, None] if op.one_d else h, op.geometry, fill=-np.inf)
        return np.moveaxis(w, -2, 0)  # (N, *pooled, K, C): the window axis, for every rank
    if isinstance(op, GlobalMaxPool):
        x = inputs[0]
        return np.moveaxis(x.reshape(len(x), -1, x.shape[-1]), 1, 0)
    if isinstance(op, Extremum):
        stack = np.stack(np.broadcast_arrays(*aligned(inputs)))
        return stack if op.largest else -stack
    if isinstance(op, Reduce) and op.kind == "max":  # ONNX ReduceMax: the reduced axes in front
        x = inputs[0]
        return np.moveaxis(x, op.axes, range(len(op.axes))).reshape(-1, *np.delete(x.shape, op.axes))
    if isinstance(op, Binary) and op.kind in ("Max", "Min"):  # ONNX Max, Min of two operands
        stack = np.stack(np.broadcast_arrays(*op.operands(inputs)))
        return stack if op.kind == "Max" else -stack
    return None


def _forward(model, xs: list, output_layer):
    oracle = model if isinstance(model, Oracle) else compile(model, output_layer)  # read once by the caller, or now
    program, values = oracle.run([np.asarray(x, np.float64) for x in xs])
    for op, ins, _ in program.steps:
        inputs = [values[i] for i in ins]
        if isinstance(op, ChannelsFirst):  # an ONNX model's channels-first pool: its windows, channels last
            op, inputs = op.op, [channels_last(x) for x in inputs]
        contest = _contests(op, inputs)
        if contest is not None:
            yield op, contest


def max_pool_ties(model, xs: list, output_layer=None) -> bool:
    """Whether a max-pool window of ``model`` (cut at ``output_layer``; or an already compiled
    :class:`~refdeconv.reference.Oracle`) on ``xs`` (one array per model input) holds an exactly
    tied maximum, in the reference's forward pass; for an ONNX model, an ONNX ``ReduceMax`` too
    (the graph does not say whose convention its ties follow: ``torch.amax`` and TensorFlow split
    the signal, PyTorch's ``AdaptiveMaxPool(1)``, which ``dynamo=True`` exports as a
    ``ReduceMax``, sends it to the first maximum)."""
    return any(isinstance(op, (MaxPool, Reduce)) and ((c == c.max(axis=0)).sum(axis=0) > 1).any()
               for op, c in _forward(model, xs, output_layer))


def near_ties(model, xs: list, key: str = "float64", output_layer=None) -> list[str]:
    """The maxima of ``model`` on ``xs`` whose winner is not zero and has a rival within rounding.

    Parameters
    ----------
    model : keras.Model, onnx.ModelProto or refdeconv.reference.Oracle
        A model the reference reads, or one it has already compiled (then ``output_layer`` is
        the oracle's own).
    xs : list of array_like
        One array per model input, batch first.
    key : str
        The tolerance key (:func:`refdeconv.conformance.tolerances.tolerance`) of
        the implementation compared: a rival within ``tolerance(key) * |winner|``
        of the winner (or equal to it) makes a near tie.
    output_layer : str, int or None
        Where the model is cut.

    Returns
    -------
    list of str
        One entry per operation with a near tie (``"MaxPool (sample 0)"``...),
        in forward order; empty when every switch is decided by the model.

    Raises
    ------
    NotImplementedError
        The reference does not model a layer of ``model``.
    """
    found, tol = [], tolerance(key)
    for op, contest in _forward(model, xs, output_layer):
        best = contest.max(axis=0)
        close = np.abs(contest - best) <= tol * np.abs(best)
        near = (close.sum(axis=0) > 1) & (best != 0)
        if near.any():
            samples = sorted({int(i) for i in np.nonzero(near.reshape(len(best), -1).any(axis=1))[0]})
            found.append(f"{type(op).__name__} (sample{'s' if len(samples) > 1 else ''} "
                         f"{', '.join(map(str, samples))})")
    return found
