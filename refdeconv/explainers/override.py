"""The override: how the rule of a refdeconv trace reaches every ReLU, and nothing else.

How the override reaches every ReLU
-----------------------------------
Keras 3 does not emit one op for "ReLU" (measured, TF 2.21 / Keras 3.15):
``activation="relu"``, ``ReLU()``, ``Activation("relu")``, ``keras.ops.relu``
and ``tf.nn.relu`` emit ``Relu``; ``relu6`` and ``ReLU(max_value=6)`` emit
``Relu6``; ``ReLU(max_value=3)`` emits ``Relu`` + ``Minimum`` + ``Maximum``;
``ReLU(threshold=0.5)`` emits ``Greater`` + ``SelectV2``, no ReLU op at all.
So the override works at two levels, both only while the forward pass is
being traced:

1. **Op level.** TensorFlow's registered gradients of ``Relu`` and ``Relu6``
   get a per-thread dispatch in front of them (installed once): inside a
   refdeconv trace they return the rule, anywhere else TensorFlow's own
   gradient. Being in the gradient registry rather than in one graph's
   ``gradient_override_map``, this reaches every ``Relu``/``Relu6`` op that
   ``tf.gradients`` differentiates: nested sub-models at any depth,
   ``Lambda(tf.nn.relu)``, a subclassed model's ``call``, a layer reused
   several times, residual branches, and the function graphs of ``while``
   loops (recurrent layers with ``unroll=False``), ``cond`` branches and
   nested ``tf.function`` calls, which a graph's override map never reaches.
2. **Keras level.** Capped and thresholded ReLUs are routed, during the trace,
   through a ``tf.custom_gradient`` whose forward pass is Keras's own (the very
   same ops) and whose backward pass is the rule. This patches the one
   function every Keras ReLU activation goes through (Keras 3:
   ``keras.src.activations.activations.ReLU.static_call``; tf-keras:
   ``tf_keras.src.backend.relu``) while any refdeconv trace runs, with a
   dispatch on the calling thread, and restores it when the last one ends.
   Keras's ``hard_sigmoid`` and ``hard_silu`` compute through ``relu6`` but
   are not ReLUs: during a trace their ops get a name scope that the op-level
   dispatch reads, so they keep their ordinary gradient.

The record tells what happened: a ReLU counts as having got the rule only
when TensorFlow built its gradient through the dispatch. A ReLU whose own
gradient TensorFlow never asks for (under a user's ``tf.custom_gradient``,
say) is recorded as ``"not reached"``.

Layer-level swapping of activations (Xplique's way) was rejected: it misses
``tf.nn.relu`` in ``Lambda`` layers and subclassed calls, and ReLUs inside
nested models, and it must clone the model. An op-type override alone was
rejected too: it misses the capped and thresholded forms.

The forward pass is never changed, nor is the user's model: only gradient
functions differ, and only inside refdeconv's own traced function. Besides the
ReLUs', two other gradients are dispatched there: max-pooling's, whose switches
follow refdeconv's one tie rule whatever kernel runs
(:mod:`refdeconv.explainers.switches`), and the input-gradient of strided
convolutions of few channels, computed by another kernel for speed, the same
linear map (:mod:`refdeconv.explainers.polyphase`).
"""

from __future__ import annotations

import contextlib
import sys
import threading

import tensorflow as tf
from tensorflow.python.eager.polymorphic_function import polymorphic_function

from . import polyphase, refusals, rules, switches
from .rules import FAMILY_SCOPE, NOT_A_RELU_SCOPE, SIGNALS, Trace, current

_LOCK = threading.Lock()
_PATCHES = {"count": 0, "saved": []}  # how many traces run, and Keras's own functions while they do


def family_relu(z, max_value, threshold, forward, trace: Trace):
    """A capped or thresholded ReLU with Keras's forward pass and the trace's rule as backward.

    Notes
    -----
    Active where ``threshold < z <= max_value``, matching the ops Keras emits
    (``Greater``; ``clip_by_value`` passes the gradient at the cap), except the
    fused ``Relu6`` (``max_value = 6`` without threshold), inactive at 6.
    The entry recorded for it is marked reached only when TensorFlow builds its backward pass.
    The backward pass is chosen when it is built, not when the forward pass is traced: a nested
    ``tf.function`` traced during one trace keeps this forward pass, and a backward pass built
    later, in another trace or outside any (the user's own gradients), gets that trace's rule or
    Keras's ordinary gradient.
    """
    entry = {"op": tf.get_current_name_scope() or "<top>",
             "type": f"ReLU(max_value={max_value}, threshold={threshold})", "rule": "not reached"}
    trace.routed.append(entry)

    @tf.custom_gradient
    def relu_family(z):
        def active():
            on = z > threshold
            if max_value is not None:
                fused = max_value == 6 and threshold == 0
                on = tf.logical_and(on, z < max_value if fused else z <= max_value)
            return on

        def backward(u):  # built where TensorFlow asks for it: maybe in another trace, or outside any
            now = current()
            if now is None or now.rule == "gradient":
                return u * tf.cast(active(), u.dtype)  # the gradient of Keras's own ops
            if now is trace:
                entry["rule"] = trace.rule
            else:  # a nested tf.function traced in an earlier trace
                now.routed.append({**entry, "rule": now.rule})
            return SIGNALS[now.rule](u, active)

        with tf.name_scope(FAMILY_SCOPE):  # its inner Relu op is not a ReLU of its own
            y = forward(z)
        return y, backward

    return relu_family(z)


