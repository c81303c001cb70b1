"""The operator's scores in a traced map function: called, typed and checked for one scalar per sample.

``operator(f, x, y)`` must return one real floating-point score per sample, shape ``(N,)``. A
length TensorFlow knows at trace time is checked then; one known only at run time (a mask of the
data, say) is checked in the graph by every batch (:data:`SCORES_LENGTH` marks that failure). A
failure of the operator's own code is named as the operator's; one of the model, inside ``f(x)``,
is raised as it is.
"""

from __future__ import annotations

import tensorflow as tf


#: Marks the run-time failure of the scores' length check (:func:`checked_per_batch`).
SCORES_LENGTH = "refdeconv: the scores of the operator, one per sample, have shape"


def checked_per_batch(grads: list, scores, n: int) -> list:
    """``grads`` behind a run-time check that ``scores`` has shape ``(n,)``."""
    shape = tf.shape(scores)
    ok = tf.logical_and(tf.equal(tf.rank(scores), 1), tf.reduce_all(tf.equal(shape, n)))
    with tf.control_dependencies([tf.debugging.Assert(ok, [SCORES_LENGTH, shape])]):
        return [tf.identity(g) for g in grads]


def call(operator, forward, inputs, y):
    """``(operator(f, inputs, y), whether it called f)``, traced; a failure of the operator's own code
    named as the operator's.

    Raises
    ------
    TypeError, ValueError
        The operator failed (a shape mismatch, an index out of range, any exception of its own
        code): ``TypeError`` for its ``TypeError``, ``ValueError`` for any other, naming the
        operator and the shapes it was called on. A failure of the model itself, inside
        ``f(x)``, is raised unchanged.
    """
    failed, called = [], []

    def f(t):
        called.append(True)
        try:
            return forward(t, training=False)
        except Exception as err:
            failed.append(err)
            raise

    try:
        return operator(f, inputs, y), bool(called)
    except Exception as err:
        if any(err is e for e in failed):
            raise
        shapes = [tuple(t.shape) for t in tf.nest.flatten(inputs)]
        message = (f"operator: failed when called as operator(f, x, y) on inputs of shape "
                   f"{shapes[0] if len(shapes) == 1 else shapes} and targets of shape {tuple(y.shape)}: "
                   f"{type(err).__name__}: {err}")
        raise (TypeError if isinstance(err, TypeError) else ValueError)(message) from err


def dense(scores) -> tf.Tensor:
    """The operator's output as a dense tensor.

    Raises
    ------
    TypeError
        ``None`` (a function that forgot to return), a ragged or sparse tensor, anything not a
        tensor, or a tensor not of floating point (integer, boolean, complex, string).
    """
    if scores is None or isinstance(scores, (tf.RaggedTensor, tf.SparseTensor)):
        raise TypeError(f"operator: must return a dense tensor of one scalar per sample, shape (N,), "
                        f"got {type(scores).__name__}")
    try:
        tensor = tf.convert_to_tensor(scores)
    except (TypeError, ValueError) as err:
        raise TypeError(f"operator: must return a tensor of one scalar per sample, shape (N,), got "
                        f"{type(scores).__name__}: {err}") from None
    if not tensor.dtype.is_floating:
        raise TypeError(f"operator: must return real floating-point scores (the model's dtype), got {tensor.dtype.name}: "
                        "an integer, boolean, complex or string score has no gradient to explain")
    return tensor


def static_length_checked(shape: tf.TensorShape, n: int) -> bool:
    """Whether scores of static ``shape`` are one per sample of a batch of ``n``: ``True``; ``False``
    when their length is only known at run time (then checked by every batch, in the graph).

    Raises
    ------
    ValueError
        Not of rank 1, or of another static length: the operator does not return one scalar per sample.
    """
    if shape.rank is None or (shape.rank == 1 and shape[0] is None):
        return False
    if shape.rank != 1 or shape[0] != n:
        raise ValueError(f"operator: must return one scalar per sample, shape ({n},), got shape {tuple(shape)}")
    return True
