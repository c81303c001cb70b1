"""Checks of feature projections, written as functions of a model and its inputs so that the
meta-tests (``test_planted_faults.py``) can run them on code with a planted fault.

Each check computes what it expects independently of :mod:`refdeconv.projections`: the reference
(NumPy float64) forward pass and maps, one-hot seeds written out unit by unit, a ranking by
Python's ``sorted``, and receptive fields by perturbing every input pixel.
"""

from __future__ import annotations

import warnings

import keras
import numpy as np

import refdeconv
from refdeconv import reference
from refdeconv.projections import fields
from refdeconv.testing import assert_maps_close, tolerance

F64 = "float64"


def projected(model, x, layer, rule="deconvnet", features=None, top_k=4, batch_size=5):
    """``refdeconv.project`` with the explainers' warnings (a ReLU-free cut) silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return refdeconv.project(model, x, layer, features=features, top_k=top_k, rule=rule, batch_size=batch_size)


def check_maps(model, x, layer, rule, features=None, top_k=4) -> None:
    """Each projection equals the oracle's map of the model cut at ``layer``, seeded with the unit's
    value at the recorded (sample, position, feature) and zero elsewhere."""
    p = projected(model, x, layer, rule, features, top_k)
    oracle = reference.compile(model, output_layer=layer)
    shape = oracle.forward(x[:1]).shape[1:]
    for i, f in enumerate(p.features):
        for j in range(top_k):
            seed = np.zeros((1, *shape))
            seed[(0, *(int(a) for a in p.positions[i, j]), int(f))] = p.values[i, j]
            n = int(p.samples[i, j])
            expected = oracle.attribution(x[n : n + 1], seed, rule)
            assert_maps_close(p.maps[i, j][None], expected, F64, f"{rule} projection of feature {f}, unit {j}")
            np.testing.assert_array_equal(p.inputs[i, j], x[n])


def expected_units(activations: np.ndarray, f: int, top_k: int) -> list:
    """``[(sample, position), ...]``: the ``top_k`` largest activations of channel ``f``, ties by first
    occurrence in (sample, row-major position) order, by ``sorted`` on ``(-value, sample, position)``."""
    grid = activations.shape[1:-1]
    keys = [(-activations[(n, *pos, f)], n, pos) for n in range(len(activations)) for pos in np.ndindex(*grid)]
    return [(n, tuple(pos)) for _, n, pos in sorted(keys)[:top_k]]


def check_units(model, x, layer, features=None, top_k=4) -> None:
    """Recorded positions lie in the layer's output, values are the reference activations there, and
    the units are the ``top_k`` largest of their feature, in descending order, ties by first occurrence."""
    p = projected(model, x, layer, "deconvnet", features, top_k)
    acts = reference.forward(model, x, output_layer=layer)
    scale = np.abs(acts).max() or 1.0
    grid = acts.shape[1:-1]
    assert p.positions.shape == (len(p.features), top_k, len(grid)), p.positions.shape
    assert ((p.positions >= 0) & (p.positions < np.array(grid))).all(), \
        f"positions outside the layer's output {grid}: {p.positions.tolist()}"
    for i, f in enumerate(p.features):
        recorded = [(int(n), tuple(int(a) for a in pos)) for n, pos in zip(p.samples[i], p.positions[i])]
        at = np.array([acts[(n, *pos, f)] for n, pos in recorded])
        err = np.abs(p.values[i] - at).max()
        assert err <= tolerance(F64) * scale, f"feature {f}: values {p.values[i]} != activations {at} there"
        want = expected_units(acts, int(f), top_k)
        assert recorded == want, f"feature {f}: units {recorded}, expected the top {top_k} {want}"
        assert (np.diff(p.values[i]) <= 0).all(), f"feature {f}: values not descending: {p.values[i]}"


def brute_force_patches(model, layer, x0: np.ndarray, bump: float = 1e3) -> np.ndarray:
    """``(units, S, 2)`` per unit of channel 0 of ``layer`` (row-major): the bounding box of the input
    pixels whose bump (every channel, ``+bump``) changes it; ``(0, 0)`` on every axis for none."""
    cut = keras.Model(model.inputs[0], model.get_layer(layer).output)
    spatial = x0.shape[:-1]
    pixels = list(np.ndindex(*spatial))
    batch = np.repeat(x0[None], len(pixels) + 1, axis=0)
    for i, pixel in enumerate(pixels, start=1):
        batch[(i, *pixel)] += bump
    out = np.asarray(cut(batch, training=False))[..., 0]
    changed = np.abs(out[1:] - out[:1]) > 1e-9 * np.abs(out).max()
    changed = changed.reshape(len(pixels), -1)
    where = np.array(pixels)
    boxes = np.zeros((changed.shape[1], len(spatial), 2), np.int64)
    for u in range(changed.shape[1]):
        hit = where[changed[:, u]]
        if len(hit):
            boxes[u] = np.stack([hit.min(0), hit.max(0) + 1], axis=-1)
    return boxes


def check_patches(model, layer, x0: np.ndarray) -> None:
    """The receptive field of every unit of ``layer`` equals the brute-force bounding box of the input
    pixels it depends on (a model with positive kernels, so every path is seen)."""
    tensor = model.get_layer(layer).output
    grid = tuple(tensor.shape[1:-1])
    positions = np.array(list(np.ndindex(*grid)))
    bounds, note = fields.patches(model, tensor, positions)
    assert note is None, note
    want = brute_force_patches(model, layer, x0)
    bad = [(tuple(pos), bounds[u].tolist(), want[u].tolist()) for u, pos in enumerate(positions)
           if not np.array_equal(bounds[u], want[u])]
    assert not bad, f"{layer}: {len(bad)} of {len(positions)} patches wrong (position, got, brute force): {bad[:4]}"
