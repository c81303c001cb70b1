"""An independent TensorFlow spec of recurrent layers and their wrappers, for checking the reference.

Each layer is recomputed from its Keras weights as a plain Python loop over time in TensorFlow
(Keras 3's equations, ``keras/src/layers/rnn/{simple_rnn,lstm,gru,bidirectional,
time_distributed}.py``), with every ReLU a ``tf.custom_gradient`` applying the rule
(:func:`tests.tf_rules.rule_wrapper`), and differentiated with ``tf.GradientTape``. The
loop is unrolled in Python, so the rule reaches every step (no ``while_loop`` hides it).
Nothing here shares code with :mod:`refdeconv.reference`.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from .tf_rules import rule_wrapper

L = keras.layers

MERGE = {
    "concat": lambda a, b: tf.concat([a, b], axis=-1),
    "sum": lambda a, b: a + b,
    "ave": lambda a, b: (a + b) / 2,
    "mul": lambda a, b: a * b,
}


def activation(function, rule: str):
    """A Keras activation function (its own TensorFlow ops), wrapped in the rule if a ReLU."""
    return rule_wrapper(rule)(function) if function.__name__ == "relu" else function


def _const(variable):
    return tf.constant(variable.numpy(), tf.float64)


def _cell_step(layer, x, h, c, act, ract):
    """One time step of a SimpleRNN / LSTM / GRU cell: ``(h, c)`` (``c`` unused but by LSTM)."""
    cell = layer.cell
    n = cell.units
    k, r = _const(cell.kernel), _const(cell.recurrent_kernel)
    b = _const(cell.bias) if cell.use_bias else None
    if type(layer) is L.SimpleRNN:
        z = tf.matmul(x, k) + tf.matmul(h, r) + (0.0 if b is None else b)
        return act(z), c
    if type(layer) is L.LSTM:
        z = tf.matmul(x, k) + tf.matmul(h, r) + (0.0 if b is None else b)
        i, f = ract(z[:, :n]), ract(z[:, n : 2 * n])
        g, o = act(z[:, 2 * n : 3 * n]), ract(z[:, 3 * n :])
        c = f * c + i * g
        return o * act(c), c
    b_in = b[0] if b is not None and cell.reset_after else b
    xw = tf.matmul(x, k) + (0.0 if b_in is None else b_in)
    if cell.reset_after:
        hw = tf.matmul(h, r) + (0.0 if b is None else b[1])
        z, rr = ract(xw[:, :n] + hw[:, :n]), ract(xw[:, n : 2 * n] + hw[:, n : 2 * n])
        hh = act(xw[:, 2 * n :] + rr * hw[:, 2 * n :])
    else:
        z = ract(xw[:, :n] + tf.matmul(h, r[:, :n]))
        rr = ract(xw[:, n : 2 * n] + tf.matmul(h, r[:, n : 2 * n]))
        hh = act(xw[:, 2 * n :] + tf.matmul(rr * h, r[:, 2 * n :]))
    return z * h + (1.0 - z) * hh, c


def _recurrent(layer, x, rule):
    cell = layer.cell
    act = activation(cell.activation, rule)
    ract = activation(cell.recurrent_activation, rule) if hasattr(cell, "recurrent_activation") else None
    steps = range(x.shape[1])
    h = c = tf.zeros((x.shape[0], cell.units), tf.float64)
    outputs = []
    for t in reversed(steps) if layer.go_backwards else steps:
        h, c = _cell_step(layer, x[:, t], h, c, act, ract)
        outputs.append(h)
    return tf.stack(outputs, axis=1) if layer.return_sequences else outputs[-1]


def tf_layer(layer, x, rule: str):
    """``layer`` (SimpleRNN, LSTM, GRU, Bidirectional, TimeDistributed of Dense or of these)
    applied to the TensorFlow tensor ``x`` under ``rule``."""
    if type(layer) is L.Bidirectional:
        a = _recurrent(layer.forward_layer, x, rule)
        b = _recurrent(layer.backward_layer, x, rule)
        return MERGE[layer.merge_mode](a, tf.reverse(b, [1]) if layer.return_sequences else b)
    if type(layer) is L.TimeDistributed:
        return tf.stack([tf_layer(layer.layer, x[:, t], rule) for t in range(x.shape[1])], axis=1)
    if type(layer) is L.Dense:
        y = tf.matmul(x, _const(layer.kernel)) + (_const(layer.bias) if layer.use_bias else 0.0)
        return activation(layer.activation, rule)(y)
    return _recurrent(layer, x, rule)


def tf_map(layer, x: np.ndarray, targets: np.ndarray, rule: str) -> tuple[np.ndarray, np.ndarray]:
    """``(output, d sum(output * targets) / dx)`` of the TensorFlow loop under ``rule``."""
    xt = tf.constant(x, tf.float64)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        out = tf_layer(layer, xt, rule)
        score = tf.reduce_sum(out * tf.constant(targets, tf.float64))
    return out.numpy(), tape.gradient(score, xt).numpy()
