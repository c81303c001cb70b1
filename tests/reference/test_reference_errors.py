"""What the reference refuses: layers it cannot model and malformed arguments.

Covers the foundation issue's item 3: a layer the reference cannot model gets a
``NotImplementedError`` naming the layer and its type, never a wrong map; and
bad arguments get a ``ValueError``/``TypeError`` naming the argument.
"""

import keras
import numpy as np
import pytest

from refdeconv import reference

L = keras.layers


def _sequential(*layers, shape=(4,)):
    return keras.Sequential([keras.Input(shape), *layers])


class _Subclassed(keras.Model):
    def __init__(self):
        super().__init__()
        self.dense = L.Dense(2)

    def call(self, x):
        return self.dense(x)


class _MyDense(L.Dense):
    """A subclass of a known layer: it may override ``call``, so it is refused."""


def _unsupported_models():
    inp = keras.Input((5, 3))
    attention = keras.Model(inp, L.MultiHeadAttention(1, 2, name="mha")(inp, inp))
    subclassed = _Subclassed()
    subclassed(np.zeros((1, 4)))
    return {
        "lambda": (_sequential(L.Lambda(lambda t: t * 2, name="double"), L.Dense(2)), "double", "Lambda", (4,)),
        "attention": (attention, "mha", "MultiHeadAttention", (5, 3)),
        "subclass of Dense": (_sequential(_MyDense(2, name="mine")), "mine", "_MyDense", (4,)),
        "dilated transposed conv": (
            _sequential(L.Conv1DTranspose(2, 2, dilation_rate=2, name="dilated"), shape=(6, 1)), "dilated", "Conv1DTranspose", (6, 1)),
        "depthwise, unequal strides": (
            _sequential(L.DepthwiseConv2D(2, strides=(1, 2), name="uneven"), shape=(4, 4, 2)), "uneven", "DepthwiseConv2D", (4, 4, 2)),
        "sparsemax": (_sequential(L.Dense(2, activation="sparsemax", name="dense_sparsemax")), "dense_sparsemax", "Dense", (4,)),
        "subclassed model": (subclassed, subclassed.name, "_Subclassed", (4,)),
    }


@pytest.mark.parametrize("case", sorted(_unsupported_models()))
def test_unsupported_layer_is_refused_by_name_and_type(case):
    model, name, kind, input_shape = _unsupported_models()[case]
    with pytest.raises(NotImplementedError) as err:
        reference.attribution(model, np.zeros((1, *input_shape)), np.zeros((1, 2)))
    assert name in str(err.value) and kind in str(err.value), str(err.value)


@pytest.fixture(scope="module")
def model():
    return _sequential(L.Dense(3, activation="relu", name="hidden"), L.Dense(2, name="logits"))


@pytest.mark.parametrize(
    "kwargs, error, words",
    [
        (dict(inputs=np.zeros((2, 5)), targets=np.zeros((2, 2))), ValueError, ["inputs", "(None, 4)", "(2, 5)"]),
        (dict(inputs=np.zeros((2, 4, 1)), targets=np.zeros((2, 2))), ValueError, ["inputs", "(2, 4, 1)"]),
        (dict(inputs=np.array([["a"] * 4]), targets=np.zeros((1, 2))), TypeError, ["inputs", "numeric"]),
        (dict(inputs=np.full((1, 4), np.nan), targets=np.zeros((1, 2))), ValueError, ["inputs", "NaN"]),
        (dict(inputs=np.zeros((2, 4)), targets=np.zeros((3, 2))), ValueError, ["targets", "(2, 2)", "(3, 2)"]),
        (dict(inputs=np.zeros((2, 4)), targets=np.array([0, 2])), ValueError, ["targets", "[0, 2)"]),
        (dict(inputs=np.zeros((1, 4)), targets=np.array([[np.inf, 0]])), ValueError, ["targets", "Inf"]),
        (dict(inputs=np.zeros((1, 4)), targets=np.zeros((1, 2)), rule="lrp"), ValueError, ["rule", "lrp"]),
        (dict(inputs=np.zeros((1, 4)), targets=np.zeros((1, 2)), output_layer="nope"), ValueError, ["output_layer", "nope"]),
        (dict(inputs=np.zeros((1, 4)), targets=np.zeros((1, 2)), output_layer=7), ValueError, ["output_layer", "7"]),
        (dict(inputs=np.zeros((1, 4)), targets=np.zeros((1, 2)), output_layer=1.5), TypeError, ["output_layer", "float"]),
    ],
)
def test_bad_arguments_name_the_argument(model, kwargs, error, words):
    with pytest.raises(error) as err:
        reference.attribution(model, **kwargs)
    assert all(w in str(err.value) for w in words), str(err.value)


def test_not_a_keras_model_is_a_type_error():
    with pytest.raises(TypeError, match="model"):
        reference.attribution(lambda x: x, np.zeros((1, 4)), np.zeros((1, 4)))


def test_unbuilt_model_is_a_value_error():
    with pytest.raises(ValueError, match="built"):
        reference.attribution(keras.Sequential([L.Dense(2)]), np.zeros((1, 4)), np.zeros((1, 2)))


def test_output_layer_cuts_the_model(model):
    """Cut at the hidden layer: the map is that of the hidden layer's output."""
    x, t = np.random.default_rng(0).normal(size=(2, 4)), np.eye(3)[[0, 2]]
    hidden = keras.Model(model.inputs, model.get_layer("hidden").output)
    for layer in ("hidden", 0, -2):
        np.testing.assert_array_equal(
            reference.attribution(model, x, t, output_layer=layer), reference.attribution(hidden, x, t)
        )
    np.testing.assert_array_equal(reference.forward(model, x, output_layer="hidden"), reference.forward(hidden, x))


def test_integer_labels_mean_their_one_hot_vectors(model):
    x = np.random.default_rng(1).normal(size=(3, 4))
    np.testing.assert_array_equal(
        reference.attribution(model, x, np.array([1, 0, 1])), reference.attribution(model, x, np.eye(2)[[1, 0, 1]])
    )


def test_inputs_and_weights_are_not_changed(model):
    x, t = np.random.default_rng(2).normal(size=(2, 4)), np.eye(2)
    x0, t0, w0 = x.copy(), t.copy(), [w.copy() for w in model.get_weights()]
    reference.attribution(model, x, t)
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(t, t0)
    for w, v in zip(model.get_weights(), w0):
        np.testing.assert_array_equal(w, v)
