"""The top activations of a feature map, and the one-hot seeds that project them.

Positions are handled here only: :func:`top_units` finds each unit's sample and spatial index,
:func:`seeds` puts its value back at that index. ``tests/projections`` plants an off-by-one in
each and checks that it is caught.
"""

from __future__ import annotations

import numpy as np


def top_units(activations: np.ndarray, features: np.ndarray, top_k: int):
    """The ``top_k`` largest activations of each feature over every sample and position.

    Parameters
    ----------
    activations : numpy.ndarray
        ``(N, *spatial, C)``: a layer's output, channels last.
    features : numpy.ndarray of int
        ``(F,)``: the channels to rank, each in ``[0, C)``.
    top_k : int
        How many units per feature, ``1 <= top_k <= N * prod(spatial)``.

    Returns
    -------
    samples : numpy.ndarray of int64
        ``(F, top_k)``: each unit's sample index.
    positions : numpy.ndarray of int64
        ``(F, top_k, S)``: each unit's spatial index (``S = len(spatial)``).
    values : numpy.ndarray
        ``(F, top_k)``: each unit's activation, in the activations' dtype, descending.

    Notes
    -----
    A feature's units are ranked by value, largest first; equal values keep the order of
    ``activations[..., f]`` flattened in C order, i.e. the first occurrence in (sample,
    row-major position) order comes first (a stable sort of the negated values). The ranking is
    deterministic for given activations.
    """
    grid = activations.shape[:-1]
    samples, positions, values = [], [], []
    for f in features:
        flat = activations[..., f].reshape(-1)
        order = np.argsort(-flat, kind="stable")[:top_k]
        sample, *where = np.unravel_index(order, grid)
        samples.append(sample)
        positions.append(np.stack(where, axis=-1))
        values.append(flat[order])
    return (np.array(samples, np.int64).reshape(len(features), top_k),
            np.array(positions, np.int64).reshape(len(features), top_k, len(grid) - 1),
            np.array(values, activations.dtype).reshape(len(features), top_k))


def seeds(layer_shape: tuple, positions: np.ndarray, features: np.ndarray, values: np.ndarray,
          dtype="float64") -> np.ndarray:
    """One seed per unit: its value at its (position, feature) of the layer's output, zero elsewhere.

    Parameters
    ----------
    layer_shape : tuple of int
        ``(*spatial, C)``: the layer's output per sample.
    positions : numpy.ndarray of int
        ``(U, S)``: each unit's spatial index.
    features : numpy.ndarray of int
        ``(U,)``: each unit's channel.
    values : numpy.ndarray
        ``(U,)``: each unit's activation.
    dtype : str or numpy.dtype
        The seeds' dtype.

    Returns
    -------
    numpy.ndarray
        ``(U, *layer_shape)``: ``values[u] * one_hot(positions[u], features[u])``.
    """
    out = np.zeros((len(values), *layer_shape), dtype)
    out[(np.arange(len(values)), *positions.T, features)] = values
    return out
