"""Receptive fields: which input pixels a unit of a layer's output can depend on.

The arithmetic of Araujo, Norris & Sim (Distill, 2019), applied unit by unit: the index interval
of a unit at a layer's output is carried back through every layer between the model's input and
that layer, per spatial axis, to the interval of input pixels it reads (its *patch*).
"""

from __future__ import annotations

import keras
import numpy as np

L = keras.layers

#: Layers that are pointwise in space (every output position reads only the same position of each input).
POINTWISE = tuple(getattr(L, name) for name in (
    "InputLayer", "Activation", "ReLU", "LeakyReLU", "PReLU", "ELU", "BatchNormalization", "Dropout",
    "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise", "GaussianDropout", "AlphaDropout",
    "ActivityRegularization", "Dense", "Rescaling", "Identity", "Add", "Subtract", "Multiply",
    "Average", "Maximum", "Minimum") if hasattr(L, name))
_CONVS = (L.Conv1D, L.Conv2D, L.Conv3D, L.DepthwiseConv1D, L.DepthwiseConv2D, L.SeparableConv1D, L.SeparableConv2D)
_POOLS = (L.MaxPooling1D, L.MaxPooling2D, L.MaxPooling3D, L.AveragePooling1D, L.AveragePooling2D, L.AveragePooling3D)
_GLOBAL = (L.GlobalAveragePooling1D, L.GlobalAveragePooling2D, L.GlobalAveragePooling3D, L.GlobalMaxPooling1D,
           L.GlobalMaxPooling2D, L.GlobalMaxPooling3D)
_PADS = (L.ZeroPadding1D, L.ZeroPadding2D, L.ZeroPadding3D)
_CROPS = (L.Cropping1D, L.Cropping2D, L.Cropping3D)
_UPS = (L.UpSampling1D, L.UpSampling2D, L.UpSampling3D)


_EMPTY = 2**40  # an empty interval is [_EMPTY, -_EMPTY]: strides and shifts keep lo > hi


class NotUnderstood(Exception):
    """A layer on the path whose spatial wiring the arithmetic does not know; the message says which."""


def patches(model, tensor, positions: np.ndarray, extent=None) -> tuple[np.ndarray, str | None]:
    """The patch of input pixels each unit of ``tensor`` can depend on.

    Parameters
    ----------
    model : keras.Model
        A built Sequential or Functional model with one input.
    tensor : KerasTensor
        A symbolic output in ``model``'s graph, of shape ``(N, *spatial, C)`` (channels last).
    positions : numpy.ndarray of int
        ``(U, S)``: the spatial index of each unit (``S = len(spatial)``).
    extent : tuple of int, optional
        The input's spatial shape, where the model's input leaves it open (``None`` axes): the
        whole input, where the arithmetic cannot go (it needs every extent on the way).

    Returns
    -------
    bounds : numpy.ndarray of int64
        ``(U, S, 2)``: per unit and spatial axis, ``(start, stop)`` in the model input's pixels,
        stop exclusive, clipped to the input; ``(0, 0)`` on every axis for a unit that reads only
        padding.
    note : str or None
        ``None`` when the arithmetic covered every layer on the path; else why the bounds are the
        whole input (a layer it does not understand, or a spatial size unknown before the data).

    Notes
    -----
    A unit at index ``o`` of a layer's output reads, per axis, the input indices
    ``[o s - p, o s - p + d (k - 1)]`` for a kernel (or pool) of size ``k``, stride ``s``,
    dilation ``d`` and left padding ``p`` (``same``: ``floor(max((ceil(n / s) - 1) s + d (k - 1)
    + 1 - n, 0) / 2)`` for an input of extent ``n``, TensorFlow's rule; ``causal``: ``d (k - 1)``;
    ``valid``: 0). An interval ``[lo, hi]`` maps to ``[lo s - p, hi s - p + d (k - 1)]``, which
    is then clipped to ``[0, n - 1]`` (indices in the padding read zeros, no pixel). Composed over a
    chain this is Araujo et al.'s ``j_l = prod s``, ``r_l = r_{l-1} + d (k - 1) j_{l-1}``.
    ``ZeroPadding`` shifts by ``-left``, ``Cropping`` by ``+left``, nearest ``UpSampling`` by ``u``
    maps ``[lo, hi]`` to ``[floor(lo / u), floor(hi / u)]``, global pooling kept as a spatial axis
    (``keepdims``) reads the whole extent, and pointwise layers (:data:`POINTWISE`, channel-axis
    ``Concatenate`` and ``LayerNormalization``) keep the interval. Every map is monotone in both
    ends, so where branches meet (a Functional graph's merges) the union of their intervals is
    carried as its hull without loss. Any other layer, a transposed convolution included, gives the
    whole input and a note: never a patch smaller than the truth.

    References
    ----------
    .. [1] Araujo, A., Norris, W. & Sim, J. "Computing Receptive Fields of Convolutional Neural
       Networks", Distill, 2019, doi:10.23915/distill.00021.
    """
    positions = np.asarray(positions, np.int64)
    source = model.inputs[0]
    extent = tuple(source.shape[1:-1]) if extent is None else tuple(extent)
    whole = np.array([[0, int(n)] for n in extent], np.int64)
    try:
        lo, hi = _back(tensor, positions.copy(), positions.copy(), source)
    except (NotUnderstood, AttributeError) as err:  # AttributeError: a graph not written as Keras 3's (tf-keras)
        note = str(err) if isinstance(err, NotUnderstood) else (
            "the receptive-field arithmetic reads Keras 3 graphs; this model's graph is not one (a tf-keras model?)")
        return np.broadcast_to(whole, (len(positions), *whole.shape)).copy(), note
    empty = (lo > hi).any(axis=1, keepdims=True)
    return np.where(empty[..., None], 0, np.stack([lo, hi + 1], axis=-1)), None


