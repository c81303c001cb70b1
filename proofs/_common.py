"""Shared helpers of the proof files: float64 Keras models, seeded weights, and
the maps of both implementations (TensorFlow explainers, NumPy reference).

Every comparison goes through :mod:`refdeconv.testing` (``tolerance``,
``assert_maps_close``); nothing here holds a tolerance of its own.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import warnings  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import refdeconv  # noqa: E402
from refdeconv import reference  # noqa: E402
from refdeconv.testing import assert_maps_close, tolerance  # noqa: E402

F64 = "float64"
RULES = ("gradient", "deconvnet", "guided")
IMPLEMENTATIONS = ("reference", "tensorflow")
EXPLAINERS = {
    "gradient": refdeconv.Gradient,
    "deconvnet": refdeconv.DeconvNet,
    "guided": refdeconv.GuidedBackprop,
}


def layer(cls, *args, **kwargs):
    """A Keras layer ``cls(*args, **kwargs)`` computing in float64."""
    return cls(*args, dtype=F64, **kwargs)


def sequential(input_shape, *layers, seed=None, bias_scale=0.3) -> keras.Sequential:
    """A float64 ``Sequential`` model over ``layers``, with seeded weights when ``seed`` is given.

    Parameters
    ----------
    input_shape : tuple of int
        Input shape without the batch axis.
    *layers : keras.layers.Layer
        Layers built with :func:`layer` (float64).
    seed : int or None
        Seed of :func:`randomize`; ``None`` keeps Keras's initial weights.
    bias_scale : float
        Standard deviation of the biases drawn by :func:`randomize`.

    Returns
    -------
    keras.Sequential
    """
    model = keras.Sequential([keras.Input(input_shape, dtype=F64), *layers])
    if seed is not None:
        randomize(model, seed, bias_scale)
    return model


def randomize(model, seed: int, bias_scale: float = 0.3) -> None:
    """Set every weight of ``model`` from ``numpy.random.default_rng(seed)``.

    Kernels are normal with standard deviation ``1 / sqrt(fan_in)`` (fan-in:
    the product of all kernel axes but the last), other weights (biases)
    normal with standard deviation ``bias_scale``.
    """
    rng = np.random.default_rng(seed)
    for lay in model.layers:
        shapes = [tuple(w.shape) for w in lay.weights]
        if not shapes:
            continue
        kernel = rng.normal(0.0, 1.0 / np.sqrt(np.prod(shapes[0][:-1])), shapes[0])
        lay.set_weights([kernel] + [rng.normal(0.0, bias_scale, s) for s in shapes[1:]])


def one_hot(labels, classes: int) -> np.ndarray:
    """Float64 one-hot targets ``(len(labels), classes)``."""
    return np.eye(classes)[np.asarray(labels)]


def tf_map(model, x, targets, rule: str = "deconvnet", output_layer=None) -> np.ndarray:
    """The TensorFlow explainer's map (``refdeconv.DeconvNet`` etc.) as a NumPy array.

    A warning the explainer gives (a model without ReLU, a non-ReLU
    nonlinearity) is expected in some proofs and silenced here.
    """
    explainer = EXPLAINERS[rule](model, output_layer=output_layer, batch_size=None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.asarray(explainer.explain(np.asarray(x), np.asarray(targets)))


def ref_map(model, x, targets, rule: str = "deconvnet", output_layer=None) -> np.ndarray:
    """The NumPy float64 reference's map, ``refdeconv.reference.attribution``."""
    return reference.attribution(model, x, targets, rule, output_layer)


def maps(model, x, targets, rule: str = "deconvnet", impl: str = "reference", output_layer=None) -> np.ndarray:
    """The map of one implementation: ``impl`` is ``"reference"`` or ``"tensorflow"``."""
    if impl == "reference":
        return ref_map(model, x, targets, rule, output_layer)
    if impl == "tensorflow":
        return tf_map(model, x, targets, rule, output_layer)
    raise ValueError(f"impl: expected one of {IMPLEMENTATIONS}, got {impl!r}")


def assert_maps_differ(actual, expected, key=F64, context: str = "") -> None:
    """Raise ``AssertionError`` if ``actual`` matches ``expected`` within ``tolerance(key)``.

    The negation of :func:`refdeconv.testing.assert_maps_close`: the maps
    differ by more than the tolerance table allows for roundoff.
    """
    try:
        assert_maps_close(actual, expected, key)
    except AssertionError:
        return
    raise AssertionError(
        f"{context}: the maps agree within tolerance({key!r}) = {tolerance(key):g}; expected them to differ"
    )


def assert_scalar_close(actual: float, expected: float, scale: float, key=F64, context: str = "") -> None:
    """``|actual - expected| <= tolerance(key) * scale`` for two sums whose absolute terms sum to ``scale``.

    The roundoff of a sum is bounded by a multiple of the sum of its absolute
    terms, not of its value (which cancellation can make tiny), so ``scale``
    is that sum of absolute terms.
    """
    if not abs(actual - expected) <= tolerance(key) * scale:
        raise AssertionError(
            f"{context}: {actual!r} != {expected!r}: difference {abs(actual - expected):.3g} "
            f"> tolerance({key!r}) * scale = {tolerance(key) * scale:.3g}"
        )


__all__ = [
    "F64", "IMPLEMENTATIONS", "RULES", "assert_maps_close", "assert_maps_differ", "assert_scalar_close",
    "keras", "layer", "maps", "np", "one_hot", "pytest", "randomize", "ref_map", "reference",
    "sequential", "tf_map", "tolerance",
]
