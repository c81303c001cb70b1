"""Operators ``g(f, x, y)``: the per-sample score whose map is explained.

An operator receives the (possibly cut) model as a function ``f``, a batch of
inputs ``x`` and of targets ``y``, and returns one scalar per sample, shape
``(N,)``. The map of sample ``i`` is ``d g(f, x, y)_i / d x_i`` under the rule.
"""

from __future__ import annotations

import tensorflow as tf


def classification(f, x, y):
    """Default operator: ``sum_k f(x)_k * y_k``, the one-hot-selected output (logit or probability).

    Outputs of rank above 2 (e.g. a cut at a convolution) are summed over all
    non-batch axes, with ``y`` of the output's shape.
    """
    out = f(x)
    return tf.reduce_sum(tf.reshape(out * tf.cast(y, out.dtype), (tf.shape(out)[0], -1)), axis=-1)
