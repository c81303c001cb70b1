"""One ONNX node during a trace: its attributes and inputs, and the refusal of what the reader does not model.

A translation takes a :class:`Node` (its attributes, and its inputs: constants as NumPy arrays,
traced values as :class:`Value`) and returns one ``(operation, positions)`` pair per node output:
a reference operation (or a chain of them, as a list) and the positions of the node inputs it
reads (the traced ones; constants are folded into the operation). The families live in
:mod:`.elementwise`, :mod:`.arithmetic`, :mod:`.windowed` and :mod:`.shaping`; their table in
:mod:`.translations`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Value:
    """A traced value: its id in the program and its array on the inputs being traced."""

    index: int
    array: np.ndarray


def unsupported(node, why: str) -> NotImplementedError:
    """The error for a node the reader cannot model (``NotImplementedError``, naming it and its op type)."""
    return NotImplementedError(
        f"reference: node {node.name or node.output[0]!r} of op type {node.op_type} is not supported ({why}); "
        "see the coverage table in docs/verification.md for the ONNX ops the NumPy reference models"
    )


class Node:
    """An ONNX node being translated: attributes by name, inputs as constants or :class:`Value`, the
    number of ``samples`` the graph is traced for, and the graph's ``producer`` (``"pytorch"``,
    ``"tf2onnx"``...: whose gradient conventions its ties follow)."""

    def __init__(self, proto, args: list, opset: int, samples: int, producer: str = ""):
        from onnx import helper

        self.proto, self.args, self.opset, self.samples, self.producer = proto, args, opset, samples, producer
        self.name, self.op_type = proto.name, proto.op_type
        self.attrs = {a.name: helper.get_attribute_value(a) for a in proto.attribute}
        for key, value in self.attrs.items():
            if isinstance(value, bytes):
                self.attrs[key] = value.decode()

    def refuse(self, why: str) -> NotImplementedError:
        """:func:`unsupported` for this node."""
        return unsupported(self.proto, why)

    def traced(self, position: int = 0) -> np.ndarray:
        """The traced array of input ``position``; refused when it is a constant."""
        arg = self.args[position] if position < len(self.args) else None
        if not isinstance(arg, Value):
            raise self.refuse(f"input {position} is not computed from the model's inputs")
        return arg.array

    def constant(self, position: int, default=None):
        """Input ``position`` as a constant array (``default`` when it is absent); refused when traced."""
        arg = self.args[position] if position < len(self.args) else None
        if arg is None:
            return default
        if isinstance(arg, Value):
            raise self.refuse(f"input {position} is computed from the model's inputs, not a constant")
        return arg

    def ints(self, name: str, position: int, default=None):
        """An integer list given as attribute ``name`` (older op sets) or as constant input ``position``."""
        if name in self.attrs:
            return [int(v) for v in self.attrs[name]]
        value = self.constant(position)
        return default if value is None else [int(v) for v in np.ravel(value)]

    def is_traced(self, position: int) -> bool:
        """Whether input ``position`` is a traced value."""
        return position < len(self.args) and isinstance(self.args[position], Value)

    def rank(self) -> int:
        """The rank of the first input."""
        return self.traced(0).ndim

    def axis(self, axis: int, rank: int | None = None, batch: bool = False) -> int:
        """``axis`` made non-negative; the batch axis refused unless ``batch``."""
        rank = self.rank() if rank is None else rank
        a = axis + rank if axis < 0 else axis
        if not 0 <= a < rank:
            raise self.refuse(f"axis {axis} out of range for rank {rank}")
        if a == 0 and not batch:
            raise self.refuse("it acts along the batch axis, which mixes samples")
        return a


def clip_bounds(node, constants: dict):
    """``(min, max)`` of a ``Clip`` node (its proto) from its attributes (older op sets) or its
    constant inputs: ``None`` where absent, NaN where computed from the model's inputs."""
    from onnx import helper

    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    if "min" in attrs or "max" in attrs:
        return attrs.get("min"), attrs.get("max")
    bounds = []
    for position in (1, 2):
        name = node.input[position] if position < len(node.input) else ""
        if not name:
            bounds.append(None)
        else:  # a traced bound is no constant 0: NaN
            bounds.append(np.asarray(constants[name], np.float64).item() if name in constants else np.nan)
    return tuple(bounds)


def relu_kind(node, constants: dict) -> str | None:
    """The kind of ReLU ``node`` is (``"Relu"``, ``"Clip"``, ``"Max"``), or ``None`` for any other node.

    ``Clip`` is a ReLU when its lower bound is the constant 0 (``ReLU6``, ``clamp(min=0)``), with
    or without an upper bound; ``Max`` when one of its two inputs is the constant 0.
    """
    if node.op_type == "Relu":
        return "Relu"
    if node.op_type == "Clip":
        low, _ = clip_bounds(node, constants)
        return "Clip" if low == 0 else None
    if node.op_type == "Max" and len(node.input) == 2:
        zeros = [name in constants and np.size(constants[name]) == 1 and np.all(constants[name] == 0)
                 for name in node.input]
        return "Max" if sum(zeros) == 1 else None
    return None
