"""Fusing what an exporter split: a ReLU capped by the nodes after it is one capped ReLU.

TensorFlow's ``clip_by_value`` after a ``Relu`` (Keras's ``ReLU(max_value=m)``, ``m != 6``) exports
through tf2onnx as ``Relu -> Min(., m) -> Max(., 0)``. Read node by node, DeconvNet would rectify
at the ``Relu`` and the ``Max`` while the ``Min`` kept its own derivative (zero above the cap): a
different map from the Keras model's, where the capped ReLU as a whole takes the rule. The reader
fuses the three into one capped ReLU of kind ``"Clip"``.
"""

from __future__ import annotations

import numpy as np

from .nodes import relu_kind


def capped_relus(nodes: list, constants: dict, kept: set):
    """ReLUs capped by the nodes after them, as TensorFlow's ``clip_by_value`` after a ``Relu``
    exports (Keras's ``ReLU(max_value=m)``, ``m != 6``): ``Relu -> Min(., m) [-> Max(., 0)]``, each
    value read by the next node only and none of them in ``kept`` (the values a caller reads).

    Returns ``(caps, aliases)``: the ReLU's output name -> its cap ``m`` and the cap constant's rank
    (a cap of higher rank than the value would broadcast it: refused at the trace), and the outputs of the
    ``Min`` (and ``Max``) -> the ReLU's output, which they equal once the cap is fused in. A capped
    ReLU is one ReLU of kind ``"Clip"``, active for ``0 < z <= m`` (``clip_by_value``'s ``Minimum``
    passes the gradient at the cap), so both readers of a Keras model agree.
    """
    readers: dict = {}
    for node in nodes:
        for name in node.input:
            readers.setdefault(name, []).append(node)

    def scalar_constant(node, value):
        """The other operand of a two-input ``node`` reading ``value``, if it is a constant of one element."""
        other = [name for name in node.input if name != value]
        if len(node.input) != 2 or len(other) != 1 or other[0] not in constants or np.size(constants[other[0]]) != 1:
            return None
        return constants[other[0]]

    def sole_reader(value):
        found = readers.get(value, [])
        return found[0] if len(found) == 1 and value not in kept else None

    caps, aliases = {}, {}
    for node in nodes:
        if relu_kind(node, constants) not in ("Relu", "Max"):
            continue
        out = node.output[0]
        cap_node = sole_reader(out)
        cap = None if cap_node is None or cap_node.op_type != "Min" else scalar_constant(cap_node, out)
        if cap is None or np.asarray(cap).item() <= 0:
            continue
        caps[out], aliases[cap_node.output[0]] = (np.asarray(cap, np.float64).item(), np.ndim(cap)), out
        floor = sole_reader(cap_node.output[0])
        zero = None if floor is None or floor.op_type != "Max" else scalar_constant(floor, cap_node.output[0])
        if zero is not None and np.asarray(zero).item() == 0 and np.ndim(zero) <= np.ndim(cap):
            aliases[floor.output[0]] = out
    return caps, aliases
