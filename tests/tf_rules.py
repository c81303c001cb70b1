"""An independent TensorFlow computation of the three rules, for checking the reference.

Every ReLU-family activation of a drawn network is replaced by a
``tf.custom_gradient`` function whose forward pass is the very Keras
activation (same TensorFlow ops) and whose backward pass is the rule applied
to TensorFlow's own derivative of that activation (so TensorFlow, not the
reference, decides the boundary conventions of capped and thresholded ReLUs).
Everything else, convolution, pooling switches and their ties included, is
TensorFlow's own gradient. Nothing here shares code with
:mod:`refdeconv.reference`.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from .builders import build, relu_function

TF_RULES = {
    "gradient": lambda u, active: u * active,
    "deconvnet": lambda u, active: tf.nn.relu(u),
    "guided": lambda u, active: tf.nn.relu(u) * active,
}


def rule_wrapper(rule: str):
    """Wrap an activation function in a ``tf.custom_gradient`` applying ``rule``."""

    def wrap(fn):
        @tf.custom_gradient
        def wrapped(z):
            with tf.GradientTape() as tape:
                tape.watch(z)
                y = fn(z)
            active = tape.gradient(y, z)

            def backward(u):
                return TF_RULES[rule](u, active)

            return y, backward

        return wrapped

    return wrap


def score_gradient(model, x: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(model(x), d sum(model(x) * targets) / dx)`` with ``tf.GradientTape``."""
    xt = tf.constant(x, dtype=model.inputs[0].dtype)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        out = model(xt, training=False)
        score = tf.reduce_sum(out * tf.cast(targets, out.dtype))
    return out.numpy(), tape.gradient(score, xt).numpy()


def tf_attribution(net, x, targets, rule: str, style: str = "functional"):
    """``(output, map)`` of ``net`` under ``rule``, computed by TensorFlow alone."""
    wrap = rule_wrapper(rule)
    return score_gradient(build(net, style, relu=lambda spec: wrap(relu_function(spec))), x, targets)
