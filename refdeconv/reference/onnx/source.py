"""Reading an ONNX model once, and tracing it into a program for the shapes it is given.

See :mod:`refdeconv.reference.onnx` for the whole picture.
"""

from __future__ import annotations

import os

import numpy as np

from .. import activations as act
from ..program import Program
from .arithmetic import Binary
from .fusion import capped_relus
from .nodes import Node, Value, relu_kind, unsupported
from .translations import TRANSLATIONS

#: Nodes of the shape bookkeeping: folded from the traced shape of a value, never differentiated.
SHAPES = ("Shape", "Size")
#: Reference operations whose derivative reads forward values (besides the ReLU family and ``Binary``).
NONLINEAR = ("Elementwise", "Pointwise", "Softmax", "LogSoftmax", "Standardize", "Reduce", "MaxPool", "Product")
#: ONNX element types the oracle reads as real inputs (FLOAT, DOUBLE, FLOAT16, BFLOAT16).
REAL_TYPES = (1, 11, 10, 16)


def is_onnx(model) -> bool:
    """Whether ``model`` is an ``onnx.ModelProto`` or a path to a ``.onnx`` file."""
    if isinstance(model, (str, os.PathLike)):
        return str(model).lower().endswith(".onnx")
    return type(model).__name__ == "ModelProto" and type(model).__module__.startswith("onnx")


def _load(model):
    import onnx

    if isinstance(model, (str, os.PathLike)):
        try:
            model = onnx.load(os.fspath(model))
        except (OSError, ValueError) as err:
            raise ValueError(f"model: cannot read {os.fspath(model)!r} as ONNX: {err}") from None
        except Exception as err:  # noqa: BLE001 - protobuf's DecodeError: not an ONNX file
            raise ValueError(f"model: {os.fspath(model)!r} is not an ONNX model ({type(err).__name__})") from None
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as err:
        raise ValueError(f"model: not a valid ONNX model: {str(err).splitlines()[0]}") from None
    return model


def _dims(value_info) -> tuple:
    """The declared shape of a graph input: an int per fixed axis, ``None`` per free one."""
    shape = value_info.type.tensor_type.shape
    return tuple(d.dim_value if d.HasField("dim_value") else None for d in shape.dim)


