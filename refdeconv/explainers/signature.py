"""The model's inputs and output as the explainers see them, and the user's inputs read against them.

A model takes one input or several (a list, a tuple or a dict of arrays, as Keras takes them).
:class:`Signature` records, from the (cut) model's graph, each input's name and shape and the
output's shape; :func:`flatten` turns what the user passed into one array per model input, in
the model's order, with a function that packs the maps back into the user's structure (each
map of its input's shape).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..keras_model import is_graph_model, split_inputs


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
        The output's shape, batch axis first (``None``: unknown).
    dtypes : list of str or None
        Each input's dtype (``None``: unknown).
    output_dtype : str or None
        The output's dtype.
    as_dict : bool
        Whether the model takes its inputs as a dict keyed by name.
    """

    names: list
    shapes: list
    output_shape: tuple | None
    dtypes: list | None = None
    output_dtype: str | None = None
    as_dict: bool = False

    @property
    def several(self) -> bool:
        """Whether the model takes several inputs."""
        return len(self.names) > 1

    def model_inputs(self, xs: list):
        """``xs`` (one tensor per input, in order) as the model takes them."""
        if not self.several:
            return xs[0]
        return dict(zip(self.names, xs)) if self.as_dict else list(xs)


def signature(model) -> Signature:
    """The :class:`Signature` of a (cut) model.

    Raises
    ------
    ValueError
        The model has several outputs (a cut with ``output_layer`` picks one).
    """
    if not is_graph_model(model):
        return Signature(["input"], [None], None)
    try:
        inputs, outputs = list(model.inputs), list(model.outputs)
    except (AttributeError, ValueError, TypeError):  # an unbuilt Sequential model
        return Signature(["input"], [None], None)
    if len(outputs) != 1:
        raise ValueError(f"model: {model.name!r} has {len(outputs)} outputs; explain one of them by naming its "
                         "layer with output_layer")
    struct = getattr(getattr(model, "_functional", model), "_inputs_struct", None)  # Keras 3
    if struct is None:
        struct = getattr(model, "_nested_inputs", None)  # tf-keras
    names = [_name(t, i) for i, t in enumerate(inputs)]
    return Signature(names, [tuple(t.shape) for t in inputs], tuple(outputs[0].shape),
                     [_dtype(t) for t in inputs], _dtype(outputs[0]), isinstance(struct, dict))


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
        return split_inputs(inputs, sig.names)
    if isinstance(inputs, dict):
        if len(inputs) != 1:
            raise TypeError(f"inputs: the model takes one input, got a dict of {len(inputs)}")
        keys = list(inputs)
        return [inputs[keys[0]]], lambda maps: {keys[0]: maps[0]}
    return [inputs], lambda maps: maps[0]
