"""The ONNX reader, op by op (issue 25, item 1): every op type the reader models, with its
attribute variants, read from a graph written with ``onnx.helper``. For each, the oracle's forward
pass equals onnx's own ``ReferenceEvaluator`` (an independent implementation of ONNX) and its
``rule="gradient"`` map equals central finite differences of that evaluator (the tolerance
table's ``float64`` and ``finite-difference`` rows). Inputs are drawn from N(0, 1): no max-pool
window ties and no ReLU sits at a kink, except with probability zero.
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest
from onnx import helper

from tests.reference.onnx_graphs import assert_reads, graph

N = helper.make_node
rng = np.random.default_rng(7)
W = lambda *shape: rng.standard_normal(shape)  # noqa: E731
I64 = lambda *v: np.array(v, np.int64)  # noqa: E731


#: Ops onnx 1.23's evaluator computes in float32 whatever the input (see ``assert_reads``).
FLOAT32_IN_EVALUATOR = ("Erf", "HardSwish", "Gelu", "Gelu tanh")


def one(op, shape, weights=None, opset=17, inputs=("x",), **attrs):
    """A graph of one node ``op`` reading ``x`` (and the named ``weights``)."""
    names = list(inputs) + [k for k in (weights or {}) if k not in inputs]
    return graph([N(op, names, ["y"], **attrs)], shape, weights, opset)


CASES = {
    "Conv pads strides dilations group": one("Conv", (4, 7, 8), {"w": W(6, 2, 3, 2), "b": W(6)}, pads=[1, 0, 2, 1],
                                             strides=[2, 1], dilations=[1, 2], group=2),
    "Conv SAME_UPPER": one("Conv", (2, 5, 6), {"w": W(3, 2, 2, 3)}, auto_pad="SAME_UPPER", strides=[2, 2]),
    "Conv SAME_LOWER": one("Conv", (2, 5, 6), {"w": W(3, 2, 2, 3)}, auto_pad="SAME_LOWER", strides=[2, 1]),
    "Conv VALID 1-D": one("Conv", (2, 9), {"w": W(3, 2, 3), "b": W(3)}, auto_pad="VALID", strides=[2]),
    "Conv 3-D": one("Conv", (2, 4, 4, 4), {"w": W(2, 2, 2, 2, 2)}, pads=[1, 0, 0, 0, 1, 1]),
    # grouped transposed convolutions: onnx 1.23's evaluator fails on them; the PyTorch tier checks them
    "ConvTranspose stride output_padding": one("ConvTranspose", (4, 3, 4), {"w": W(4, 2, 3, 2), "b": W(2)},
                                               strides=[2, 3], pads=[1, 0, 0, 1], output_padding=[1, 2]),
    "ConvTranspose 1-D dilation": one("ConvTranspose", (2, 5), {"w": W(2, 3, 3)}, dilations=[2], strides=[2]),
    "Gemm transB alpha beta": one("Gemm", (5,), {"w": W(3, 5), "c": W(1, 3)}, inputs=("x", "w", "c"), transB=1,
                                  alpha=0.5, beta=2.0),
    "MatMul": one("MatMul", (3, 5), {"w": W(5, 4)}),
    "Add broadcast": one("Add", (3, 4), {"c": W(4)}),
    "Sub constant first": one("Sub", (3, 4), {"c": W(3, 1)}, inputs=("c", "x")),
    "Mul": one("Mul", (2, 3), {"c": W(2, 1)}),
    "Div": one("Div", (2, 3), {"c": W(3) + 3.0}),
    "Pow": one("Pow", (2, 3), {"c": np.array(2.0)}),
    "Relu": one("Relu", (6,)),
    "Clip 0 6": one("Clip", (6,), {"lo": np.array(0.0), "hi": np.array(0.5)}, inputs=("x", "lo", "hi")),
    "Clip 0": one("Clip", (6,), {"lo": np.array(0.0)}, inputs=("x", "lo")),
    "Clip attributes": one("Clip", (6,), opset=6, min=0.0, max=0.7),
    "Max with 0": one("Max", (6,), {"z": np.array(0.0)}, inputs=("x", "z")),
    "Min with constant": one("Min", (6,), {"c": W(6)}, inputs=("x", "c")),
    "LeakyRelu": one("LeakyRelu", (6,), alpha=0.2),
    "PRelu": one("PRelu", (3, 2, 2), {"s": W(3, 1, 1)}),
    "Sigmoid": one("Sigmoid", (6,)),
    "Tanh": one("Tanh", (6,)),
    "Softplus": one("Softplus", (6,)),
    "Elu": one("Elu", (6,), alpha=0.5),
    "Erf": one("Erf", (6,)),
    "Gelu": one("Gelu", (6,), opset=20),
    "Gelu tanh": one("Gelu", (6,), opset=20, approximate="tanh"),
    "HardSigmoid": one("HardSigmoid", (6,), alpha=0.3, beta=0.4),
    "HardSwish": one("HardSwish", (6,)),
    "Softmax": one("Softmax", (3, 4), axis=1),
    "LogSoftmax": one("LogSoftmax", (5,)),
    "Exp Sqrt Reciprocal Neg": graph([N("Exp", ["x"], ["e"]), N("Sqrt", ["e"], ["s"]), N("Reciprocal", ["s"], ["r"]),
                                      N("Neg", ["r"], ["y"])], (5,)),
    "MaxPool ceil pads dilations": one("MaxPool", (2, 7, 8), kernel_shape=[3, 2], strides=[2, 2], pads=[1, 0, 1, 1],
                                       dilations=[1, 2], ceil_mode=1),
    "MaxPool 1-D SAME_UPPER": one("MaxPool", (2, 9), kernel_shape=[3], strides=[2], auto_pad="SAME_UPPER"),
    "AveragePool include pad ceil": one("AveragePool", (2, 7, 7), kernel_shape=[3, 3], strides=[2, 2],
                                        pads=[1, 1, 1, 1], ceil_mode=1, count_include_pad=1),
    "AveragePool include pad ceil overhang": one("AveragePool", (2, 6, 5), kernel_shape=[3, 3], strides=[2, 2],
                                                 pads=[1, 1, 1, 1], ceil_mode=1, count_include_pad=1),
    "AveragePool exclude pad ceil": one("AveragePool", (2, 7, 6), kernel_shape=[3, 2], strides=[2, 2],
                                        pads=[1, 0, 0, 1], ceil_mode=1, count_include_pad=0),
    "GlobalAveragePool": one("GlobalAveragePool", (3, 4, 5)),
    "GlobalMaxPool": one("GlobalMaxPool", (3, 4, 5)),
    "ReduceMean axes input": one("ReduceMean", (3, 4, 5), {"a": I64(2, -1)}, opset=18, inputs=("x", "a"), keepdims=0),
    "ReduceSum": one("ReduceSum", (3, 4), {"a": I64(1)}, inputs=("x", "a")),
    "ReduceMax attribute": one("ReduceMax", (3, 4), opset=13, axes=[2]),
    "BatchNormalization": one("BatchNormalization", (3, 2, 2), {"g": W(3), "b": W(3), "m": W(3), "v": W(3) ** 2 + 0.5},
                              inputs=("x", "g", "b", "m", "v"), epsilon=1e-3),
    "LayerNormalization": one("LayerNormalization", (3, 4), {"s": W(4), "b": W(4)}, inputs=("x", "s", "b"), axis=-1),
    "LayerNormalization over two axes": one("LayerNormalization", (3, 4), {"s": W(3, 4)}, inputs=("x", "s"), axis=1),
    "Flatten": one("Flatten", (2, 3, 2)),
    "Reshape 0 -1": one("Reshape", (2, 3, 4), {"s": I64(0, 0, -1, 2)}),
    "Transpose": one("Transpose", (2, 3, 4), perm=[0, 3, 1, 2]),
    "Slice negative step": one("Slice", (5, 6), {"s": I64(4, 1), "e": I64(0, 6), "a": I64(1, 2), "t": I64(-2, 2)},
                               inputs=("x", "s", "e", "a", "t")),
    "Squeeze Unsqueeze": graph([N("Unsqueeze", ["x", "a"], ["u"]), N("Squeeze", ["u", "a"], ["y"])], (3,),
                               {"a": I64(1)}, opset=13),
    "Pad constant": one("Pad", (2, 3), {"p": I64(0, 0, 1, 0, 0, 2), "v": np.array(0.5)}, inputs=("x", "p", "v")),
    "Gather": one("Gather", (4, 3), {"i": I64(2, 0, 2)}, inputs=("x", "i"), axis=1),
    "Identity Dropout Cast": graph([N("Identity", ["x"], ["a"]), N("Dropout", ["a"], ["b"]),
                                    N("Cast", ["b"], ["y"], to=11)], (4,)),
    "Resize nearest asymmetric floor": one("Resize", (2, 3, 4), {"r": np.zeros(0), "s": np.array([1, 1, 2.0, 1.5])},
                                           inputs=("x", "r", "s"), mode="nearest",
                                           coordinate_transformation_mode="asymmetric", nearest_mode="floor"),
    "Resize nearest half_pixel sizes": graph([N("Shape", ["x"], ["n"], end=2), N("Concat", ["n", "hw"], ["s"], axis=0),
                                              N("Resize", ["x", "", "", "s"], ["y"], mode="nearest")], (2, 3, 4),
                                             {"hw": I64(5, 7)}),
    "Resize linear align_corners": one("Resize", (2, 3, 4), {"r": np.zeros(0), "s": np.array([1, 1, 2.0, 2.0])},
                                       inputs=("x", "r", "s"), mode="linear",
                                       coordinate_transformation_mode="align_corners"),
    "Resize linear pytorch_half_pixel": one("Resize", (2, 3, 4), {"r": np.zeros(0), "s": np.array([1, 1, 1.5, 2.0])},
                                            inputs=("x", "r", "s"), mode="linear",
                                            coordinate_transformation_mode="pytorch_half_pixel"),
}


def _split_concat():
    nodes = [N("Split", ["x", "s"], ["a", "b"], axis=1), N("Relu", ["a"], ["r"]), N("Concat", ["b", "r"], ["y"], axis=1)]
    return graph(nodes, (5, 2), {"s": I64(2, 3)}, opset=13)


def _folded_shape():  # Keras's export of Flatten: the target shape computed from the input's own
    nodes = [N("Shape", ["x"], ["sh"]), N("Gather", ["sh", "zero"], ["n"], axis=0), N("Unsqueeze", ["n", "ax"], ["n1"]),
             N("Concat", ["n1", "minus"], ["target"], axis=0), N("Reshape", ["x", "target"], ["y"])]
    return graph(nodes, (3, 2), {"zero": np.array(0, np.int64), "ax": I64(0), "minus": I64(-1)}, opset=13)


def _folded_any_op():  # tf2onnx's Tensordot shape: a ReduceProd (no translation) of the input's shape
    nodes = [N("Shape", ["x"], ["sh"]), N("Slice", ["sh", "one", "end"], ["tail"]),
             N("ReduceProd", ["tail"], ["size"], keepdims=1), N("Concat", ["minus", "size"], ["target"], axis=0),
             N("Reshape", ["x", "target"], ["y"])]
    return graph(nodes, (3, 2), {"one": I64(1), "end": I64(3), "minus": I64(-1)}, opset=13)


CASES["Split Concat"] = _split_concat()
CASES["shape subgraph of any op folded"] = _folded_any_op()
CASES["shape subgraph folded"] = _folded_shape()


@pytest.mark.parametrize("name", sorted(CASES))
def test_op_against_onnx_evaluator_and_finite_differences(name):
    model = CASES[name]
    shape = [d.dim_value or 2 for d in model.graph.input[0].type.tensor_type.shape.dim]
    x = np.random.default_rng(zlib.crc32(name.encode())).standard_normal(shape)  # fixed: the same inputs every run
    if name.startswith(("Div", "Exp Sqrt")):
        x = np.abs(x) + 0.5  # away from the pole and the square root's edge
    if name.startswith("Pow"):
        x = np.abs(x) + 0.1
    assert_reads(model, x, name, evaluator_key="float32" if name in FLOAT32_IN_EVALUATOR else "float64")
