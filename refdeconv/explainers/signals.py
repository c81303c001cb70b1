"""The per-target cache of frontier signals, and the maps computed from it.

Above the frontier (:mod:`refdeconv.explainers.frontier`) the backward signal of
a sample is a function of its target row alone, so it is computed once per
distinct target row and kept. A call's few new target rows get theirs up front
from the part above the frontier alone (:func:`prefetch`). A batch whose target rows are all cached runs
only the part below the frontier (the forward pass up to the last switch and
the backward pass from the frontier); any other batch runs the whole map
computation, which also returns the frontier signals of its rows, and those
are cached, until four batches' worth went unused (:data:`GIVE_UP_BATCHES`):
a call whose targets never repeat costs what an uncached call costs.

The parts above and below the frontier are pruned from the map computation's
graph, which takes as long as tracing it (0.7 s for MobileNetV2 to 2.3 s for
DenseNet121 at 64x64), so they are used from a traced function's second
``explain`` call on (``Traced.calls``): a single call never pays for a prune
that it could not pay back (DenseNet121's first call of 512 inputs took 1.6x
today's path when it did). Maps that are the signals themselves (no switch:
nothing below the frontier) are served from the first call.

The cache is bounded (:data:`CACHE_BYTES`, least recently used rows dropped
first) and keyed by the traced function (model, fingerprint, cut, rule,
operator, shapes and dtypes, batch size) and the exact bytes of the target
row. A signal depends on the weights, which the fingerprint does not see:
:func:`check_weights` compares the model's variables with a snapshot taken
when its first signal was cached and forgets its signals if any changed.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict

import numpy as np
import tensorflow as tf
from tensorflow.python.ops.resource_variable_ops import BaseResourceVariable

#: Bytes of frontier signals kept over all models (ResNet50 at 224x224: about 0.8 MB a target).
CACHE_BYTES = 512 * 2**20

#: Whole passes stop caching their rows' signals, and a traced function's signals are forgotten
#: (with them, when nothing else of the model is cached, the weight check), once this many batches'
#: worth of rows were cached with none used since: targets that never repeat then cost what
#: today's path costs (no copies, no weight reads). A call whose targets repeat caches again.
GIVE_UP_BATCHES = 4

_ROWS: OrderedDict = OrderedDict()  # (id(model), id(traced), row bytes) -> (traced, [signal arrays])
_SIZE = [0]
_SNAPSHOTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # model -> its weights when cached
_LOCK = threading.RLock()  # the replicas of a tf.distribute strategy share the cache from their threads


def _key(model, traced, row: np.ndarray) -> tuple:
    return id(model), id(traced), row.dtype.str, row.tobytes()


def _lookup(model, traced, rows: np.ndarray, into: list | None = None):
    """The cached signals of ``rows`` stacked per frontier tensor (into the arrays ``into`` when
    given), or ``None`` if one is missing."""
    keys = [_key(model, traced, row) for row in rows]
    if not all(k in _ROWS for k in keys):
        return None
    for k in keys:
        _ROWS.move_to_end(k)
    stacked = zip(*(_ROWS[k][1] for k in keys))
    return [np.stack(parts, out=None if into is None else into[i]) for i, parts in enumerate(stacked)]


def _store(model, traced, rows: np.ndarray, signals: list) -> int:
    """Cache the signals of ``rows``; the number of rows that were not cached yet."""
    added = 0
    if model not in _SNAPSHOTS:
        _SNAPSHOTS[model] = _Snapshot(model)
    _SNAPSHOTS[model].watch(traced.full.graph.variables)  # a Lambda's closure variable, say
    for i, row in enumerate(rows):
        key = _key(model, traced, row)
        if key not in _ROWS:
            parts = [np.array(s[i]) for s in signals]
            _ROWS[key] = (traced, parts)
            _SIZE[0] += sum(p.nbytes for p in parts)
            added += 1
    while _SIZE[0] > CACHE_BYTES and _ROWS:
        _, (_, parts) = _ROWS.popitem(last=False)
        _SIZE[0] -= sum(p.nbytes for p in parts)
    return added


def _account(model, traced, added: int, rows: int) -> None:
    """Stop caching from whole passes when it does not pay (:data:`GIVE_UP_BATCHES`)."""
    traced.unused = 0 if added < rows else traced.unused + added  # a row cached already: targets repeat
    if not traced.caching:
        _forget(model, traced)


def forget(model=None, traced=None) -> None:
    """Drop the signals of ``model`` (or of one ``traced`` function; everything when both are None)."""
    with _LOCK:
        _forget(model, traced)


def _forget(model, traced) -> None:
    for key in [k for k, (t, _) in _ROWS.items()
                if (model is None or k[0] == id(model)) and (traced is None or t is traced)]:
        _SIZE[0] -= sum(p.nbytes for p in _ROWS.pop(key)[1])
    if model is not None and (traced is None or not any(k[0] == id(model) for k in _ROWS)):
        _SNAPSHOTS.pop(model, None)  # nothing of the model cached: no weight check
    elif model is None and traced is None:
        _SNAPSHOTS.clear()


class _Snapshot:
    """The values of the variables a model's cached signals were computed from, compared with the live ones.

    The variables are the model's weights and every variable a traced function that cached signals
    reads (:meth:`watch`): a ``Lambda``'s closure variable or a custom layer's untracked
    ``tf.Variable`` is not in ``model.weights`` but changes the signals all the same.

    Notes
    -----
    A value read from a ``tf.Variable`` is a snapshot: TensorFlow never writes into a buffer that a
    read still holds (a write to a shared buffer copies it first, or swaps in a new one), so the
    held reads keep their values, and a live read that shares a held read's buffer has the held
    value. Only a variable whose buffer moved is compared byte by byte (bitwise: a NaN equals itself,
    -0.0 is not 0.0). Holding the reads costs no copy while the weights are unchanged. Compared in
    NumPy, from each variable's ``tf.Variable`` (a Keras 3 variable's ``value``): a compiled
    comparison costs seconds of tracing on its first call (4 s for DenseNet121's 606 variables),
    and Keras 3's variable wrapper costs four times the read.
    ``tests/explainers/test_weight_snapshots.py`` checks the premise on every way of writing
    weights: assignments, ``set_weights``, ``load_weights``, ``fit`` (XLA or not).
    """

    def __init__(self, model):
        self.weights = list(model.weights)
        self.held: dict = {}  # id(tf.Variable) -> (the variable, its read)
        self.watch(self.weights)

    def watch(self, variables) -> None:
        """Hold a read of each of ``variables`` not held yet (Keras 3 variables by their ``tf.Variable``)."""
        for inner in map(_tf_variable, variables):
            if id(inner) not in self.held:
                self.held[id(inner)] = (inner, read(inner))

    def holds(self, model) -> bool:
        """Whether ``model`` has the same weights, and every held variable the same bytes, as when read."""
        now = list(model.weights)
        return (len(now) == len(self.weights) and all(a is b for a, b in zip(now, self.weights))
                and all(same_bytes(read(v), held) for v, held in self.held.values()))


def read(variable) -> tf.Tensor:
    """The value of a ``tf.Variable``, a Keras 3 variable or a ``tf.distribute`` one, read now
    (a plain resource variable by its ``ReadVariableOp`` alone, a third of ``convert_to_tensor``'s cost)."""
    inner = _tf_variable(variable)
    if isinstance(inner, BaseResourceVariable):
        return tf.raw_ops.ReadVariableOp(resource=inner.handle, dtype=inner.dtype)
    return tf.convert_to_tensor(inner)


def _tf_variable(variable):
    """The ``tf.Variable`` of a Keras 3 variable (its ``value``), or the variable itself."""
    return variable if isinstance(variable, tf.Variable) else variable.value


def same_bytes(a: tf.Tensor, b: tf.Tensor) -> bool:
    """Whether two values are bitwise equal: at once when they share one buffer."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.__array_interface__["data"][0] == b.__array_interface__["data"][0]:
        return True
    return np.array_equal(a.reshape(-1).view(np.uint8), b.reshape(-1).view(np.uint8))


def check_weights(model) -> None:
    """Forget ``model``'s signals if a weight changed since they were cached (``fit``, ``set_weights``)."""
    snapshot = _SNAPSHOTS.get(model)
    if snapshot is not None and not snapshot.holds(model):
        forget(model)


def maps(model, traced, inputs, y, into: list | None = None) -> list:
    """The maps of one batch through the frontier: cached signals where every row has one.

    ``inputs()`` gives the batch's input tensors: not called when the maps are the cached signals,
    which are then gathered into the arrays ``into`` when given (the batch's slices of the output).
    """
    rows = y.numpy()
    with _LOCK:
        signals = _lookup(model, traced, rows, into if traced.signals_are_maps else None)
    if signals is not None:
        traced.unused = 0
    if signals is not None and not traced.signals_are_maps and traced.calls < 2:
        signals = None  # serving takes the part below the frontier, pruned from the second call on
    if signals is not None and traced.signals_are_maps and traced.separable:
        return signals
    xs = inputs()
    if signals is not None and traced.separable is None:  # about to serve from the cache: check first
        out = traced.full(*xs, y)
        traced.separable = _separable(traced, xs, rows, out[len(xs):])
        if not traced.separable:
            traced.frontier.reason = SEPARABLE
        return out[:len(xs)]
    if signals is not None:
        return traced.lower(*xs, y, *(tf.constant(s) for s in signals))
    out = traced.full(*xs, y)
    if traced.caching:
        with _LOCK:
            _account(model, traced, _store(model, traced, rows, [s.numpy() for s in out[len(xs):]]), len(rows))
    return out[:len(xs)]


SEPARABLE = ("the signal of a sample depends on the other samples of its batch (the operator or a layer mixes "
             "them): a signal is not one per target")


def _separable(traced, xs: list, rows: np.ndarray, signals: list) -> bool:
    """Whether the frontier signals are computed row by row: with the first target row changed, the
    other rows' signals stay bitwise as they were (a kernel's result for a row does not depend on
    the other rows' values). It catches an operator or a layer that mixes the samples of a batch,
    and a frontier tensor whose first axis is not the batch; a nondeterministic kernel fails it
    too, and the maps are then computed uncached. Run once per traced function, before the cache
    first serves a batch: one more pass of the whole computation."""
    if len(rows) < 2:
        return True
    changed = rows.copy()
    changed[0] = changed[0] + 1
    again = traced.full(*xs, tf.constant(changed))[len(xs):]
    return all(np.array_equal(np.asarray(a)[1:], np.asarray(b)[1:]) for a, b in zip(signals, again))


def prefetch(model, traced, rows: np.ndarray) -> None:
    """Compute up front, with the part above the frontier alone, the signals of a call's distinct
    target ``rows`` not cached yet, when they are few (at most a quarter of the rows: shared
    targets); otherwise each batch's whole pass caches them as it goes, at no extra cost."""
    if traced.separable is False or not len(rows) or traced.calls < 2:  # pruned from the second call on
        return
    with _LOCK:
        keyed = {_key(model, traced, row): row for row in rows}
        missing = [row for key, row in keyed.items() if key not in _ROWS]
    if not missing or len(missing) > len(rows) // 4:
        return
    size = traced.batch
    for start in range(0, len(missing), size):
        chunk = np.stack(missing[start:start + size])
        padded = chunk[np.minimum(np.arange(size), len(chunk) - 1)]
        out = traced.above(tf.constant(padded), *traced.folds)
        with _LOCK:
            _store(model, traced, chunk, [np.asarray(s)[:len(chunk)] for s in out])
            traced.unused = 0  # targets repeat within the call: caching pays


def cached_bytes() -> int:
    """Bytes of signals held now."""
    return _SIZE[0]
