"""ONNX activations and normalisations: the ReLU family (``Relu``, ``Clip`` with a lower bound of
0), which takes the rule, and every other nonlinearity, which keeps its derivative.

Boundary conventions (ONNX defines no derivatives; these follow PyTorch, the main exporter, and
TensorFlow where they agree): ``Relu`` is active for ``z > 0``; a ``Clip`` ReLU for
``0 < z < max`` (PyTorch's ``ReLU6``/``hardtanh`` and TensorFlow's fused ``Relu6``: neither
bound is active); ``LeakyRelu`` and ``PRelu`` take their slope at ``z <= 0``, ``HardSigmoid``
and ``HardSwish`` follow PyTorch's ``hardsigmoid``/``hardswish`` backward.
"""

from __future__ import annotations

import numpy as np
from scipy.special import erf

from .. import activations as act
from .. import linear
from ..normalization import Standardize
from .nodes import Value, clip_bounds


class Pointwise(act.Elementwise):
    """An element-wise non-ReLU function with its derivative: ordinary VJP under every rule."""

    def __init__(self, name: str, function, derivative):
        self.name, self.params, self.options = name, (), {}
        self.function, self.derivative = function, derivative


def _relu(node):
    return [(act.ReLU(kind="Relu"), [0])]


def _clip(node):
    constants = {name: arg for name, arg in zip(node.proto.input, node.args) if name and not isinstance(arg, Value)}
    low, high = clip_bounds(node.proto, constants)
    if low != 0 or high is not None and np.isnan(high):
        raise node.refuse(f"a Clip with bounds ({low}, {high}) is not a ReLU (a bound computed from the model's "
                          "inputs is NaN here), and other clips are not modelled")
    return [(act.ReLU(0.0, high, kind="Clip", cap_active=False), [0])]


def _leaky(node):
    slope = float(node.attrs.get("alpha", 0.01))
    return [(Pointwise("LeakyRelu", lambda z: np.where(z > 0, z, slope * z), lambda z: np.where(z > 0, 1.0, slope)),
             [0])]


def _prelu(node):
    slope = np.asarray(node.constant(1), np.float64)
    return [(Pointwise("PRelu", lambda z: np.where(z > 0, z, slope * z), lambda z: np.where(z > 0, 1.0, slope)), [0])]


def _hard_sigmoid(node):
    alpha, beta = float(node.attrs.get("alpha", 0.2)), float(node.attrs.get("beta", 0.5))
    return [(Pointwise("HardSigmoid", lambda z: np.clip(alpha * z + beta, 0.0, 1.0),
                       lambda z: np.where((alpha * z + beta > 0) & (alpha * z + beta < 1), alpha, 0.0)), [0])]


def _hard_swish_derivative(z):  # PyTorch's hardswish_backward
    return np.where(z < -3.0, 0.0, np.where(z <= 3.0, z / 3.0 + 0.5, 1.0))


def _named(name, function, derivative):
    return lambda node: [(Pointwise(name, function, derivative), [0])]


def _elu(node):
    return [(act.Elementwise("elu", alpha=float(node.attrs.get("alpha", 1.0))), [0])]


_SQRT_HALF, _SQRT_2_OVER_PI, _PHI = np.sqrt(0.5), np.sqrt(2.0 / np.pi), 1.0 / np.sqrt(2.0 * np.pi)


def _gelu_exact(z):
    return 0.5 * z * (1.0 + erf(z * _SQRT_HALF))


def _gelu_exact_derivative(z):  # Phi(z) + z phi(z)
    return 0.5 * (1.0 + erf(z * _SQRT_HALF)) + z * _PHI * np.exp(-0.5 * z * z)


def _gelu_tanh(z):
    return 0.5 * z * (1.0 + np.tanh(_SQRT_2_OVER_PI * (z + 0.044715 * z**3)))


def _gelu_tanh_derivative(z):
    t = np.tanh(_SQRT_2_OVER_PI * (z + 0.044715 * z**3))
    return 0.5 * (1.0 + t) + 0.5 * z * (1.0 - t * t) * _SQRT_2_OVER_PI * (1.0 + 3 * 0.044715 * z * z)


def _gelu(node):
    """ONNX ``Gelu`` (op set 20) with the specification's exact constants (Keras's ``gelu`` builds
    its constants in float32, which :mod:`~refdeconv.reference.activations` follows for Keras models)."""
    if node.attrs.get("approximate", "none") == "tanh":
        return [(Pointwise("Gelu", _gelu_tanh, _gelu_tanh_derivative), [0])]
    return [(Pointwise("Gelu", _gelu_exact, _gelu_exact_derivative), [0])]


def _softmax(kind):
    def translate(node):
        axis = node.axis(int(node.attrs.get("axis", -1 if node.opset >= 13 else 1)))
        if node.opset < 13 and axis != node.rank() - 1:  # older op sets flatten the axes from `axis` on
            raise node.refuse(f"op set {node.opset} with axis {axis} before the last: a softmax over flattened axes")
        return [(kind(axis), [0])]

    return translate


def _batch_norm(node):
    if node.attrs.get("training_mode", 0) or len([o for o in node.proto.output if o]) > 1:
        raise node.refuse("training mode (batch statistics)")
    gamma, beta, mean, var = (np.asarray(node.constant(i), np.float64) for i in (1, 2, 3, 4))
    scale = gamma / np.sqrt(var + float(node.attrs.get("epsilon", 1e-5)))
    shape = (-1,) + (1,) * (node.rank() - 2)  # per channel, channels first
    return [(linear.Affine(scale.reshape(shape), (beta - mean * scale).reshape(shape)), [0])]


def _layer_norm(node):
    if len([o for o in node.proto.output if o]) > 1:
        raise node.refuse("its mean and inverse standard deviation outputs")
    rank = node.rank()
    axis = node.axis(int(node.attrs.get("axis", -1)))
    scale = np.asarray(node.constant(1), np.float64)
    bias = np.asarray(node.constant(2, 0.0), np.float64)
    return [([Standardize(tuple(range(axis, rank)), float(node.attrs.get("epsilon", 1e-5))),
              linear.Affine(scale, bias)], [0])]


#: Op type -> translation (see :mod:`refdeconv.reference.onnx.nodes`).
TRANSLATIONS = {
    "Relu": _relu,
    "Clip": _clip,
    "LeakyRelu": _leaky,
    "PRelu": _prelu,
    "Sigmoid": lambda node: [(act.Elementwise("sigmoid"), [0])],
    "Tanh": lambda node: [(act.Elementwise("tanh"), [0])],
    "Softplus": lambda node: [(act.Elementwise("softplus"), [0])],
    "Elu": _elu,
    "Gelu": _gelu,
    "Erf": _named("Erf", erf, lambda z: 2.0 / np.sqrt(np.pi) * np.exp(-z * z)),
    "HardSigmoid": _hard_sigmoid,
    "HardSwish": _named("HardSwish", lambda z: z * np.clip(z / 6.0 + 0.5, 0.0, 1.0), _hard_swish_derivative),
    "Exp": _named("Exp", np.exp, np.exp),
    "Sqrt": _named("Sqrt", np.sqrt, lambda z: 0.5 / np.sqrt(z)),
    "Reciprocal": _named("Reciprocal", lambda z: 1.0 / z, lambda z: -1.0 / (z * z)),
    "Neg": _named("Neg", np.negative, lambda z: -np.ones_like(z)),
    "Softmax": _softmax(act.Softmax),
    "LogSoftmax": _softmax(act.LogSoftmax),
    "BatchNormalization": _batch_norm,
    "LayerNormalization": _layer_norm,
}
