"""The three ReLU rules as TensorFlow gradients, and the override that installs them.

=========== ============================================ =====================
rule        backward signal at a ReLU (input z, upstream u) installed as
=========== ============================================ =====================
gradient    ``u * 1[z active]``                           nothing: TensorFlow's
                                                          own gradient
deconvnet   ``relu(u)``                                   override
guided      ``relu(u) * 1[z active]``                     override
=========== ============================================ =====================

How the override reaches every ReLU
-----------------------------------
Keras 3 does not emit one op for "ReLU" (measured, TF 2.21 / Keras 3.15):
``activation="relu"``, ``ReLU()``, ``Activation("relu")``, ``keras.ops.relu``
and ``tf.nn.relu`` emit ``Relu``; ``relu6`` and ``ReLU(max_value=6)`` emit
``Relu6``; ``ReLU(max_value=3)`` emits ``Relu`` + ``Minimum`` + ``Maximum``;
``ReLU(threshold=0.5)`` emits ``Greater`` + ``SelectV2``, no ReLU op at all.
So the override works at two levels, both only while the forward pass is
being traced:

1. **Op level.** ``gradient_override_map({"Relu": ..., "Relu6": ...})`` on the
   tracing graph, differentiated with ``tf.gradients`` (``GradientTape`` ignores
   the map). This catches every ``Relu``/``Relu6`` op wherever it is created:
   nested sub-models at any depth, ``Lambda(tf.nn.relu)``, a subclassed
   model's ``call``, a layer reused several times, residual branches.
2. **Keras level.** Capped and thresholded ReLUs are routed, during the trace,
   through a ``tf.custom_gradient`` whose forward pass is Keras's own (the very
   same ops) and whose backward pass is the rule. This patches the one
   function every Keras ReLU activation goes through (Keras 3:
   ``keras.src.activations.activations.ReLU.static_call``; tf-keras:
   ``tf_keras.src.backend.relu``), and restores it on exit, also on error.

Layer-level swapping of activations (Xplique's way) was rejected: it misses
``tf.nn.relu`` in ``Lambda`` layers and subclassed calls, and ReLUs inside
nested models, and it must clone the model. An op-type override alone was
rejected too: it misses the capped and thresholded forms.

The forward pass is never changed, nor is the user's model: only gradient
functions differ, and only inside refdeconv's own traced function.

References
----------
.. [1] Zeiler, M. D. & Fergus, R. "Visualizing and Understanding Convolutional
   Networks", ECCV 2014, arXiv:1311.2901.
.. [2] Springenberg, J. T. et al. "Striving for Simplicity: The All
   Convolutional Net", ICLR 2015 workshop, arXiv:1412.6806.
"""

from __future__ import annotations

import contextlib
import sys
import threading

import tensorflow as tf

#: Rule -> backward signal at a ReLU, ``f(u, active)``; ``active()`` builds the
#: mask only when the rule needs it, so DeconvNet's backward pass does not keep
#: the forward ReLU values alive (TensorFlow prunes them).
SIGNALS = {
    "deconvnet": lambda u, active: tf.nn.relu(u),
    "guided": lambda u, active: tf.nn.relu(u) * tf.cast(active(), u.dtype),
}

_ACTIVE = {  # op type -> mask where the op's derivative is 1, as TensorFlow's own gradient
    "Relu": lambda op: op.outputs[0] > 0,
    "Relu6": lambda op: tf.logical_and(op.inputs[0] > 0, op.inputs[0] < 6),
}

_LOCK = threading.RLock()

#: Name scope of the forward ops of a capped/thresholded ReLU routed through :func:`family_relu`.
FAMILY_SCOPE = "refdeconv_family_relu"


def _op_gradient(rule: str, op_type: str):
    def gradient(op, u):
        return SIGNALS[rule](u, lambda: _ACTIVE[op_type](op))

    return gradient


