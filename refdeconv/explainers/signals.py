"""The per-target cache of frontier signals, and the maps computed from it.

Above the frontier (:mod:`refdeconv.explainers.frontier`) the backward signal of
a sample is a function of its target row alone, so it is computed once per
distinct target row and kept. A batch whose target rows are all cached runs
only the part below the frontier (the forward pass up to the last switch and
the backward pass from the frontier); any other batch runs the whole map
computation, which also returns the frontier signals of its rows, and those
are cached: no extra work, and a call whose targets never repeat costs what an
uncached call costs.

The cache is bounded (:data:`CACHE_BYTES`, least recently used rows dropped
first) and keyed by the traced function (model, fingerprint, cut, rule,
operator, shapes and dtypes, batch size) and the exact bytes of the target
row. A signal depends on the weights, which the fingerprint does not see:
:func:`check_weights` compares the model's variables with a snapshot taken
when its first signal was cached and forgets its signals if any changed.
"""

from __future__ import annotations

import weakref
from collections import OrderedDict

import numpy as np
import tensorflow as tf

#: Bytes of frontier signals kept over all models (ResNet50 at 224x224: about 0.8 MB a target).
CACHE_BYTES = 512 * 2**20

_ROWS: OrderedDict = OrderedDict()  # (id(model), id(traced), row bytes) -> (traced, [signal arrays])
_SIZE = [0]
_SNAPSHOTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # model -> its weights when cached


def _key(model, traced, row: np.ndarray) -> tuple:
    return id(model), id(traced), row.dtype.str, row.tobytes()


def _lookup(model, traced, rows: np.ndarray):
    """The cached signals of ``rows`` stacked per frontier tensor, or ``None`` if one is missing."""
    keys = [_key(model, traced, row) for row in rows]
    if not all(k in _ROWS for k in keys):
        return None
    for k in keys:
        _ROWS.move_to_end(k)
    return [np.stack(parts) for parts in zip(*(_ROWS[k][1] for k in keys))]


def _store(model, traced, rows: np.ndarray, signals: list) -> None:
    if model not in _SNAPSHOTS:
        _SNAPSHOTS[model] = [tf.identity(v) for v in _values(model)]
    for i, row in enumerate(rows):
        key = _key(model, traced, row)
        if key not in _ROWS:
            parts = [np.array(s[i]) for s in signals]
            _ROWS[key] = (traced, parts)
            _SIZE[0] += sum(p.nbytes for p in parts)
    while _SIZE[0] > CACHE_BYTES and _ROWS:
        _, (_, parts) = _ROWS.popitem(last=False)
        _SIZE[0] -= sum(p.nbytes for p in parts)


def forget(model=None, traced=None) -> None:
    """Drop the signals of ``model`` (or of one ``traced`` function; everything when both are None)."""
    for key in [k for k, (t, _) in _ROWS.items()
                if (model is None or k[0] == id(model)) and (traced is None or t is traced)]:
        _SIZE[0] -= sum(p.nbytes for p in _ROWS.pop(key)[1])
    if model is not None and traced is None:
        _SNAPSHOTS.pop(model, None)
    elif model is None and traced is None:
        _SNAPSHOTS.clear()


@tf.function(autograph=False, reduce_retracing=True)
def _same(now, then):
    return tf.reduce_all([tf.reduce_all(tf.equal(a, b)) for a, b in zip(now, then)])


def _values(model) -> list:
    return [tf.convert_to_tensor(v) for v in model.weights]


def check_weights(model) -> None:
    """Forget ``model``'s signals if a weight changed since they were cached (``fit``, ``set_weights``)."""
    then = _SNAPSHOTS.get(model)
    if then is None:
        return
    now = _values(model)
    if not now:
        return
    if len(now) != len(then) or any(a.shape != b.shape or a.dtype != b.dtype for a, b in zip(now, then)) \
            or not bool(_same(now, then)):
        forget(model)


def maps(model, traced, xs: list, y) -> list:
    """The maps of one batch through the frontier: cached signals where every row has one."""
    rows = y.numpy()
    signals = _lookup(model, traced, rows)
    if signals is not None:
        return traced.lower(*xs, y, *(tf.constant(s) for s in signals))
    out = traced.full(*xs, y)
    _store(model, traced, rows, [s.numpy() for s in out[len(xs):]])
    return out[:len(xs)]


def cached_bytes() -> int:
    """Bytes of signals held now."""
    return _SIZE[0]
