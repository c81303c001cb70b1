"""The Keras reader: a Keras 3 ``Sequential`` or ``Functional`` model as a
:class:`~refdeconv.reference.program.Program` of reference operations.

Nested models (any depth, reused or not) are inlined call by
call, so a layer or sub-model called twice becomes two sets of steps sharing
weights.
"""

from __future__ import annotations

import keras
import numpy as np

from ..keras_model import layer_output
from .layers import translate
from .operations import translate_operation
from .program import Program
from .reading import unsupported


def _model_io(model, one_output: bool = True):
    """``(inputs, output)`` of a graph model (``output`` is ``None`` unless ``one_output``)."""
    if not _is_graph_model(model):
        raise NotImplementedError(
            f"reference: model {model.name!r} of type {type(model).__name__} is not supported: "
            "the NumPy reference reads Sequential and Functional models only (a subclassed model's "
            "`call` is Python code it cannot read)"
        )
    try:
        inputs, outputs = model.inputs, model.outputs
    except (AttributeError, ValueError) as err:
        raise ValueError(f"model: {model.name!r} has not been built; call it on data or give it an Input") from err
    if not inputs:
        raise ValueError(f"model: {model.name!r} has no inputs")
    if not one_output:
        return list(inputs), None
    if len(outputs) != 1:
        raise ValueError(f"model: {model.name!r} has {len(outputs)} outputs; name the one to explain with output_layer")
    return list(inputs), outputs[0]


def _is_graph_model(model) -> bool:
    """A Sequential or Functional model whose ``call`` is Keras's own graph walk."""
    from keras.src.models.functional import Functional

    return any(isinstance(model, kind) and type(model).call is kind.call for kind in (Functional, keras.Sequential))


def _inline(program: Program, model, input_ids: list[int], target) -> int:
    """Emit the steps computing ``target`` (a symbolic tensor of ``model``) from its inputs' ``input_ids``."""
    model_inputs, _ = _model_io(model, one_output=False)
    memo = {id(t): i for t, i in zip(model_inputs, input_ids)}

    def value_of(tensor) -> int:
        if id(tensor) in memo:
            return memo[id(tensor)]
        layer, node_index, tensor_index = tensor._keras_history
        node = layer._inbound_nodes[node_index]
        ins = [value_of(t) for t in node.input_tensors]
        if isinstance(layer, keras.Model):
            out = _inline(program, layer, ins, _model_io(layer)[1])
        elif tensor_index != 0 or len(node.outputs) != 1:
            raise unsupported(layer, "more than one output")
        elif not isinstance(layer, keras.layers.Layer):  # x + 3.0 on symbolic tensors: a keras.ops node
            out = program.emit(translate_operation(layer, node), ins)
        else:
            out = program.emit(translate(layer, [t.shape for t in node.input_tensors]), ins)
        memo[id(tensor)] = out
        return out

    return value_of(target)


def output_tensor(model, output_layer):
    """The symbolic output of ``model`` cut at ``output_layer`` (name, index or ``None``)."""
    if output_layer is None:
        return _model_io(model)[1]
    return layer_output(model, output_layer)  # the explainers' own lookup: one meaning of output_layer


def compile_model(model, output_layer=None) -> Program:
    """Read ``model`` (cut at ``output_layer``) into a :class:`Program`."""
    if not isinstance(model, keras.Model):
        raise TypeError(f"model: expected a Keras 3 model, got {type(model).__name__}")
    model_inputs, _ = _model_io(model, one_output=output_layer is None)
    program = Program(input_shapes=[tuple(t.shape) for t in model_inputs])
    program.output = _inline(program, model, list(range(len(model_inputs))), output_tensor(model, output_layer))
    return program
