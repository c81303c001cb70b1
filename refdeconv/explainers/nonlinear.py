"""The forward ops whose gradient is not the rule's: every nonlinearity that is not a ReLU, read
from the traced graph.

DeconvNet and Guided Backprop change the backward pass at ReLUs only; every other nonlinearity
keeps its ordinary gradient, and the explainer names them (``rules_applied``, and one warning).
A list of the nonlinearities someone remembered misses the ones nobody listed (Keras's exact
GELU emits ``Erfc``, which such a list missed). So the graph is read the other way round: an op
on a path from the inputs to the score is a nonlinearity unless it is known to be linear in
what it reads from the inputs. An op nobody listed is therefore named, never passed over: the
list below can only make the record say too much, never too little.

An op is linear in the input when it is in :data:`LINEAR` (whatever its other operands), or in
:data:`LINEAR_IN_ONE` with at most one operand computed from the inputs (``x * w``, ``x @ W``,
``conv(x, k)``: but ``x * sigmoid(x)`` is not), or a division whose divisor is not computed from
the inputs. ReLUs (:data:`~.rules.RELU_OPS`, and the capped and thresholded ones routed by
:mod:`.override`) get the rule and are recorded apart; max-pooling's switches are the method's
own (:mod:`.switches`) and ``reduce_max`` (global max-pooling) is its one-window case; ops with
no floating-point output (comparisons, ``argmax``) carry no gradient. Inside a function graph
that an op calls (a ``while`` loop's body, a nested ``tf.function``), the graph's arguments count
as computed from the inputs, its captured variables not.
"""

from __future__ import annotations

from .rules import FAMILY_SCOPE, NOT_A_RELU_SCOPE, RELU_OPS, descendants

#: Ops linear in their operands computed from the inputs, whatever the others (shapes, indices,
#: paddings, constants); structural ops that move or copy values; ops that call function graphs
#: (their bodies are read op by op).
LINEAR = frozenset({
    "Add", "AddV2", "AddN", "Sub", "Neg", "BiasAdd", "Sum", "Mean", "AvgPool", "AvgPool3D", "Cumsum",
    "Reshape", "Transpose", "ExpandDims", "Squeeze", "Pad", "PadV2", "MirrorPad", "Slice", "StridedSlice",
    "ConcatV2", "Concat", "Pack", "Unpack", "Split", "SplitV", "Tile", "BroadcastTo", "ReverseV2",
    "GatherV2", "GatherNd", "DepthToSpace", "SpaceToDepth", "SpaceToBatchND", "BatchToSpaceND",
    "ResizeNearestNeighbor", "ResizeBilinear", "Cast", "Identity", "IdentityN", "Snapshot", "EnsureShape",
    "CheckNumerics", "StopGradient", "PreventGradient", "ZerosLike", "OnesLike", "Placeholder", "Const",
    "ReadVariableOp", "NoOp", "Shape", "ShapeN", "Size", "Rank", "TensorListFromTensor", "TensorListStack",
    "TensorListGetItem", "TensorListSetItem", "TensorListReserve", "TensorListElementShape",
    "While", "StatelessWhile", "If", "StatelessIf", "Case", "StatelessCase", "PartitionedCall",
    "StatefulPartitionedCall", "Enter", "Exit", "Merge", "Switch", "NextIteration", "LoopCond",
})

#: Products: linear in the input while at most one operand is computed from it.
LINEAR_IN_ONE = frozenset({
    "Mul", "MatMul", "BatchMatMul", "BatchMatMulV2", "BatchMatMulV3", "Einsum", "Conv2D", "Conv3D",
    "DepthwiseConv2dNative", "Conv2DBackpropInput", "Conv3DBackpropInputV2", "Conv", "SelectV2", "Select",
})

#: Divisions: linear in the input while the divisor is not computed from it.
DIVISIONS = frozenset({"RealDiv", "Div", "DivNoNan"})

#: Max-pooling's switches (the method's own) and ``reduce_max``, its one-window case.
SWITCHES = frozenset({"MaxPool", "MaxPoolV2", "MaxPool3D", "MaxPoolWithArgmax", "Max"})


def _arguments(graph) -> list:
    """A function graph's arguments that carry values (not captured variables' handles)."""
    return [t for t in graph.inputs if t.dtype.name != "resource"]


def _is_nonlinear(op, dependent: set) -> bool:
    if op.type in LINEAR or op.type in SWITCHES or op.type in RELU_OPS:
        return False
    if not any(t.dtype.is_floating for t in op.outputs):
        return False
    reads = [t.op in dependent for t in op.inputs]
    if op.type in LINEAR_IN_ONE:
        return sum(reads) > 1 if op.type not in ("SelectV2", "Select") else reads[0]
    if op.type in DIVISIONS:
        return reads[1]
    return True


def find(graph, sources, walked: list) -> dict:
    """``op name -> op type`` of the non-ReLU nonlinearities among ``walked``.

    Parameters
    ----------
    graph : tf.Graph
        The traced forward pass (read before ``tf.gradients`` runs).
    sources : list of tf.Tensor
        The inputs.
    walked : list of (tf.Operation, str)
        The ops on a path from the inputs to the scores, named
        (:func:`~.rules.forward_walk`).

    Notes
    -----
    Ops of the capped and thresholded ReLUs routed by :mod:`.override` (:data:`~.rules.FAMILY_SCOPE`)
    are ReLUs; ops of the nonlinearities Keras computes through ``relu6`` (hard sigmoid, hard
    swish, PReLU, leaky ReLUs: :data:`~.rules.NOT_A_RELU_SCOPE`) are recorded by their ReLU op.
    """
    dependent = {graph: descendants(sources)}
    found = {}
    for op, name in walked:
        if op.graph not in dependent:  # a called function graph
            dependent[op.graph] = descendants(_arguments(op.graph))
        if FAMILY_SCOPE not in op.name and NOT_A_RELU_SCOPE not in op.name and _is_nonlinear(op, dependent[op.graph]):
            found[name] = op.type
    return found
