"""Reading one Keras 3 layer: its float64 weights, its activation as reference operations, and
the refusal of anything the reference does not model.

Shared by every module that translates layers (:mod:`~refdeconv.reference.layers` and the
operation families it dispatches to), so that a refusal always reads the same and names the
layer and its type.
"""

from __future__ import annotations

import functools
import inspect

import numpy as np

from . import activations as act


def unsupported(layer, why: str) -> NotImplementedError:
    """The error for a layer the reference cannot model (``NotImplementedError``, naming it)."""
    return NotImplementedError(
        f"reference: layer {layer.name!r} of type {type(layer).__name__} is not supported ({why}); "
        "see the coverage table in docs/verification.md for the layers the NumPy reference models"
    )


def weight(variable) -> np.ndarray | None:
    """A Keras variable as a float64 array (``None`` stays ``None``)."""
    return None if variable is None else np.asarray(variable.numpy(), np.float64)


def leaky(slope: float) -> act.Elementwise:
    """Leaky ReLU with TensorFlow's slope: the ``LeakyRelu`` op keeps ``alpha`` as a
    32-bit float attribute, so a float64 model computes with ``float32(slope)``."""
    return act.Elementwise("leaky_relu", float(np.float32(slope)))


def activation_ops(layer, function) -> list:
    """Operations of a Keras activation function (``activation=`` or ``Activation``).

    A ``functools.partial`` of a ``keras.activations`` function with keyword parameters
    (``partial(keras.activations.gelu, approximate=True)``) is read with its parameters;
    parameters an operation does not take are refused.
    """
    options = {}
    if isinstance(function, functools.partial) and not function.args:
        function, options = function.func, dict(function.keywords)
    name = getattr(function, "__name__", repr(function))
    if options:
        parametrised = act.ELEMENTWISE.get(name, (None,))[0]
        try:
            inspect.signature(parametrised).bind(0.0, **options)
        except (TypeError, ValueError):
            raise unsupported(layer, f"activation {name!r} with parameters {options}") from None
        if name == "leaky_relu":
            return [leaky(options["negative_slope"])]
        return [act.Elementwise(name, **options)]
    if name == "linear":
        return []
    if name == "relu":
        return [act.ReLU()]
    if name == "relu6":
        return [act.ReLU(0.0, 6.0)]
    if name == "softmax":
        return [act.Softmax(-1)]
    if name == "log_softmax":
        return [act.LogSoftmax(-1)]
    if name == "leaky_relu":
        return [leaky(0.2)]  # keras.activations.leaky_relu's default slope
    if name in act.ELEMENTWISE:
        return [act.Elementwise(name)]
    raise unsupported(layer, f"activation {name!r}")


def channels_last(layer) -> None:
    """Refuse a layer whose ``data_format`` is not ``channels_last``."""
    if getattr(layer, "data_format", "channels_last") != "channels_last":
        raise unsupported(layer, f"data_format={layer.data_format!r}, only 'channels_last'")


def padding(layer, allowed=("valid", "same")) -> str:
    """The layer's ``padding``, refused unless in ``allowed``."""
    if layer.padding not in allowed:
        raise unsupported(layer, f"padding={layer.padding!r}, only {' or '.join(map(repr, allowed))}")
    return layer.padding
