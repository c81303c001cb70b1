"""The frontier of a traced map function: where the backward signal stops depending on the input.

DeconvNet's ReLU rule ``relu(u)`` does not read the forward pass, and neither do
the adjoints of convolutions, dense layers, inference batch normalisation,
average pooling, reshapes or sums. Above the highest operation whose backward
pass reads forward values (a max-pool's switches, a non-ReLU nonlinearity, an
operator nonlinear in ``f(x)``), the signal is a function of the target alone
(proof 11). The frontier is found in the traced graph itself, never from layer
names or types: an op is *input-dependent* if a path of data or control edges
leads to it from an input (a ``Shape``/``ShapeN``/``Size``/``Rank`` of a
statically shaped tensor is a constant, not a dependence); the frontier is the
set of target-dependent, input-independent tensors that an input-dependent op
of the map computation reads. Under the gradient and guided rules every ReLU's
backward pass reads its input, so the frontier sinks to the head of the model
and there is nothing worth caching: :func:`find` then says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: Op types whose output, for a statically shaped input, is a constant of that shape.
FOLDED = frozenset({"Shape", "ShapeN", "Size", "Rank"})

#: Op types that compute nothing (inputs, constants, variable reads, identities).
_FREE = frozenset({"Placeholder", "Const", "ReadVariableOp", "Identity", "NoOp", *FOLDED})

#: The frontier is used when the work above it (elements produced) is at least this share of the
#: map computation's.
WORTH = 0.25


@dataclass
class Frontier:
    """Where the map computation splits, and whether caching above it pays.

    Attributes
    ----------
    tensors : list of tf.Tensor
        The frontier tensors of the traced graph, batch axis first: the signals
        cached per target.
    folds : list of tuple
        ``(tensor, value)``: the static shapes read above the frontier (of the
        inputs' tensors among them), fed as the constants they are.
    above, total : int
        Elements produced by the computing ops above the frontier, and by the
        whole map computation: the proxy of their cost that decides (:data:`WORTH`).
    reason : str
        Why the frontier is not used, or ``""``.
    """

    tensors: list = field(default_factory=list)
    folds: list = field(default_factory=list)
    above: int = 0
    total: int = 0
    reason: str = ""

    @property
    def used(self) -> bool:
        """Whether maps are computed from cached signals at this frontier."""
        return not self.reason

    def describe(self) -> dict:
        """The record an explainer keeps (``Explainer.frontier``): names, shapes, bytes per target."""
        per_target = sum(int(np.prod(t.shape[1:])) * t.dtype.size for t in self.tensors)
        return {"used": self.used, "reason": self.reason,
                "tensors": [t.name for t in self.tensors],
                "shapes": [tuple(t.shape[1:]) for t in self.tensors],
                "bytes_per_target": per_target if self.tensors else 0,
                "work_above": self.above, "work": self.total}


def _ancestors(tensors) -> set:
    """Every op the ``tensors`` are computed from (data and control edges)."""
    seen, stack = set(), [t.op for t in tensors]
    while stack:
        op = stack.pop()
        if op not in seen:
            seen.add(op)
            stack += [t.op for t in op.inputs] + list(op.control_inputs)
    return seen


def _static(op) -> bool:
    return op.type in FOLDED and all(t.shape.is_fully_defined() for t in op.inputs)


def _dependents(graph, sources, within: set, folding: bool = True) -> set:
    """Ops of ``within`` reached from the ``sources`` tensors (graph order is topological)."""
    reached, sources = set(), {t.ref() for t in sources}
    for op in graph.get_operations():
        if op not in within or (folding and _static(op)):
            continue
        if any(t.ref() in sources or t.op in reached for t in op.inputs) or any(c in reached for c in op.control_inputs):
            reached.add(op)
    return reached


def reads_inputs(frontier: Frontier, xs: list) -> bool:
    """Whether a frontier tensor is computed from an input other than through a folded shape.

    An independent check of :func:`find`'s result, made before any signal is cached: a frontier
    placed above an input-dependent op (one op too high) would serve one input's signal for another.
    """
    inputs, folded = {t.op for t in xs}, {t.ref() for t, _ in frontier.folds}
    seen, stack = set(), [t.op for t in frontier.tensors]
    while stack:
        op = stack.pop()
        if op in inputs:
            return True
        if op not in seen:
            seen.add(op)
            stack += [t.op for t in op.inputs if t.ref() not in folded] + list(op.control_inputs)
    return False


def _constant(tensor):
    """The value of a folded shape op's output."""
    op = tensor.op
    shape = op.inputs[tensor.value_index if op.type == "ShapeN" else 0].shape.as_list()
    value = {"Shape": shape, "ShapeN": shape, "Size": int(np.prod(shape)), "Rank": len(shape)}[op.type]
    return np.asarray(value, tensor.dtype.as_numpy_dtype)


def _work(ops) -> int:
    """Elements the computing ``ops`` produce: a proxy of their cost (memory traffic), shapes being static."""
    return sum(int(np.prod(t.shape)) if t.shape.is_fully_defined() else 1
               for op in ops if op.type not in _FREE for t in op.outputs)


def find(graph, xs: list, y, outputs: list) -> Frontier:
    """The frontier of the map computation ``outputs`` of ``xs`` and the target ``y`` in ``graph``.

    Parameters
    ----------
    graph : tf.Graph
        The traced map function's graph.
    xs : list of tf.Tensor
        Its input placeholders, statically shaped, batch axis first.
    y : tf.Tensor
        Its target placeholder ``(B, ...)``.
    outputs : list of tf.Tensor
        The maps.

    Returns
    -------
    Frontier
        With ``reason`` set when there is no frontier worth caching (nothing
        above it, a frontier tensor without the batch axis, too little work).
    """
    needed = _ancestors(outputs)
    on_x = _dependents(graph, xs, needed)
    on_y = _dependents(graph, [y], needed, folding=False) - on_x
    tensors = [t for op in graph.get_operations() if op in on_y for t in op.outputs
               if any(c in on_x for c in t.consumers())]
    tensors += [t for t in outputs if t.op in on_y]  # a map of the target alone (no switch at all)
    tensors = list({t.ref(): t for t in tensors}.values())
    above = _ancestors(tensors) - on_x if tensors else set()
    folds = [(t, _constant(t)) for op in above if _static(op) for t in op.outputs]
    frontier = Frontier(tensors, folds, _work(above), _work(needed))
    batch = y.shape[0]
    if not tensors:
        frontier.reason = "every backward step reads the input: nothing above a frontier"
    elif any(t.shape.rank is None or t.shape.rank == 0 or t.shape[0] != batch for t in tensors):
        frontier.reason = "a frontier tensor has no batch axis: its signal is not one per target"
    elif frontier.above < WORTH * frontier.total:
        frontier.reason = (f"too little work above the frontier ({frontier.above / frontier.total:.0%} of the "
                           f"elements computed, under {WORTH:.0%}): caching would not pay")
    return frontier