class OnnxSource:
    """An ONNX model read once: weights (float64), inputs, nodes, and a trace per input shape.

    Parameters
    ----------
    model : onnx.ModelProto, str or os.PathLike
        The model, or the path of a ``.onnx`` file (external data beside it is read too).
    output_layer : str, optional
        The name of a value of the graph (a node's output) to cut at; ``None`` for the graph's
        one output.

    Raises
    ------
    ValueError
        The file cannot be read or is not a valid ONNX model; the graph has several outputs and
        ``output_layer`` is ``None``; ``output_layer`` names no value of the graph.
    NotImplementedError
        A node whose op type the reader does not model (named), an input that is not real-valued,
        or an op set other than the default domain's.
    """

    def __init__(self, model, output_layer=None):
        from onnx import numpy_helper

        self.model = _load(model)
        graph = self.model.graph
        self.opset = next((o.version for o in self.model.opset_import if o.domain in ("", "ai.onnx")), 0)
        self.constants = {}
        for init in graph.initializer:
            array = numpy_helper.to_array(init)
            self.constants[init.name] = array.astype(np.float64) if np.issubdtype(array.dtype, np.floating) else array
        for node in graph.node:  # Constant nodes: known at read time (a Clip's bounds, a Max's 0...)
            if node.op_type == "Constant" and not node.input:
                from onnx.reference import ReferenceEvaluator

                self.constants[node.output[0]] = np.asarray(ReferenceEvaluator(node).run(None, {})[0])
        self.inputs = [i for i in graph.input if i.name not in self.constants]
        self.input_names = [i.name for i in self.inputs]
        self.input_shapes = [_dims(i) for i in self.inputs]
        for i in self.inputs:
            if i.type.tensor_type.elem_type not in REAL_TYPES:
                raise NotImplementedError(f"reference: graph input {i.name!r} is not real-valued "
                                          f"(ONNX element type {i.type.tensor_type.elem_type}); the oracle "
                                          "differentiates real inputs only")
        self.nodes = list(graph.node)
        static = set(self.constants)  # values known before any input is: weights and the shape subgraphs
        for node in self.nodes:
            if node.op_type in SHAPES or all(not name or name in static for name in node.input):
                static.update(node.output)  # folded when traced, by onnx's evaluator, whatever its op type
            elif node.domain not in ("", "ai.onnx"):
                raise unsupported(node, f"domain {node.domain!r}")
            elif node.op_type not in TRANSLATIONS:
                raise unsupported(node, "an op the ONNX reader does not model")
        produced = {o for node in self.nodes for o in node.output} | set(self.input_names)
        if output_layer is None:
            if len(graph.output) != 1:
                raise ValueError(f"model: the graph has {len(graph.output)} outputs "
                                 f"{[o.name for o in graph.output]}; name the one to explain with output_layer")
            output_layer = graph.output[0].name
        elif not isinstance(output_layer, str) or output_layer not in produced:
            raise ValueError(f"output_layer: expected the name of a value of the graph, got {output_layer!r}")
        self.output = output_layer
        self.caps, self.aliases = capped_relus(self.nodes, self.constants, {output_layer})
        fixed = {s[0] for s in self.input_shapes if s and s[0] is not None}
        self.batch = fixed.pop() if len(fixed) == 1 else None
        self._programs = {}

    def relu_kinds(self) -> list[str]:
        """The kinds of ReLU among the nodes (``"Relu"``, ``"Clip"``, ``"Max"``), sorted; a ReLU
        capped by a following ``Min`` is a ``"Clip"``."""
        kinds = {"Clip" if node.output[0] in self.caps else relu_kind(node, self.constants)
                 for node in self.nodes if node.output[0] not in self.aliases}
        return sorted(k for k in kinds if k)

    def run(self, xs: list):
        """``(program, values)``: the program for inputs of the shapes of ``xs`` (traced on ``xs`` the
        first time, kept for later calls) and every value of its forward pass on ``xs``."""
        key = tuple(x.shape for x in xs)
        if key in self._programs:
            program = self._programs[key]
            return program, program.forward(xs)
        program, values = self._trace(xs)
        self._programs[key] = program
        return program, values

    def program(self, xs: list) -> Program:
        """The program for inputs of the shapes of ``xs`` (:meth:`run` without the values)."""
        key = tuple(x.shape for x in xs)
        return self._programs[key] if key in self._programs else self.run(xs)[0]

    def _trace(self, xs: list):
        from onnx.reference import ReferenceEvaluator

        program = Program(input_shapes=[x.shape for x in xs])
        values = list(xs)
        env = dict(self.constants)
        env.update({name: Value(i, x) for i, (name, x) in enumerate(zip(self.input_names, xs))})
        for node in self.nodes:
            args = [env[name] if name else None for name in node.input]
            if node.output[0] in self.aliases:  # the Min (and Max) of a capped ReLU: fused into it
                env[node.output[0]] = env[self.aliases[node.output[0]]]
                program.nodes.append({"name": node.name, "type": f"{node.op_type} (fused: the cap of a ReLU)"})
            elif node.op_type in SHAPES and isinstance(args[0], Value):
                env[node.output[0]] = _shape(node, args[0].array)
            elif all(not isinstance(a, Value) for a in args):  # weights and shapes only: fold it
                feeds = {name: a for name, a in zip(node.input, args) if name}
                outs = [np.asarray(o) for o in ReferenceEvaluator(node).run(None, feeds)]
                outs = [o.astype(np.float64) if np.issubdtype(o.dtype, np.floating) else o for o in outs]
                env.update({name: o for name, o in zip(node.output, outs) if name})
            else:
                context = Node(node, args, self.opset, len(xs[0]), self.model.producer_name)
                translated = TRANSLATIONS[node.op_type](context)
                if node.output[0] in self.caps:  # Relu -> Min(., cap) [-> Max(., 0)]: one capped ReLU
                    cap, rank = self.caps[node.output[0]]
                    if rank > values[args[translated[0][1][0]].index].ndim:  # the cap would broadcast the value up
                        raise unsupported(node, f"a cap of rank {rank} above a value of lower rank")
                    translated = [(act.ReLU(0.0, cap, kind="Clip", cap_active=True), translated[0][1])]
                program.nodes.append({"name": node.name, "type": node.op_type,
                                      "nonlinear": _keeps_derivative(translated, args)})
                for name, (op, positions) in zip(node.output, translated):
                    if not name:
                        continue
                    ins = [args[p].index for p in positions]
                    for step in op if isinstance(op, list) else [op]:  # a chain of operations
                        values.append(step.forward(*(values[i] for i in ins)))
                        ins = [program.emit([step], ins)]
                    env[name] = Value(ins[0], values[-1])
            if self.output in node.output:
                break
        result = env.get(self.output)
        if not isinstance(result, Value):
            raise ValueError(f"output_layer: the value {self.output!r} does not depend on the inputs")
        program.output = result.index
        return program, values


def _keeps_derivative(translated: list, args: list) -> bool:
    """Whether a translated node is a nonlinearity other than a ReLU: its derivative reads the
    forward values, and it keeps it under every rule (a sigmoid, a softmax, a normalisation, a
    product of two traced values, a max-pool's switches...)."""
    op = translated[0][0]
    op = op[0] if isinstance(op, list) else op
    op = getattr(op, "op", op)  # through ChannelsFirst
    if isinstance(op, act.ReLU):
        return False
    if isinstance(op, Binary):
        return op.kind in ("Pow", "Max", "Min") or not op.constants and op.kind in ("Mul", "Div")
    return type(op).__name__ in NONLINEAR


def _shape(node, x: np.ndarray) -> np.ndarray:
    """``Shape`` (with its ``start``/``end``) or ``Size`` of a traced value."""
    if node.op_type == "Size":
        return np.array(x.size, np.int64)
    attrs = {a.name: a.i for a in node.attribute}
    start, end = attrs.get("start", 0), attrs.get("end", x.ndim)
    return np.array(x.shape[start:end], np.int64)
