"""The model's inputs and output as the explainers see them, and the user's inputs read against them.

A model takes one input or several (a list, a tuple or a dict of arrays, as Keras takes them).
:class:`Signature` records, from the (cut) model's graph, each input's name and shape and the
output's shape; :func:`flatten` turns what the user passed into one array per model input, in
the model's order, with a function that packs the maps back into the user's structure (each
map of its input's shape).

A model may also return several outputs (a dict, list or tuple, as Hugging Face style models
do). The built-in operators score one output, so they are refused there (:func:`check_operator`);
an operator of the user's picks one (``f(x)["logits"]``), and then explain needs explicit
targets of what it picks (:func:`check_targets`): the model's top class is not defined.
"""

from __future__ import annotations

from dataclasses import dataclass

import tensorflow as tf

from ..keras_model import is_graph_model, nested_structure, split_inputs, written_order


@dataclass
class Signature:
    """Inputs and output of a model, as far as its graph tells.

    Attributes
    ----------
    names : list of str
        Input names in the model's order (``["input"]`` where the graph is unknown).
    shapes : list of tuple or None
        Each input's shape, batch axis first (``None``: unknown, a subclassed or unbuilt model).
    output_shape : tuple or None
        The output's shape, batch axis first (``None``: unknown, or several outputs).
    dtypes : list of str or None
        Each input's dtype (``None``: unknown).
    output_dtype : str or None
        The output's dtype.
    as_dict : bool
        Whether the model takes its inputs as a dict keyed by name.
    written : list of str or None
        :func:`~refdeconv.keras_model.written_order`: the dict keys of a model built on a dict of
        inputs, as written, where that order is not the model's (a list of inputs is then refused).
    outputs : str or None
        For a model that returns several outputs (a dict, list or tuple), each one as an operator
        picks it from ``f(x)`` and its shape, for messages (:func:`describe`); ``None``: one output,
        or not known yet.
    """

    names: list
    shapes: list
    output_shape: tuple | None
    dtypes: list | None = None
    output_dtype: str | None = None
    as_dict: bool = False
    outputs: str | None = None
    written: list | None = None

    @property
    def several(self) -> bool:
        """Whether the model takes several inputs."""
        return len(self.names) > 1

    def model_inputs(self, xs: list):
        """``xs`` (one tensor per input, in order) as the model takes them."""
        if not self.several:
            return xs[0]
        return dict(zip(self.names, xs)) if self.as_dict else list(xs)


def signature(model, source=None) -> Signature:
    """The :class:`Signature` of a (cut) model; ``source`` is the user's model it was cut from,
    whose dict of inputs, as written, is what a list of inputs is checked against."""
    if not is_graph_model(model):
        return Signature(["input"], [None], None)
    try:
        inputs, outputs = list(model.inputs), list(model.outputs)
    except (AttributeError, ValueError, TypeError):  # an unbuilt Sequential model
        return Signature(["input"], [None], None)
    struct, returned = (nested_structure(model, which) for which in ("inputs", "outputs"))
    # A call returns a dict as it is, and a list or tuple of one output as that output (Keras 3).
    several = isinstance(returned, dict) or len(outputs) > 1
    names = [_name(t, i) for i, t in enumerate(inputs)]
    return Signature(names, [tuple(t.shape) for t in inputs], None if several else tuple(outputs[0].shape),
                     [_dtype(t) for t in inputs], _dtype(outputs[0]), isinstance(struct, dict),
                     describe(returned) if several else None, written_order(model if source is None else source))


def describe(outputs) -> str:
    """``"['logits'] (None, 3), ['aux'] (None, 2)"``: each of several outputs as an operator picks it
    from ``f(x)``, and its shape (batch axis ``None``)."""
    parts = []

    def walk(node, path):
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, f"{path}[{key!r}]")
        elif isinstance(node, (list, tuple)):
            for i, value in enumerate(node):
                walk(value, f"{path}[{i}]")
        else:
            parts.append(f"{path} {(None, *tuple(getattr(node, 'shape', ()))[1:])}")

    walk(outputs, "")
    return ", ".join(parts)


def check_operator(sig: Signature, builtin: bool, name: str) -> None:
    """Refuse a built-in operator (``name``) for a model of several outputs.

    Raises
    ------
    ValueError
        Naming ``operator`` and ``output_layer``, and listing the outputs.
    """
    if sig.outputs is not None and builtin:
        raise ValueError(
            f"operator: the built-in operator {name!r} scores one output, but the model returns several: "
            f"{sig.outputs}. Pass an operator that picks one, e.g. "
            "operator=lambda f, x, y: tf.reduce_sum(f(x)[KEY] * y, -1), or, for a Functional model, "
            "name that output's layer with output_layer")


def check_targets(sig: Signature, targets) -> None:
    """Refuse ``targets`` that need one output to mean something, for a model of several outputs.

    Raises
    ------
    ValueError
        Naming ``targets``: ``None`` (whose top class?) or integer class labels (one-hot of which
        output?).
    """
    if sig.outputs is None:
        return
    if targets is None:
        raise ValueError(f"targets: the model returns several outputs ({sig.outputs}), so it has no top class; "
                         "explain needs explicit targets, in the shape your operator expects")
    dtype = tf.as_dtype(targets.dtype)
    if len(targets.shape) == 1 and (dtype.is_integer or dtype.is_bool):
        raise ValueError(f"targets: integer class labels stand for one-hot vectors of one output, but the model "
                         f"returns several ({sig.outputs}); pass targets of the shape your operator expects, "
                         "e.g. one-hot vectors of the output it picks")


def _dtype(tensor) -> str:
    dtype = tensor.dtype
    return getattr(dtype, "name", None) or str(dtype)


def _name(tensor, index: int) -> str:
    name = getattr(tensor, "name", None) or f"input_{index}"
    return name.split(":")[0]


def flatten(inputs, sig: Signature):
    """``(xs, pack)``: one array or tensor per model input, and ``pack(maps)`` -> the user's structure.

    Raises
    ------
    TypeError
        A structure where the model takes one input, or an array where it takes several.
    ValueError
        The wrong number of inputs, or dict keys that are not the model's input names.
    """
    if sig.several:
        return split_inputs(inputs, sig.names, sig.written)
    if isinstance(inputs, dict):
        if len(inputs) != 1:
            raise TypeError(f"inputs: the model takes one input, got a dict of {len(inputs)}")
        keys = list(inputs)
        return [inputs[keys[0]]], lambda maps: {keys[0]: maps[0]}
    return [inputs], lambda maps: maps[0]
