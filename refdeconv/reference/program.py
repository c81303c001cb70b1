"""The compiled program every reader emits: a straight-line list of reference operations, run
forward and backward.

A reader (:mod:`~refdeconv.reference.graph` for Keras, :mod:`~refdeconv.reference.onnx` for
ONNX) turns a model into a :class:`Program`: steps ``(operation, input ids, output id)`` in
topological order. Everything after the reader is shared: the forward pass, the reverse pass
(which walks the steps backwards and accumulates the vector-Jacobian products of every consumer
of a value: branches, residual additions, the textbook reverse mode), the rules, the tie rule.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Program:
    """A model as reference operations: values ``0 .. k-1`` are its ``k`` inputs, ``output`` the result;
    ``nodes`` names what the reader translated (``{"name", "type"}`` per ONNX node), where it records it."""

    input_shapes: list
    output: int = 0
    steps: list = field(default_factory=list)
    nodes: list = field(default_factory=list)

    def emit(self, operations: list, inputs: list[int]) -> int:
        """Append a chain of operations; the first reads ``inputs``. Returns the last value id."""
        for op in operations:
            out = len(self.input_shapes) + len(self.steps)
            self.steps.append((op, tuple(inputs), out))
            inputs = [out]
        return inputs[0]

    def forward(self, xs: list) -> list:
        """All values of the forward pass (``values[:k] = xs``, ``values[output]`` the result)."""
        values = list(xs)
        for op, ins, _ in self.steps:
            values.append(op.forward(*(values[i] for i in ins)))
        return values

    def backward(self, values: list, seed: np.ndarray, rule: str) -> list:
        """Reverse pass from ``seed`` at the output to each input, under ``rule``."""
        grads = {self.output: seed}
        for op, ins, out in reversed(self.steps):
            if out not in grads:
                continue
            for i, g in zip(ins, op.vjp(grads.pop(out), [values[i] for i in ins], values[out], rule)):
                grads[i] = grads[i] + g if i in grads else g
        return [grads.get(i, np.zeros_like(values[i])) for i in range(len(self.input_shapes))]

    def relu_kinds(self) -> list[str]:
        """The kinds of ReLU the program holds (each may be given its own rule), sorted."""
        return sorted({op.kind for op, _, _ in self.steps if hasattr(op, "kind")})
