"""Keras operations written on symbolic tensors (``x + 3.0``, ``x * y``, ``x / 6``) inside a
Functional model, as reference operations.

Keras records such arithmetic as ``keras.ops`` operations (not layers) in the model's graph:
MobileNetV3 builds its hard sigmoid as ``ReLU(6.)(x + 3.0) * (1 / 6)``, ConvNeXt adds its
residuals with ``+``. With one tensor and one constant the operation is affine in the tensor
(:class:`~refdeconv.reference.linear.Affine`); with two tensors it is a merge
(:mod:`~refdeconv.reference.merging`). Anything else is refused, naming the operation.
"""

from __future__ import annotations

import keras
import numpy as np
from keras.src.backend.common.keras_tensor import KerasTensor
from keras.src.ops import numpy as knp

from . import linear, merging
from .reading import unsupported


def _affine(kind, constant: np.ndarray, tensor_first: bool):
    """``x (op) c`` or ``c (op) x`` as ``x * scale + shift``."""
    if kind is knp.Add:
        return linear.Affine(1.0, constant)
    if kind is knp.Subtract:
        return linear.Affine(1.0, -constant) if tensor_first else linear.Affine(-1.0, constant)
    if kind is knp.Multiply:
        return linear.Affine(constant, 0.0)
    return linear.Affine(1.0 / constant, 0.0) if tensor_first else None  # c / x is not affine


_TWO_TENSORS = {
    knp.Add: lambda: merging.WeightedSum((1.0, 1.0)),
    knp.Subtract: lambda: merging.WeightedSum((1.0, -1.0)),
    knp.Multiply: merging.Multiply,
}
_KINDS = (knp.Add, knp.Subtract, knp.Multiply, knp.TrueDivide, knp.Divide)


def translate_operation(operation, node) -> list:
    """Reference operations of one ``keras.ops`` node (``operation`` called as ``node``).

    Raises
    ------
    NotImplementedError
        An operation other than ``-x`` and ``+``, ``-``, ``*``, ``/`` on one tensor and a constant
        or on two tensors of the same rank (``keras.ops`` aligns trailing axes, NumPy's way, where
        Keras's merge layers insert axes after the batch axis: different ranks are refused), or a
        constant that would broadcast the tensor to a larger shape.
    """
    kind = type(operation)
    args = list(node.arguments.args)
    if kind is knp.Negative and len(args) == 1 and not node.arguments.kwargs:
        return [linear.Affine(-1.0, 0.0)]
    if kind not in _KINDS or node.arguments.kwargs or len(args) != 2:
        raise unsupported(operation, "a keras.ops operation other than -x, or +, -, *, / of two operands")
    tensors = [isinstance(a, KerasTensor) for a in args]
    if all(tensors):
        if kind not in _TWO_TENSORS:
            raise unsupported(operation, "the quotient of two tensors")
        if len(args[0].shape) != len(args[1].shape):
            raise unsupported(operation, f"tensors of different ranks {args[0].shape} and {args[1].shape}")
        return [_TWO_TENSORS[kind]()]
    constant = np.asarray(keras.ops.convert_to_numpy(args[1] if tensors[0] else args[0]), np.float64)
    shape = tuple(node.input_tensors[0].shape)
    if tuple(node.outputs[0].shape) != shape:
        raise unsupported(operation, f"a constant of shape {constant.shape} broadcasting the tensor {shape}")
    op = _affine(kind, constant, tensors[0])
    if op is None:
        raise unsupported(operation, "a constant divided by a tensor")
    return [op]
