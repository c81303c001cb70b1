"""The user's model is never changed, and what the override did is on record.

Covers the override issue's items 3 and 4: weights, layers, activations,
outputs and ordinary gradients are identical after ``explain``, also when
``explain`` raised inside the traced function (with the Keras-level patch
active); non-ReLU nonlinearities keep their gradient, with one warning naming
them; a model with no ReLU gets a warning; ``rules_applied`` says which
operation got which rule.
"""

import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras.src.activations import activations

from refdeconv import DeconvNet, Gradient, GuidedBackprop

L = keras.layers


class SubclassedNet(keras.Model):
    def __init__(self):
        super().__init__()
        self.conv, self.dense = L.Conv2D(3, 3), L.Dense(2)

    def call(self, x):
        return self.dense(L.Flatten()(tf.nn.relu(self.conv(x))))


def _models():
    keras.utils.set_random_seed(5)
    inp = keras.Input((5, 5, 2))
    inner = keras.Sequential([keras.Input((3, 3, 3)), L.ReLU(max_value=0.5), L.Flatten()])
    functional = keras.Model(inp, L.Dense(2, activation="tanh")(
        inner(L.Lambda(tf.nn.relu)(L.Conv2D(3, 3, activation="relu")(inp)))))
    sequential = keras.Sequential([keras.Input((5, 5, 2)), L.Conv2D(3, 3), L.ReLU(threshold=0.2),
                                   L.MaxPooling2D(2, strides=1), L.Flatten(), L.Dense(2, activation="softmax")])
    subclassed = SubclassedNet()
    subclassed(np.zeros((1, 5, 5, 2), np.float32))
    return {"functional": functional, "sequential": sequential, "subclassed": subclassed}


def _snapshot(model, x):
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        out = model(xt)
        score = tf.reduce_sum(out * [1.0, -1.0])
    grad = tape.gradient(score, xt)
    return {
        "weights": [w.copy() for w in model.get_weights()],
        "layers": [(type(layer), layer.name, getattr(layer, "activation", None)) for layer in model.layers],
        "configs": [layer.get_config() for layer in model.layers if not isinstance(layer, keras.Model)],
        "output": out.numpy(),
        "gradient": grad.numpy(),
        "keras relu": vars(activations.ReLU)["static_call"],
    }


def _assert_same(before, after, context):
    for key in before:
        b, a = before[key], after[key]
        if key in ("weights", "output", "gradient"):
            for u, v in zip(b if key == "weights" else [b], a if key == "weights" else [a]):
                np.testing.assert_array_equal(u, v, err_msg=f"{context}: {key} changed")
        else:
            assert b == a or b is a, f"{context}: {key} changed: {b!r} -> {a!r}"


def _failing_operator(f, x, y):
    f(x)  # the forward pass runs under the override, then the operator fails
    raise RuntimeError("operator failed on purpose")


@pytest.mark.parametrize("kind", ["functional", "sequential", "subclassed"])
@pytest.mark.parametrize("fails", [False, True], ids=["explain ok", "explain raised"])
def test_model_is_unchanged_by_explain(kind, fails):
    model = _models()[kind]
    x = np.random.default_rng(0).normal(size=(2, 5, 5, 2)).astype(np.float32)
    before = _snapshot(model, x)
    for cls in (DeconvNet, GuidedBackprop):
        explainer = cls(model, operator=_failing_operator if fails else None)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if fails:
                with pytest.raises(ValueError, match="operator: failed .*on purpose"):
                    explainer.explain(x, np.eye(2))
            else:
                explainer.explain(x, np.eye(2))
        _assert_same(before, _snapshot(model, x), f"{cls.__name__} on the {kind} model")


def test_record_and_warnings():
    model = _models()["functional"]
    x = np.ones((1, 5, 5, 2), np.float32)
    explainer = DeconvNet(model)
    with pytest.warns(UserWarning, match="ordinary gradient: Tanh"):
        explainer.explain(x, np.eye(2)[:1])
    got = {(entry["type"], entry["rule"]) for entry in explainer.rules_applied}
    assert got == {("Relu", "deconvnet"), ("ReLU(max_value=0.5, threshold=0.0)", "deconvnet"), ("Tanh", "gradient")}, got
    assert sum(e["type"] == "Relu" for e in explainer.rules_applied) == 2, explainer.rules_applied
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        explainer.explain(x, np.eye(2)[:1])  # once per explainer


def test_a_model_without_relu_is_flagged():
    model = keras.Sequential([keras.Input((3,)), L.Dense(2, activation="sigmoid")])
    with pytest.warns(UserWarning, match="no ReLU"):
        DeconvNet(model).explain(np.ones((1, 3)), np.eye(2)[:1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Gradient(model).explain(np.ones((1, 3)), np.eye(2)[:1])  # the control does not warn
