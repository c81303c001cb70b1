"""Operators ``g(f, x, y)``: the per-sample score whose map is explained.

An operator receives the (possibly cut) model as a function ``f``, a batch of
inputs ``x`` and of targets ``y``, and returns one scalar per sample, shape
``(N,)``. The map of sample ``i`` is ``d g(f, x, y)_i / d x_i`` under the rule.

The built-in operators all score a weighted sum of the outputs,
``s_i = sum_j f(x_i)_j y_ij`` over every output axis; they differ in what the
targets mean:

=========================== ===================================================
name                        targets ``y``
=========================== ===================================================
``classification`` (default) one-hot ``(N, classes)``: the class to explain
``regression``              ``(N, outputs)`` weights of the regression outputs
                            (one-hot: one output; ones: their sum)
``semantic_segmentation``   ``(N, H, W, classes)`` mask: the pixels and class to
                            explain (Xplique's convention)
=========================== ===================================================

Object detection is not built in: its score needs box matching (IoU between
predicted and target boxes), which is model-specific; pass your own operator.
"""

from __future__ import annotations

import inspect

import tensorflow as tf


def _weighted_outputs(f, x, y):
    out = f(x)
    weighted = out * tf.cast(y, out.dtype)
    return tf.reduce_sum(tf.reshape(weighted, (tf.shape(out)[0], -1)), axis=-1)


def classification(f, x, y):
    """``s_i = sum_k f(x_i)_k y_ik`` with ``y`` one-hot: the selected logit or probability."""
    return _weighted_outputs(f, x, y)


def regression(f, x, y):
    """``s_i = sum_j f(x_i)_j y_ij``: the regression outputs weighted by ``y``."""
    return _weighted_outputs(f, x, y)


def semantic_segmentation(f, x, y):
    """``s_i = sum_{h,w,k} f(x_i)_hwk y_ihwk`` with ``y`` a mask of pixels and classes."""
    return _weighted_outputs(f, x, y)


#: Name -> built-in operator.
OPERATORS = {"classification": classification, "regression": regression, "semantic_segmentation": semantic_segmentation}


def resolve(operator):
    """The operator function for ``operator`` (``None``, a built-in name, or a callable ``g(f, x, y)``).

    Raises
    ------
    ValueError
        An unknown name.
    TypeError
        Not callable, or not callable with three positional arguments.
    """
    if operator is None:
        return classification
    if isinstance(operator, str):
        if operator not in OPERATORS:
            raise ValueError(f"operator: expected one of {sorted(OPERATORS)} or a callable g(f, x, y), got {operator!r}")
        return OPERATORS[operator]
    if not callable(operator):
        raise TypeError(f"operator: expected a callable g(f, x, y) or a name, got {type(operator).__name__}")
    try:
        inspect.signature(operator).bind(None, None, None)
    except TypeError:
        raise TypeError(
            f"operator: expected a callable g(f, x, y) taking three positional arguments, "
            f"got {getattr(operator, '__name__', operator)!r} with signature {inspect.signature(operator)}"
        ) from None
    except ValueError:  # builtins without a signature: checked at the first call instead
        pass
    return operator


def is_builtin(operator) -> bool:
    """Whether the targets must have the model output's shape (a built-in operator)."""
    return operator in OPERATORS.values()
