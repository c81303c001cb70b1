"""The ONNX reader: an ONNX graph as a :class:`~refdeconv.reference.program.Program` of the
reference's own operations, so the rules, the tie rule and the tolerance table stay in one place.

ONNX is the graph every framework exports (``torch.onnx.export``, Keras's
``model.export(format="onnx")``, tf2onnx). :class:`~refdeconv.reference.onnx.source.OnnxSource`
reads a ``ModelProto`` (or a ``.onnx`` file) once: its weights in float64, its inputs, and a
check that every node's op type is one the reader models. It then traces the graph for the
shapes of the inputs it is given: nodes whose inputs are all known at that point (weights,
``Constant``, the shapes of the values: ``Shape``, ``Gather``, ``Concat``, ``Cast``...) are folded
by onnx's own ``ReferenceEvaluator``; every other node becomes reference operations, in the
model's own layout (channels first for PyTorch's exports), through the translations of
:mod:`~refdeconv.reference.onnx.nodes`. The traced program is kept per input shape.

The ReLU family in ONNX is ``Relu``, a ``Clip`` whose lower bound is 0 (``ReLU6``,
``clamp(min=0)``) and ``Max(x, 0)``: they get the rule. Every other nonlinearity keeps its
derivative. Any other op raises ``NotImplementedError`` naming the node and its op type.
"""

from .source import OnnxSource, is_onnx

__all__ = ["OnnxSource", "is_onnx"]
