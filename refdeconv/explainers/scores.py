"""The operator's scores in a traced map function: called, typed and checked for one scalar per sample.

``operator(f, x, y)`` must return one real floating-point score per sample, shape ``(N,)``. A
length TensorFlow knows at trace time is checked then; one known only at run time (a mask of the
data, say) is checked in the graph by every batch (:data:`SCORES_LENGTH` marks that failure). A
failure of the operator's own code is named as the operator's; one of the model, inside ``f(x)``,
is raised as it is. The operator's own ops are traced in a name scope of their own
(:data:`OPERATOR_SCOPE`, the model's ops inside ``f`` excluded), so that a failure at run time
(an assertion, an index out of range in the data) is told apart from the model's
(:func:`run_time_error`), and its stateful ops (assertions, prints) run with every batch, as in a
``tf.function``, although the maps do not depend on them.
"""

from __future__ import annotations

import re

import tensorflow as tf


#: Marks the run-time failure of the scores' length check (:func:`checked_per_batch`).
SCORES_LENGTH = "refdeconv: the scores of the operator, one per sample, have shape"

#: The name scope of the operator's own ops (and, under ``gradients/``, of their gradients).
OPERATOR_SCOPE = "refdeconv_operator"
_OPERATORS_OP = re.compile(rf"(^|/){OPERATOR_SCOPE}(_\d+)?/")


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
    graph = tf.compat.v1.get_default_graph()
    outer = graph.get_name_scope()

    def f(t):
        called.append(True)
        try:
            with graph.name_scope(f"{outer}/" if outer else ""):  # back out of the operator's scope
                return forward(t, training=False)
        except Exception as err:
            failed.append(err)
            raise

    try:
        with graph.name_scope(OPERATOR_SCOPE):
            return operator(f, inputs, y), bool(called)
    except Exception as err:
        if any(err is e for e in failed):
            raise
        shapes = [tuple(t.shape) for t in tf.nest.flatten(inputs)]
        message = (f"operator: failed when called as operator(f, x, y) on inputs of shape "
                   f"{shapes[0] if len(shapes) == 1 else shapes} and targets of shape {tuple(y.shape)}: "
                   f"{type(err).__name__}: {err}")
        raise (TypeError if isinstance(err, TypeError) else ValueError)(message) from err


def stateful_ops_run(grads: list, graph) -> list:
    """``grads`` behind the operator's own stateful ops (its assertions, its prints), which they do not
    otherwise depend on: the operator runs as it would in a ``tf.function``."""
    ops = [op for op in graph.get_operations() if _OPERATORS_OP.search(op.name) and op.op_def.is_stateful]
    if not ops:
        return grads
    # On an op with outputs (an assertion's ``If`` guard), through its outputs: a control dependency
    # on the ``If`` itself is lost when TensorFlow lowers it to switches (measured, TF 2.21).
    deps = [tf.identity(t).op for op in ops for t in op.outputs] + [op for op in ops if not op.outputs]
    with tf.control_dependencies(deps):
        return [None if g is None else tf.identity(g) for g in grads]


def run_time_error(err: tf.errors.InvalidArgumentError, shapes: list) -> ValueError:
    """The error to raise for a traced map function that failed at run time on inputs of ``shapes``:
    the operator's (its length check, or one of its own ops or their gradients), else the model's."""
    message = err.message
    if SCORES_LENGTH in message:  # the run-time check of a length unknown at trace time
        got = re.search(r"\[([^\]]*)\]", message.split(SCORES_LENGTH)[1])
        return ValueError(f"operator: must return one scalar per sample, shape ({shapes[0][0]},), "
                          f"got shape [{got.group(1) if got else '?'}] on a batch of these inputs")
    lines = [line.strip() for line in message.split("[[{{node")[0].splitlines() if line.strip()]
    reason = lines[-1] if lines else message  # after the traceback of where the failing op was made
    node = re.search(r"\{\{node ([^}]+)\}\}|Detected at node (\S+)", message)
    name = next((g for g in node.groups() if g), "") if node else ""
    shown = ", ".join(str(s) for s in shapes)
    if _OPERATORS_OP.search(name):
        return ValueError(f"operator: failed at run time on inputs of shape {shown}, in its op "
                          f"{name.split(OPERATOR_SCOPE, 1)[1].lstrip('_0123456789/')!r}: {reason}")
    return ValueError(f"inputs: the model failed on inputs of shape {shown}: {reason}")


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
