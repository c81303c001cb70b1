"""Layers that call a ``tf.function``: each rule, and the user's own gradients, get their own backward pass.

Covers: TensorFlow caches a called concrete function's backward function on that function, so a
backward pass built inside one refdeconv trace could serve another rule's trace, or the user's
``tf.gradients`` after ``explain`` (measured: a ``Gradient`` explainer after a ``DeconvNet`` one
returned DeconvNet's maps with no warning, and the user's gradient was DeconvNet's too). In every
order of three explainers and the user's gradients (``tf.gradients`` in a ``tf.function``, and a
tape), on a model whose layer calls a ``tf.function`` holding a strided convolution of three
channels (the polyphase kernel) and a ReLU, every result equals the same model's with the layer
written without ``tf.function``, and the nested ReLU is on record with the explainer's rule. The
same with a capped Keras ReLU, whose backward pass refdeconv writes itself: traced in a DeConvNet
or guided trace, the function keeps that forward pass, and later backward passes (another rule,
the user's) get their own rule (measured before: the first rule served them all).
"""

import itertools

import keras
import numpy as np
import pytest
import tensorflow as tf

from refdeconv import DeconvNet, Gradient, GuidedBackprop
from refdeconv.testing import assert_maps_close

L = keras.layers
EXPLAINERS = {"deconvnet": DeconvNet, "gradient": Gradient, "guided": GuidedBackprop}
KERNEL = tf.constant(np.random.default_rng(0).normal(size=(3, 3, 3, 4)).astype(np.float32))


def _block(t):
    return tf.nn.relu(tf.nn.conv2d(t, KERNEL, strides=2, padding="SAME"))


CAPPED = L.ReLU(max_value=3.0)


def _capped_block(t):
    return CAPPED(2.0 * tf.nn.conv2d(t, KERNEL, strides=2, padding="SAME"))


class Block(L.Layer):
    """A strided convolution and a ReLU, computed by ``function`` (a ``tf.function`` or not)."""

    def __init__(self, function, **kwargs):
        super().__init__(**kwargs)
        self.function = function

    def call(self, t):
        return self.function(t)

    def compute_output_shape(self, shape):
        return shape[0], (shape[1] + 1) // 2, (shape[2] + 1) // 2, 4


def _model(function):
    inp = keras.Input((9, 9, 3))
    head = L.Dense(3, kernel_initializer=keras.initializers.Constant(np.random.default_rng(1).normal(size=(100, 3))))
    return keras.Model(inp, head(L.Flatten()(Block(function)(inp))))


def _user_gradients(model, x, y) -> dict:
    @tf.function
    def in_graph(x):
        return tf.gradients(tf.reduce_sum(model(x) * y), x)[0]

    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        score = tf.reduce_sum(model(xt) * y)
    return {"tf.gradients in a tf.function": in_graph(xt).numpy(), "tape": tape.gradient(score, xt).numpy()}


ORDERS = list(itertools.permutations(["deconvnet", "gradient", "guided", "user"]))


@pytest.mark.parametrize("block, order", [(_block, order) for order in ORDERS[::5]]
                         + [(_capped_block, order) for order in ORDERS if order[0] in ("deconvnet", "guided")][::3],
                         ids=lambda v: "-".join(v) if isinstance(v, tuple) else v.__name__)
def test_each_rule_and_the_user_get_their_own_backward_pass(block, order):
    nested, plain = _model(tf.function(block, autograph=False)), _model(block)
    x = np.random.default_rng(2).normal(size=(2, 9, 9, 3)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[[0, 2]]
    want = {rule: cls(plain).explain(x, y).numpy() for rule, cls in EXPLAINERS.items()}
    want_user = _user_gradients(plain, x, y)["tape"]
    for step in order * 2:  # twice: the second round finds whatever the first cached
        if step == "user":
            for how, got in _user_gradients(nested, x, y).items():
                assert_maps_close(got, want_user, "float32", f"the user's gradient ({how}) after {order}")
            continue
        explainer = EXPLAINERS[step](nested)
        assert_maps_close(explainer.explain(x, y).numpy(), want[step], "float32", f"{step} in the order {order}")
        if step != "gradient":
            relus = [e for e in explainer.rules_applied if "Relu" in e["type"] or "ReLU" in e["type"]]
            assert relus and all(e["rule"] == step for e in relus), f"{step}: {explainer.rules_applied}"


class _Nested(keras.layers.Layer):
    """``relu(dense(x))`` in a ``tf.function`` of a lambda; with ``hidden``, the ReLU sits under a
    ``tf.custom_gradient`` whose backward pass is the identity, so its own gradient is never built."""

    def __init__(self, hidden: bool, **kwargs):
        super().__init__(**kwargs)
        self.dense = keras.layers.Dense(4)

        @tf.custom_gradient
        def opaque(z):
            return tf.nn.relu(z), lambda u: u

        self.fn = tf.function(lambda x: opaque(self.dense(x)) if hidden else tf.nn.relu(self.dense(x)))

    def call(self, x):
        return self.fn(x)


def test_records_of_nested_functions_do_not_collide():
    """Two nested functions each hold an op named ``Relu`` (in graphs both named ``<lambda>``): one is
    reached, one is not; each entry is its own, named through its calling op (measured before: one
    name for both, and the unreached ReLU recorded as having got the rule)."""
    keras.utils.set_random_seed(0)
    inp = keras.Input((3,))
    model = keras.Model(inp, keras.layers.Dense(2)(_Nested(True)(_Nested(False)(inp))))
    explainer = DeconvNet(model)
    with pytest.warns(UserWarning, match="never builds"):
        explainer.explain(np.ones((2, 3), np.float32), np.array([0, 1]))
    record = {e["op"]: e["rule"] for e in explainer.rules_applied if e["type"] == "Relu"}
    assert len(record) == 2 and sorted(record.values()) == ["deconvnet", "not reached"], explainer.rules_applied
