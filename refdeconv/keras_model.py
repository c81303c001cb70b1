"""What both implementations read off a user's Keras model: which Keras built it, whether it is a
graph (Sequential/Functional) or subclassed, and which layer ``output_layer`` names.

Shared by :mod:`refdeconv.explainers` and :mod:`refdeconv.reference`, so that ``output_layer``
has one meaning in both; it imports Keras only, never either implementation.
"""

from __future__ import annotations

import sys

import keras
import numpy as np


def library(model):
    """The Keras package that built ``model`` (Keras 3, or tf-keras for Keras 2 models).

    Raises
    ------
    TypeError
        ``model`` is not a Keras model.
    """
    if isinstance(model, keras.Model):
        return keras
    tf_keras = sys.modules.get("tf_keras")
    if tf_keras is not None and isinstance(model, tf_keras.Model):
        return tf_keras
    raise TypeError(f"model: expected a Keras model (keras.Model or tf_keras.Model), got {type(model).__name__}")


def is_graph_model(model) -> bool:
    """Whether ``model`` is a Sequential or Functional graph (not a subclassed ``call``)."""
    if library(model) is keras:
        from keras.src.models.functional import Functional

        return isinstance(model, (Functional, keras.Sequential))
    return bool(getattr(model, "_is_graph_network", False))


def resolve_layer(model, output_layer):
    """The layer named or indexed by ``output_layer`` in ``model.layers``."""
    if isinstance(output_layer, str):
        names = [layer.name for layer in model.layers]
        if output_layer not in names:
            raise ValueError(f"output_layer: no layer named {output_layer!r} in model {model.name!r}; layers: {names}")
        return model.layers[names.index(output_layer)]
    if isinstance(output_layer, (int, np.integer)) and not isinstance(output_layer, bool):
        n = len(model.layers)
        if not -n <= output_layer < n:
            raise ValueError(f"output_layer: index {output_layer} out of range for the {n} layers of {model.name!r}")
        return model.layers[output_layer]
    raise TypeError(f"output_layer: expected a layer name (str), an index (int) or None, got {type(output_layer).__name__}")


def is_built(model) -> bool:
    """Whether a graph model has its inputs (an unbuilt Sequential model has none yet)."""
    try:
        return bool(model.inputs)
    except (AttributeError, ValueError, TypeError):
        return False


def _graph_nodes(model) -> set | None:
    """Ids of the nodes (layer calls) of ``model``'s own graph; ``None`` where Keras keeps none."""
    graph = getattr(model, "_functional", None) or model  # Keras 3 Sequential: its Functional
    by_depth = getattr(graph, "_nodes_by_depth", None)
    if by_depth is None:
        return None
    return {id(node) for nodes in by_depth.values() for node in nodes}


def layer_output(model, output_layer):
    """The symbolic output of the layer ``output_layer`` names, as called in ``model``'s graph.

    A nested model (a transfer-learning base inside an outer model) has a graph of its own;
    its ``output`` belongs to that graph, not to ``model``'s. Here the layer's call inside
    ``model`` is found, so a cut there starts at ``model``'s input.

    Raises
    ------
    ValueError
        The layer is called more than once in ``model`` (which call is meant is ambiguous).
    """
    layer = resolve_layer(model, output_layer)
    nodes = _graph_nodes(model)
    calls = [node for node in getattr(layer, "_inbound_nodes", []) if nodes is not None and id(node) in nodes]
    if not calls:
        return layer.output
    if len(calls) > 1:
        raise ValueError(f"output_layer: layer {layer.name!r} is called {len(calls)} times in model {model.name!r}, "
                         "so its output is ambiguous; cut at a layer called once")
    outputs = calls[0].output_tensors
    outputs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]  # tf-keras: one tensor
    return outputs[0] if len(outputs) == 1 else outputs


def nested_structure(model, which: str):
    """The nested structure of a graph model's ``"inputs"`` or ``"outputs"`` as its author wrote it
    (Keras 3, then tf-keras)."""
    struct = getattr(getattr(model, "_functional", model), f"_{which}_struct", None)
    return struct if struct is not None else getattr(model, f"_nested_{which}", None)


def written_order(model) -> list | None:
    """The keys of a model built on a dict of inputs, in the order its author wrote them, where
    that differs from the model's input order (Keras 3 sorts the keys); ``None`` otherwise."""
    struct = nested_structure(model, "inputs")
    if not isinstance(struct, dict):
        return None
    written = list(struct)
    return written if written != sorted(written) else None


def split_inputs(inputs, names: list, written: list | None = None):
    """``(xs, pack)`` for a model with several inputs called ``names``: one value per input in the
    model's order, and ``pack(maps)`` putting one map per input back in the structure given.

    Parameters
    ----------
    inputs : list, tuple or dict
        As Keras takes them: in the model's order, or keyed by input name.
    names : list of str
        The model's input names, in order.
    written : list of str, optional
        :func:`written_order` of the model: a list or tuple is then ambiguous (the author's order
        or the model's?) and refused, as Keras refuses it, rather than read in one of them.

    Raises
    ------
    TypeError
        ``inputs`` is not a list, a tuple or a dict.
    ValueError
        The wrong number of inputs, dict keys that are not the model's input names, or a list or
        tuple for a model built on a dict written in another order than its inputs'.
    """
    if isinstance(inputs, dict):
        if set(inputs) != set(names):
            raise ValueError(f"inputs: dict keys must be the model's input names {names}, got {sorted(inputs)}")
        return [inputs[k] for k in names], lambda maps: dict(zip(names, maps))
    if isinstance(inputs, (list, tuple)):
        if written is not None:
            raise ValueError(f"inputs: the model was built on a dict of inputs written in the order {written}, "
                             f"which Keras keeps in the order {names}: a {type(inputs).__name__} is ambiguous "
                             "(Keras refuses it too); pass a dict keyed by input name")
        if len(inputs) != len(names):
            raise ValueError(f"inputs: the model takes {len(names)} inputs {names}, got {len(inputs)}")
        kind = type(inputs) if type(inputs) in (list, tuple) else list
        return list(inputs), lambda maps: kind(maps)
    raise TypeError(f"inputs: the model takes {len(names)} inputs {names}: pass a list, a tuple or a dict of "
                    f"arrays, got {type(inputs).__name__}")
