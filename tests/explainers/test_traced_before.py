"""Functions traced before refdeconv's trace (``refdeconv.explainers.override``, ``tf.function`` copies).

Covers issue 23, item 2: a layer whose ``call`` runs a ``tf.function`` (decorated method or
attribute) holding a capped ReLU, a thresholded ReLU, a hard sigmoid or a hard swish, the model
called once (a warm-up ``predict``, or another explainer) before the explainer: every rule's map
equals the same model's written without ``tf.function`` (measured before: a capped ReLU's
DeconvNet map off by 0.45 of its scale, silently), the record names what each got, and the user's
function keeps its own traced graphs (refdeconv traces a copy, never into the user's cache).
"""

import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

from refdeconv import DeconvNet, Gradient, GuidedBackprop
from refdeconv.testing import assert_maps_close

L = keras.layers
EXPLAINERS = {"deconvnet": DeconvNet, "gradient": Gradient, "guided": GuidedBackprop}
ACTIVATIONS = {
    "capped": (lambda: L.ReLU(max_value=3.0), "ReLU(max_value=3.0, threshold=0.0)"),
    "thresholded": (lambda: L.ReLU(threshold=0.5), "ReLU(max_value=None, threshold=0.5)"),
    "hard_sigmoid": (lambda: L.Activation("hard_sigmoid"), "hard_sigmoid"),
    "hard_silu": (lambda: L.Activation("hard_silu"), "hard_silu"),
}


class Block(L.Layer):
    """``activation(dense(x))``, run through a ``tf.function`` attribute or not at all."""

    def __init__(self, activation, traced: bool, **kwargs):
        super().__init__(**kwargs)
        self.dense, self.activation, self.traced = L.Dense(6), activation, traced
        self.block = tf.function(self._block) if traced else self._block

    def _block(self, x):
        return self.activation(self.dense(x))

    def call(self, x):
        return self.block(x)


class DecoratedBlock(Block):
    """The same, with ``call`` itself decorated."""

    @tf.function
    def call(self, x):
        return self._block(x)


def _model(kind: str, block=Block, traced=True):
    keras.utils.set_random_seed(1)
    inp = keras.Input((5,))
    return keras.Model(inp, L.Dense(3)(block(ACTIVATIONS[kind][0](), traced)(inp)))


X = np.random.default_rng(0).normal(scale=3.0, size=(4, 5)).astype("float32")
Y = np.array([0, 1, 2, 0])


def _explain(cls, model):
    explainer = cls(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return explainer.explain(X, Y).numpy(), explainer.rules_applied


@pytest.mark.parametrize("kind,block", [(kind, Block) for kind in sorted(ACTIVATIONS)] + [("capped", DecoratedBlock)])
def test_functions_traced_by_a_warm_up_predict(kind, block):
    model, plain = _model(kind, block), _model(kind, traced=False)
    model.predict(X, verbose=0)  # traces the user's function with Keras's own ops
    function = model.layers[1].block if block is Block else model.layers[1].call
    traced = function.experimental_get_tracing_count()
    for rule in ("gradient", "deconvnet", "guided", "deconvnet"):  # a Gradient explainer first too
        maps, record = _explain(EXPLAINERS[rule], model)
        expected, _ = _explain(EXPLAINERS[rule], plain)
        assert_maps_close(maps, expected.astype("float64"), "float32", f"{kind}, {rule}: traced before explain")
        if rule == "gradient":  # TensorFlow's own gradients, op by op
            assert record and {e["rule"] for e in record} == {"gradient"}, f"{kind}, {rule}: {record}"
            continue
        got = [e["rule"] for e in record if e["type"] == ACTIVATIONS[kind][1]]
        want = rule if kind in ("capped", "thresholded") else "gradient"
        assert got and set(got) == {want}, f"{kind}, {rule}: {record}"
    assert function.experimental_get_tracing_count() == traced, "refdeconv traced into the user's function"
    np.testing.assert_array_equal(model.predict(X, verbose=0), plain.predict(X, verbose=0))
