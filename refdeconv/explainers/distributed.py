"""Explaining over several devices and machines with ``tf.distribute``.

Each batch of ``batch_size`` inputs is split into one equal chunk per replica
(the last chunk padded with copies of the batch's last row, whose maps are
dropped), every replica computes the maps of its chunk with the same traced
function as one device (``strategy.run``; the ReLU rule is in the traced graph,
so it reaches every replica), and the chunks come back on the host in input
order. Supported:

- ``OneDeviceStrategy`` and ``MirroredStrategy`` (the devices of one machine):
  the local replicas' results are concatenated;
- ``MultiWorkerMirroredStrategy`` (several machines, ``TF_CONFIG``): every worker
  is given the same inputs (the same arrays, or the same Dataset), computes the
  chunks of its own replicas, and the chunks of all workers are all-gathered
  (``strategy.gather``) so that every worker returns all maps in input order;
  ``refdeconv explain --strategy multiworker`` writes them on the chief only.

Other strategies (``TPUStrategy``, ``ParameterServerStrategy``,
``CentralStorageStrategy``) raise a ``ValueError``. Chunks have static shapes
(as on one device), so a replica's trace is reused batch after batch; the
per-target frontier cache (:mod:`.signals`) is shared by the replicas of a
process (one cache, a lock around it): a signal computed on one replica serves
all of them, and a worker's cache is its own.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

SUPPORTED = ("OneDeviceStrategy", "MirroredStrategy", "MultiWorkerMirroredStrategy")


def _is_distributed(value) -> bool:
    return isinstance(value, tf.distribute.DistributedValues)


def model_strategy(model):
    """The strategy ``model``'s variables were created under, or ``None`` (one device)."""
    if not model.weights:
        return None
    weight = model.weights[0]
    inner = getattr(weight, "value", weight)
    inner = weight if callable(inner) else inner  # tf-keras: ``value`` is a method
    return inner.distribute_strategy if _is_distributed(inner) else None


def resolve(strategy, model):
    """The strategy to run on: ``strategy``, else the model's, else ``None`` (today's one-device path).

    Raises
    ------
    TypeError
        ``strategy`` is not a ``tf.distribute.Strategy``.
    ValueError
        A strategy this module does not support (named, with the supported ones).
    """
    if strategy is None:
        strategy = model_strategy(model)
        if strategy is None:
            return None
    if not isinstance(strategy, tf.distribute.Strategy):
        raise TypeError(f"strategy: expected a tf.distribute.Strategy or None, got {type(strategy).__name__}")
    supported = (tf.distribute.OneDeviceStrategy, tf.distribute.MirroredStrategy,
                 tf.distribute.MultiWorkerMirroredStrategy)
    if not isinstance(strategy, supported):
        raise ValueError(f"strategy: {type(strategy).__name__} is not supported; use one of {', '.join(SUPPORTED)} "
                         "(see docs/distributed.md)")
    return strategy


def _layout(strategy) -> tuple[int, int, bool]:
    """``(local replicas, index of this worker's first replica, whether several workers)``."""
    local = len(strategy.extended.worker_devices)
    workers = strategy.num_replicas_in_sync // local
    resolver = getattr(strategy, "cluster_resolver", None)
    task = int(getattr(resolver, "task_id", 0) or 0) if workers > 1 else 0
    return local, task * local, workers > 1


def run(strategy, compute, xs: list, y) -> list:
    """The maps of one batch computed over the replicas of ``strategy``, in input order.

    Parameters
    ----------
    strategy : tf.distribute.Strategy
        A supported strategy (:func:`resolve`).
    compute : callable
        ``compute(xs, y) -> list of numpy arrays``: one device's maps of a chunk.
    xs : list of array_like
        The batch, one array per model input, ``(n, ...)``.
    y : array_like or None
        Its targets (``None``: each input's top class).

    Returns
    -------
    list of numpy.ndarray
        One array of maps per input, ``(n, ...)``.
    """
    n = int(np.shape(xs[0])[0])
    if n == 0:
        return [np.zeros((0, *np.shape(x)[1:]), np.float32) for x in xs]
    replicas = strategy.num_replicas_in_sync
    local, first, several = _layout(strategy)
    size = -(-n // replicas)
    pad = np.minimum(np.arange(size * replicas), n - 1)  # rows past the batch repeat its last
    chunks = [[np.asarray(x)[pad[r * size:(r + 1) * size]] for x in xs] for r in range(replicas)]
    targets = [None if y is None else np.asarray(y)[pad[r * size:(r + 1) * size]] for r in range(replicas)]
    results: dict = {}

    def replica():
        r = tf.distribute.get_replica_context().replica_id_in_sync_group
        r = int(tf.get_static_value(r)) if not isinstance(r, int) else r
        maps = results[r] = compute(chunks[r], targets[r])
        return [tf.constant(m) for m in maps]

    per_replica = strategy.run(replica)
    if several:
        gathered = [strategy.gather(part, axis=0) for part in per_replica]
        return [np.asarray(g)[:n] for g in gathered]
    order = [results[r] for r in range(first, first + local)]
    return [np.concatenate([maps[i] for maps in order])[:n] for i in range(len(xs))]
