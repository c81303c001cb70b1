"""``refdeconv.project``: Zeiler & Fergus's feature projections, computed with refdeconv's explainers."""

from __future__ import annotations

import warnings

import numpy as np
import tensorflow as tf

from ..explainers import DeconvNet, Gradient, GuidedBackprop
from ..explainers import inputs as io
from ..explainers.models import cut, model_dtype
from ..keras_model import is_built, is_graph_model, layer_output, library, resolve_layer
from . import fields
from .results import Projections
from .selection import seeds, top_units

EXPLAINERS = {"deconvnet": DeconvNet, "guided": GuidedBackprop, "gradient": Gradient}
_CHUNK = 8  # units explained per call: this many batches (bounds the seeds held at once)


def project(model, inputs, layer, features=None, top_k: int = 9, rule: str = "deconvnet",
            batch_size: int | None = 32) -> Projections:
    """Project the ``top_k`` strongest activations of feature maps of ``layer`` back to the input.

    For each feature (channel) ``f`` of the layer's output, the ``top_k`` largest activations over
    every input and position are found; each is projected alone: the map, under ``rule``, of the
    model cut at ``layer`` with the seed ``value * one_hot(position, f)`` at its output, every
    other activation of the layer set to zero (Zeiler & Fergus's Fig. 2).

    Parameters
    ----------
    model : keras.Model
        A built Sequential or Functional Keras 3 model with one input. Never modified.
    inputs : numpy.ndarray or tf.Tensor
        ``(N, *input_shape)``, real and finite, cast to the model's dtype for the computation.
        Never modified.
    layer : str or int
        Name or index in ``model.layers`` of a layer called once, whose output has a time or
        spatial axis: ``(N, T, C)``, ``(N, H, W, C)`` or ``(N, D, H, W, C)``, channels last.
    features : int, sequence of int or None
        Channels of the layer's output, each in ``[0, C)``, no repeats; ``None`` for all ``C``
        (no cap: the cost is ``C * top_k`` maps; pick a few for a big layer).
    top_k : int
        Units per feature, ``1 <= top_k <= N * T`` (or ``N * H * W``, ``N * D * H * W``).
    rule : {"deconvnet", "guided", "gradient"}
        The ReLU rule of the backward pass (:mod:`refdeconv.explainers.methods`).
    batch_size : int or None
        Units explained at once (``None``: all); the projections do not depend on it.

    Returns
    -------
    Projections
        ``features (F,)``, ``samples (F, k)``, ``positions (F, k, S)``, ``values (F, k)``,
        ``maps (F, k, *input_shape)``, ``inputs (F, k, *input_shape)``, ``patches (F, k, S, 2)``.

    Raises
    ------
    TypeError
        ``model`` is not a Keras model; ``inputs`` is not a real array or tensor (a
        ``tf.data.Dataset``, a dict); ``layer`` is neither str nor int; ``features`` holds
        non-integers.
    ValueError
        Naming the argument: a subclassed, unbuilt or several-input ``model``; ``inputs`` of the wrong shape
        or with NaN/Inf; no such ``layer``, a layer called several times, or an output without a
        time or spatial axis (e.g. ``Dense`` on ``(N, C)``); ``features`` empty, repeated or out of
        range; ``top_k`` below 1 or above the units per channel; an unknown ``rule``; a bad
        ``batch_size``.

    Warns
    -----
    UserWarning
        Where the receptive-field arithmetic does not know a layer on the way (``patches`` are then
        the whole input, and ``Projections.field_note`` says why), and the explainers' own warnings
        (a non-ReLU nonlinearity keeps its gradient).

    Notes
    -----
    Ranking: within a feature, by value, largest first; equal values in first-occurrence order over
    (sample, row-major position), so the result is deterministic. The value is the layer's output
    as Keras computes it (after the layer's own activation, if any), computed by TensorFlow.

    Projection: with ``D_rule(x, y)`` the map of the cut model for the seed ``y`` at the layer's
    output (``sum(f(x) * y)``, :mod:`refdeconv.explainers.operators`), the projection of the unit
    ``u = (n, position, f)`` of value ``a`` is ``D_rule(x_n, a e_u)``. Every backward step is
    positively homogeneous in its signal (proposition 7, ``proofs/p07_positive_homogeneity.py``),
    so for ``a > 0`` it equals ``a D_rule(x_n, e_u)``; a unit of value ``a <= 0`` (a layer without
    ReLU) keeps the seed ``a e_u`` as Zeiler & Fergus defined it.

    Receptive field: :func:`refdeconv.projections.fields.patches`.

    References
    ----------
    .. [1] Zeiler, M. D. & Fergus, R. "Visualizing and Understanding Convolutional Networks",
       ECCV 2014, arXiv:1311.2901, sec. 2.1 and Fig. 2.
    """
    if rule not in EXPLAINERS:
        raise ValueError(f"rule: expected one of {sorted(EXPLAINERS)}, got {rule!r}")
    batch_size = io.check_batch_size(batch_size)
    _check_top_k(top_k)
    library(model)  # TypeError for anything but a Keras model
    if not is_graph_model(model):
        raise ValueError(f"model: {model.name!r} is subclassed ({type(model).__name__}): it has no graph to cut at "
                         "a layer; build it as a Functional or Sequential model")
    if not is_built(model):
        raise ValueError(f"model: {model.name!r} has not been built, so it has no graph to cut yet; give it an Input "
                         "or call it once on data")
    if len(model.inputs) != 1:
        raise ValueError(f"model: {model.name!r} takes {len(model.inputs)} inputs; feature projections need a model "
                         "with one input")
    x = _inputs(inputs, model)
    found, tensor = _layer(model, layer)
    channels = int(tensor.shape[-1])
    chosen = _features(features, channels, found.name)
    if len(x) == 0:
        raise ValueError("inputs: no sample (N = 0), so there is no activation to rank")
    dtype = model_dtype(model)
    activations = _forward(cut(model, layer), x, dtype, batch_size)
    units = int(np.prod(activations.shape[:-1]))
    if top_k > units:
        raise ValueError(f"top_k: must be at most the {units} units of a channel of layer {found.name!r} over all "
                         f"inputs (output shape {activations.shape}), got {top_k}")
    samples, positions, values = top_units(activations, chosen, top_k)
    flat = positions.reshape(-1, positions.shape[-1])
    bounds, note = fields.patches(model, tensor, flat, x.shape[1:-1])
    if note:
        warnings.warn(f"project: the receptive field is taken as the whole input: {note}", UserWarning, stacklevel=2)
    maps = _maps(EXPLAINERS[rule](model, output_layer=layer, batch_size=batch_size), x, samples.reshape(-1), flat,
                 np.repeat(chosen, top_k), values.reshape(-1), activations.shape[1:], batch_size)
    f, k = samples.shape
    return Projections(found.name, rule, chosen, samples, positions, values, maps.reshape(f, k, *x.shape[1:]),
                       x[samples], bounds.reshape(f, k, *bounds.shape[1:]), note)