def _routed_relu(original, slope_name: str):
    """Keras's ReLU function ``original``, with capped and thresholded calls of a refdeconv trace
    (this thread, rule not ``gradient``) routed through :func:`family_relu`.

    A call with a negative slope is a leaky ReLU, not a ReLU, even when Keras computes it with
    ``Relu`` ops (``ReLU(negative_slope=0.2, max_value=1.)``): inside a trace its ops get the
    not-a-ReLU name scope. Everything else calls ``original`` unchanged: other threads, other
    code, a plain ReLU (the op-level hook takes it: it emits ``Relu``).
    """

    def relu(x, *args, **kwargs):
        trace = current()
        params = {**dict(zip((slope_name, "max_value", "threshold"), args)), **kwargs}
        slope, max_value, threshold = params.get(slope_name, 0.0), params.get("max_value"), params.get("threshold", 0.0)
        if trace is not None and slope != 0.0:
            with tf.name_scope(f"{NOT_A_RELU_SCOPE}_leaky_relu"):
                return original(x, *args, **kwargs)
        if trace is None or trace.rule == "gradient" or (max_value is None and threshold == 0.0):
            return original(x, *args, **kwargs)
        return family_relu(x, max_value, threshold, lambda z: original(z, 0.0, max_value, threshold), trace)

    return relu


def _not_a_relu(original, name: str):
    """``original`` (a Keras nonlinearity computed through ``Relu``/``Relu6`` ops, or a method
    computing one) with its ops, inside a refdeconv trace, in a name scope that tells the
    op-level hook it is not a ReLU."""

    def function(x, *args, **kwargs):
        if current() is None:
            return original(x, *args, **kwargs)
        with tf.name_scope(f"{NOT_A_RELU_SCOPE}_{name}"):
            return original(x, *args, **kwargs)

    return function


def _traced_anew(original):
    """``tf.function``'s ``__call__``: inside a refdeconv trace, a copy of the called function
    (same Python function, signature, autograph and XLA options) traced in this trace, so that
    its capped and thresholded ReLUs are routed and its hard sigmoids scoped like the model's
    other ops; the user's own function and its cache of traced graphs are left untouched.

    A ``tf.function`` that a layer calls may have been traced before the refdeconv trace (a
    warm-up ``predict``, Keras building the layer, an earlier explainer): its graph then holds
    Keras's own ops, which the rule cannot reach (measured before: a capped ReLU's map off by
    0.45 of its scale, silently). Restored and other subclassed functions call their own stored
    graphs and are called as they are.
    """

    def call(self, *args, **kwargs):
        trace = current()
        if trace is None or type(self) is not polymorphic_function.Function:
            return original(self, *args, **kwargs)
        if id(self) not in trace.clones:  # each pair keeps its function alive, so ids stay their own
            clone = self._clone(None)  # noqa: SLF001 - TensorFlow's own copy of a Function
            trace.clones[id(self)] = (self, clone)
            trace.clones[id(clone)] = (clone, clone)  # the copy, called: traced as it is
        return original(trace.clones[id(self)][1], *args, **kwargs)

    return call


def _patches() -> list:
    """``(owner, attribute, replacement factory)`` of the Keras functions routed during a trace."""
    from keras.src.activations import activations
    from keras.src.backend.tensorflow import nn as keras_tf_nn

    from keras.src.layers.activations.prelu import PReLU

    patches = [
        (polymorphic_function.Function, "__call__", _traced_anew),
        (activations.ReLU, "static_call", lambda f: staticmethod(_routed_relu(f, "negative_slope"))),
        (keras_tf_nn, "hard_sigmoid", lambda f: _not_a_relu(f, "hard_sigmoid")),
        (keras_tf_nn, "hard_silu", lambda f: _not_a_relu(f, "hard_silu")),
        (PReLU, "call", lambda f: _not_a_relu(f, "prelu")),  # relu(x) - alpha * relu(-x)
    ]
    if "tf_keras.src.backend" in sys.modules:
        patches.append((sys.modules["tf_keras.src.backend"], "relu", lambda f: _routed_relu(f, "alpha")))
    if "tf_keras.src.layers.activation.prelu" in sys.modules:
        patches.append((sys.modules["tf_keras.src.layers.activation.prelu"].PReLU, "call",
                        lambda f: _not_a_relu(f, "prelu")))
    return patches


def _enter_patches() -> None:
    with _LOCK:
        if _PATCHES["count"] == 0:
            for owner, attr, make in _patches():
                _PATCHES["saved"].append((owner, attr, vars(owner)[attr]))
                setattr(owner, attr, make(getattr(owner, attr)))
        _PATCHES["count"] += 1


def _exit_patches() -> None:
    with _LOCK:
        _PATCHES["count"] -= 1
        if _PATCHES["count"] == 0:
            while _PATCHES["saved"]:
                owner, attr, descriptor = _PATCHES["saved"].pop()
                setattr(owner, attr, descriptor)


@contextlib.contextmanager
def override(rule: str):
    """Install ``rule`` on every ReLU whose forward pass and gradient are built in the block.

    Parameters
    ----------
    rule : {"gradient", "deconvnet", "guided"}
        ``"gradient"`` keeps TensorFlow's own ReLU gradients (and records which were built).

    Yields
    ------
    Trace
        What the override did, filled in as TensorFlow builds the gradients.

    Notes
    -----
    Both the forward call and ``tf.gradients`` must run inside the block. The rule is
    per thread: concurrent traces of other explainers, and any other code of the process,
    see TensorFlow's and Keras's own functions. The Keras functions are patched while at
    least one refdeconv trace runs in the process, each patch dispatching on the calling
    thread, and restored when the last one ends, also when the traced code raises.
    """
    rules.install_op_hooks()
    polyphase.install()
    switches.install()
    refusals.install()
    _enter_patches()
    try:
        with rules.active(Trace(rule)) as trace:
            yield trace
    finally:
        _exit_patches()
