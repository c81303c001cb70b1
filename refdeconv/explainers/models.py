"""The user's model as the explainers see it: type checks, dtype, and the cut at ``output_layer``.

Nothing here modifies the model: cutting builds a new ``Model`` over the
existing graph (no layer is called, no weight copied).
"""

from __future__ import annotations

import keras
import numpy as np

from ..keras_model import is_graph_model, library, resolve_layer


def graph_shapes(model) -> tuple:
    """``(input shape, output shape)`` of a built graph model; ``(None, None)`` when they are unknown
    (a subclassed model, or a Sequential model that has not been built yet)."""
    if not is_graph_model(model):
        return None, None
    try:
        return tuple(model.inputs[0].shape), tuple(model.outputs[0].shape)
    except (AttributeError, ValueError, IndexError, TypeError):
        return None, None


def model_dtype(model) -> str:
    """The floating dtype the model computes in: its input's, else its weights', else its policy's."""
    try:
        inputs = model.inputs if is_graph_model(model) else None
    except (AttributeError, ValueError):
        inputs = None
    if inputs:
        return np.dtype(keras.backend.standardize_dtype(inputs[0].dtype)).name if inputs[0].dtype != "bfloat16" else "bfloat16"
    if model.weights:
        return keras.backend.standardize_dtype(model.weights[0].dtype)
    return keras.backend.standardize_dtype(getattr(model, "compute_dtype", "float32"))


def cut(model, output_layer):
    """``model`` itself, or a model from its input to ``output_layer``'s output."""
    keras_library = library(model)
    if output_layer is None:
        return model
    if not is_graph_model(model):
        raise ValueError(
            f"output_layer: model {model.name!r} is subclassed ({type(model).__name__}); its `call` is Python "
            "code, so it has no graph to cut at a layer. Use output_layer=None, or build it as a Functional model"
        )
    if graph_shapes(model)[0] is None:
        raise ValueError(f"output_layer: model {model.name!r} has not been built, so it has no graph to cut yet; "
                         "give it an Input or call it once on data")
    return keras_library.Model(model.inputs, resolve_layer(model, output_layer).output)