def _register() -> dict:
    names = {}
    for rule in SIGNALS:
        for op_type in _ACTIVE:
            name = f"refdeconv_{rule}_{op_type}"
            tf.RegisterGradient(name)(_op_gradient(rule, op_type))
            names.setdefault(rule, {})[op_type] = name
    return names


_OVERRIDES = _register()


def family_relu(z, max_value, threshold, forward, rule: str):
    """A capped or thresholded ReLU with Keras's forward pass and ``rule``'s backward.

    Notes
    -----
    Active where ``threshold < z <= max_value``, matching the ops Keras emits
    (``Greater``; ``clip_by_value`` passes the gradient at the cap), except the
    fused ``Relu6`` (``max_value = 6`` without threshold), inactive at 6.
    """

    @tf.custom_gradient
    def relu_family(z):
        def active():
            on = z > threshold
            if max_value is not None:
                fused = max_value == 6 and threshold == 0
                on = tf.logical_and(on, z < max_value if fused else z <= max_value)
            return on

        with tf.name_scope(FAMILY_SCOPE):  # its inner Relu op is not a ReLU of its own
            y = forward(z)
        return y, lambda u: SIGNALS[rule](u, active)

    return relu_family(z)


def _targets() -> list:
    """``(owner, attribute, slope keyword, wrap)`` of every function through which Keras computes a ReLU
    activation: Keras 3's ``ReLU.static_call`` (a staticmethod) and, when loaded, tf-keras's ``backend.relu``."""
    from keras.src.activations import activations

    targets = [(activations.ReLU, "static_call", "negative_slope", staticmethod)]
    if "tf_keras.src.backend" in sys.modules:
        targets.append((sys.modules["tf_keras.src.backend"], "relu", "alpha", lambda f: f))
    return targets


def _routed(original, slope_name: str, rule: str, record: list):
    """``original`` with its capped and thresholded calls routed through :func:`family_relu`.

    A plain ReLU is left to the op-level override (it emits ``Relu``), and one
    with a negative slope is a leaky ReLU, not a ReLU: both call ``original``.
    """

    def relu(x, *args, **kwargs):
        params = {**dict(zip((slope_name, "max_value", "threshold"), args)), **kwargs}
        slope, max_value, threshold = params.get(slope_name, 0.0), params.get("max_value"), params.get("threshold", 0.0)
        if slope != 0.0 or (max_value is None and threshold == 0.0):
            return original(x, *args, **kwargs)
        record.append(_record_entry(max_value, threshold, rule))
        return family_relu(x, max_value, threshold, lambda z: original(z, 0.0, max_value, threshold), rule)

    return relu


def _record_entry(max_value, threshold, rule) -> dict:
    scope = tf.get_current_name_scope() or "<top>"
    return {"op": scope, "type": f"ReLU(max_value={max_value}, threshold={threshold})", "rule": rule}


@contextlib.contextmanager
def override(rule: str, record: list):
    """Install ``rule`` on every ReLU traced inside the ``with`` block.

    Parameters
    ----------
    rule : {"gradient", "deconvnet", "guided"}
        ``"gradient"`` installs nothing.
    record : list
        Receives one dict per capped/thresholded Keras ReLU routed through
        :func:`family_relu` (op-level overrides are read off the graph later).

    Notes
    -----
    Must be entered while a ``tf.function`` traces (it uses the default graph's
    ``gradient_override_map``). The Keras-level patch is process-wide for the
    duration of the trace, hence the lock; it is undone on exit, even when the
    traced code raises.
    """
    if rule == "gradient":
        yield
        return
    targets = _targets()
    graph = tf.compat.v1.get_default_graph()
    with _LOCK, graph.gradient_override_map(_OVERRIDES[rule]):
        saved = [(owner, attr, vars(owner)[attr]) for owner, attr, *_ in targets]
        try:
            for owner, attr, slope_name, wrap in targets:
                setattr(owner, attr, wrap(_routed(getattr(owner, attr), slope_name, rule, record)))
            yield
        finally:
            for owner, attr, descriptor in saved:
                setattr(owner, attr, descriptor)
