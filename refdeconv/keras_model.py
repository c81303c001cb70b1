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