def _node(tensor):
    history = tensor._keras_history  # noqa: SLF001 - Keras 3's graph: (operation, node index, tensor index)
    return history.operation, history.operation._inbound_nodes[history.node_index]  # noqa: SLF001


def _back(tensor, lo: np.ndarray, hi: np.ndarray, source):
    """Carry the intervals ``[lo, hi]`` at ``tensor`` back to ``source`` (hull over every path)."""
    order, seen = [], set()

    def visit(t):  # post-order over the tensors ``tensor`` depends on: producers before consumers
        if id(t) in seen:
            return
        seen.add(id(t))
        if t is not source:
            for parent in _node(t)[1].input_tensors:
                visit(parent)
        order.append(t)

    visit(tensor)
    boxes = {id(tensor): (lo, hi)}
    for t in reversed(order):  # consumers before producers: a tensor's box is complete when reached
        if t is source or id(t) not in boxes:
            continue
        layer, node = _node(t)
        for parent in node.input_tensors:
            mapped = _through(layer, parent, *boxes[id(t)])
            if id(parent) in boxes:
                old = boxes[id(parent)]
                mapped = (np.minimum(old[0], mapped[0]), np.maximum(old[1], mapped[1]))
            boxes[id(parent)] = mapped
    if id(source) not in boxes:
        raise NotUnderstood("the layer's output does not depend on the model's input")
    return boxes[id(source)]


def _extent(tensor, rank: int, layer) -> np.ndarray:
    shape = tuple(tensor.shape)
    if len(shape) != rank + 2:
        raise NotUnderstood(f"layer {layer.name!r} ({type(layer).__name__}) changes the number of spatial axes")
    if any(n is None for n in shape[1:-1]):
        raise NotUnderstood(f"the input of layer {layer.name!r} has a spatial extent unknown before the data")
    return np.array(shape[1:-1], np.int64)


def _through(layer, parent, lo: np.ndarray, hi: np.ndarray):
    """``[lo, hi]`` at ``layer``'s output carried to its input ``parent`` (clipped to its extent)."""
    n = _extent(parent, lo.shape[1], layer)
    kind = type(layer).__name__
    if getattr(layer, "data_format", "channels_last") != "channels_last":
        raise NotUnderstood(f"layer {layer.name!r} ({kind}) is channels first")
    if isinstance(layer, (keras.Sequential, keras.Model)) and len(layer.inputs) == 1:
        return _back(layer.outputs[0], lo, hi, layer.inputs[0])
    if isinstance(layer, _CONVS + _POOLS):
        k = np.array(getattr(layer, "kernel_size", None) or layer.pool_size, np.int64)
        s = np.array(layer.strides, np.int64)
        d = np.array(getattr(layer, "dilation_rate", 1), np.int64) * np.ones_like(k)
        span = d * (k - 1)
        if layer.padding == "same":
            left = np.maximum((-(-n // s) - 1) * s + span + 1 - n, 0) // 2
        else:
            left = span if layer.padding == "causal" else np.zeros_like(k)
        lo, hi = lo * s - left, hi * s - left + span
    elif isinstance(layer, _PADS + _CROPS):
        amounts = layer.padding if isinstance(layer, _PADS) else layer.cropping
        left = np.array([amounts[0]] if np.ndim(amounts) == 1 else [a[0] for a in amounts], np.int64)
        shift = -left if isinstance(layer, _PADS) else left
        lo, hi = lo + shift, hi + shift
    elif isinstance(layer, _UPS) and getattr(layer, "interpolation", "nearest") == "nearest":
        u = np.array(np.atleast_1d(layer.size), np.int64)
        lo, hi = lo // u, hi // u
    elif isinstance(layer, _GLOBAL) and getattr(layer, "keepdims", False):
        live = (lo <= hi).all(axis=1, keepdims=True)
        lo, hi = np.where(live, 0, lo), np.where(live, n - 1, hi)
    elif not (isinstance(layer, POINTWISE) or _pointwise_on_channels(layer, lo.shape[1])):
        raise NotUnderstood(f"layer {layer.name!r} ({kind}) is not one the receptive-field arithmetic knows")
    return _clipped(lo, hi, n)


def _clipped(lo: np.ndarray, hi: np.ndarray, n: np.ndarray):
    """``[lo, hi]`` clipped to ``[0, n - 1]``; a unit whose interval misses it on some axis (it reads
    only padding) is empty, ``[_EMPTY, -_EMPTY]``, which every later map and hull keeps empty."""
    empty = ((lo > hi) | (hi < 0) | (lo > n - 1)).any(axis=1, keepdims=True)
    return np.where(empty, _EMPTY, np.clip(lo, 0, n - 1)), np.where(empty, -_EMPTY, np.clip(hi, 0, n - 1))


def _pointwise_on_channels(layer, rank: int) -> bool:
    """A channel-axis ``Concatenate``, ``LayerNormalization`` or ``Softmax``: pointwise in space."""
    if not isinstance(layer, (L.Concatenate, L.LayerNormalization, L.Softmax, L.UnitNormalization)):
        return False
    axes = np.atleast_1d(layer.axis)
    return all(a in (-1, rank + 1) for a in axes)