def _check_top_k(top_k) -> None:
    if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)):
        raise TypeError(f"top_k: expected an int >= 1, got {type(top_k).__name__}")
    if top_k < 1:
        raise ValueError(f"top_k: expected an int >= 1, got {top_k}")


def _inputs(inputs, model) -> np.ndarray:
    """``inputs`` as a NumPy array, checked against the model's input."""
    if isinstance(inputs, tf.data.Dataset):
        raise TypeError("inputs: a tf.data.Dataset is not supported by project; pass an array (N, ...) "
                        "(e.g. np.concatenate([x for x, _ in dataset]))")
    if isinstance(inputs, dict) or (isinstance(inputs, (list, tuple))
                                    and any(tf.is_tensor(v) or isinstance(v, np.ndarray) for v in inputs)):
        raise TypeError(f"inputs: expected one array or tensor (N, ...), got a {type(inputs).__name__} of them")
    x = io.as_array(inputs, "inputs")
    x = x.numpy() if tf.is_tensor(x) else x
    io.check_inputs(x, tuple(model.inputs[0].shape))
    io.check_finite(x, "inputs")
    return x


def _layer(model, layer):
    """``(the layer, its symbolic output)``; errors name ``layer``."""
    if layer is None:  # None means "the whole model" for output_layer; a projection needs a layer
        raise TypeError("layer: expected a layer name (str) or an index (int), got None")
    try:
        found = resolve_layer(model, layer)
        tensor = layer_output(model, layer)
    except (TypeError, ValueError) as err:
        raise type(err)("layer" + str(err)[len("output_layer"):]) from None
    if isinstance(tensor, (list, tuple)) or not 3 <= len(tensor.shape) <= 5:
        shape = [tuple(t.shape) for t in tensor] if isinstance(tensor, (list, tuple)) else tuple(tensor.shape)
        raise ValueError(f"layer: {found.name!r} has output shape {shape}; feature projections need one output with "
                         "a time or spatial axis, (N, T, C), (N, H, W, C) or (N, D, H, W, C)")
    return found, tensor


def _features(features, channels: int, name: str) -> np.ndarray:
    """The channels asked for, as int64 ``(F,)``."""
    if features is None:
        return np.arange(channels, dtype=np.int64)
    given = np.atleast_1d(np.asarray(features))
    if given.size == 0:
        raise ValueError(f"features: expected a non-empty sequence of channel indices, got {features!r}")
    if given.dtype.kind not in "iu" or given.dtype == bool:
        raise TypeError(f"features: expected channel indices (ints), got {features!r}")
    if given.ndim != 1 or not len(given):
        raise ValueError(f"features: expected a non-empty sequence of channel indices, got {features!r}")
    if given.min() < 0 or given.max() >= channels:
        raise ValueError(f"features: layer {name!r} has {channels} channels, so indices must lie in [0, {channels}), "
                         f"got {given.tolist()}")
    if len(np.unique(given)) != len(given):
        raise ValueError(f"features: repeated channel indices in {given.tolist()}")
    return given.astype(np.int64)


def _forward(model, x: np.ndarray, dtype: str, batch_size: int | None) -> np.ndarray:
    """The cut model's output on ``x``, batch by batch."""
    step = batch_size or len(x)
    parts = [np.asarray(model(tf.cast(x[i : i + step], dtype), training=False)) for i in range(0, len(x), step)]
    return np.concatenate(parts)


def _maps(explainer, x, samples, positions, features, values, layer_shape, batch_size) -> np.ndarray:
    """The projection of every unit (``U`` of them, flat), a chunk of units per ``explain`` call."""
    step = _CHUNK * batch_size if batch_size else len(samples)
    parts = []
    for i in range(0, len(samples), step):
        part = slice(i, i + step)
        y = seeds(layer_shape, positions[part], features[part], values[part], values.dtype)
        parts.append(np.asarray(explainer.explain(x[samples[part]], y)))
    return np.concatenate(parts)
