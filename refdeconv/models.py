"""The user's model as the explainers see it: type checks, dtype, and the cut at ``output_layer``.

Nothing here modifies the model: cutting builds a new ``Model`` over the
existing graph (no layer is called, no weight copied).
"""

from __future__ import annotations

import sys

import keras
import numpy as np


def _library(model):
    """The Keras package that built ``model`` (Keras 3, or tf-keras for Keras 2 models)."""
    if isinstance(model, keras.Model):
        return keras
    tf_keras = sys.modules.get("tf_keras")
    if tf_keras is not None and isinstance(model, tf_keras.Model):
        return tf_keras
    raise TypeError(f"model: expected a Keras model (keras.Model or tf_keras.Model), got {type(model).__name__}")


def is_graph_model(model) -> bool:
    """Whether ``model`` is a Sequential or Functional graph (not a subclassed ``call``)."""
    if _library(model) is keras:
        from keras.src.models.functional import Functional

        return isinstance(model, (Functional, keras.Sequential))
    return bool(getattr(model, "_is_graph_network", False))


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


def cut(model, output_layer):
    """``model`` itself, or a model from its input to ``output_layer``'s output."""
    library = _library(model)
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
    return library.Model(model.inputs, resolve_layer(model, output_layer).output)
