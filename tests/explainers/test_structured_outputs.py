"""Models that return several outputs from ``call`` (a dict or a tuple, as Hugging Face style models
do, and Functional models with several heads).

Covers issue 23, item 4: an operator that picks one output explains it, with maps equal to those
of the same model written with that one output (and to the NumPy reference); the built-in
operators are refused with a ``ValueError`` naming ``operator`` and ``output_layer`` and listing the
outputs; ``targets=None`` (no top class) and integer labels (one-hot of which output?) are refused
naming ``targets``; targets of a wrong shape for the picked output name the operator.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from refdeconv import DeconvNet, reference
from refdeconv.testing import assert_maps_close

L = keras.layers
RNG = np.random.default_rng(23)
X = RNG.normal(size=(5, 6)).astype("float32")
LABELS = np.array([0, 2, 1, 1, 0])
ONE_HOT = np.eye(3, dtype="float32")[LABELS]


class Heads(keras.Model):
    """Two heads over shared layers, returned as a dict or a tuple."""

    def __init__(self, layers, as_dict):
        super().__init__()
        self.hidden, self.logits, self.aux = layers
        self.as_dict = as_dict

    def call(self, x):
        h = self.hidden(x)
        return {"logits": self.logits(h), "aux": self.aux(h)} if self.as_dict else (self.logits(h), self.aux(h))


def _layers():
    keras.utils.set_random_seed(4)
    return L.Dense(7, activation="relu"), L.Dense(3), L.Dense(2)


def _models(kind):
    """``(model of two outputs, the key picking the logits, the same logits model with one output)``."""
    hidden, logits, aux = layers = _layers()
    single = keras.Sequential([keras.Input((6,)), hidden, logits])
    if kind == "functional":
        inp = keras.Input((6,))
        h = hidden(inp)
        return keras.Model(inp, {"logits": logits(h), "aux": aux(h)}), "logits", single
    model = Heads(layers, as_dict=kind == "dict")
    model(X[:1])
    return model, "logits" if kind == "dict" else 0, single


KINDS = ["dict", "tuple", "functional"]


@pytest.mark.parametrize("kind", KINDS)
def test_an_operator_picking_one_output_gives_the_maps_of_that_output(kind):
    model, key, single = _models(kind)
    explainer = DeconvNet(model, batch_size=2, operator=lambda f, x, y: tf.reduce_sum(f(x)[key] * y, -1))
    alone = DeconvNet(single, batch_size=2).explain(X, LABELS).numpy()
    assert_maps_close(alone, reference.attribution(single, X, LABELS, "deconvnet"), "float32", f"{kind}: one output")
    calls = {"first call": explainer.explain(X, ONE_HOT), "second call": explainer.explain(X, ONE_HOT),  # pruned parts
             "Dataset": explainer.explain(tf.data.Dataset.from_tensor_slices((X, ONE_HOT)).batch(2))}
    for name, got in calls.items():
        np.testing.assert_array_equal(got.numpy(), alone, err_msg=f"{kind}, {name}: not the one-output model's maps")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("targets", [ONE_HOT, None], ids=["targets", "no targets"])
def test_a_built_in_operator_is_refused_listing_the_outputs(kind, targets):
    model, key, _ = _models(kind)
    listed = (r"\[0\] \(None, 3\), \[1\] \(None, 2\)" if kind == "tuple"
              else r"\['logits'\] \(None, 3\), \['aux'\] \(None, 2\)")
    with pytest.raises(ValueError, match=rf"operator: the built-in operator 'classification' .*{listed}.*output_layer"):
        DeconvNet(model).explain(X, targets)


@pytest.mark.parametrize("kind", ["dict", "functional"])
def test_targets_that_need_one_output_are_refused_naming_targets(kind):
    model, key, _ = _models(kind)
    explainer = DeconvNet(model, operator=lambda f, x, y: tf.reduce_sum(f(x)[key] * y, -1))
    with pytest.raises(ValueError, match=r"targets: the model returns several outputs .*no top class.*explicit"):
        explainer.explain(X, None)
    with pytest.raises(ValueError, match=r"targets: integer class labels .*\['aux'\] \(None, 2\)"):
        explainer.explain(X, LABELS)


def test_targets_of_a_wrong_shape_for_the_picked_output_name_the_operator():
    model, key, _ = _models("dict")
    explainer = DeconvNet(model, operator=lambda f, x, y: tf.reduce_sum(f(x)[key] * y, -1))
    with pytest.raises(ValueError, match=r"operator: failed .*targets of shape \(5, 4\)"):
        explainer.explain(X, np.ones((5, 4), "float32"))
    with pytest.raises(ValueError, match=r"targets: expected 5 rows"):
        explainer.explain(X, ONE_HOT[:4])
