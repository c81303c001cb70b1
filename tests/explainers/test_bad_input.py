"""Bad input of every argument: a ``TypeError``/``ValueError`` naming the argument, what was
expected and what came; nothing is changed by the failed call.

Covers the seed-API issue's item 8, one test case per class of bad input.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from refdeconv import DeconvNet

L = keras.layers


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((6, 6, 2)), L.Conv2D(3, 3, activation="relu", name="conv"),
                             L.Flatten(name="flat"), L.Dense(4, name="logits")])


X = np.random.default_rng(0).normal(size=(3, 6, 6, 2)).astype(np.float32)
T = np.eye(4, dtype=np.float32)[[0, 1, 2]]
NAN_X = X.copy()
NAN_X[1, 2, 3, 0] = np.nan
INF_T = T.copy()
INF_T[2, 1] = np.inf

EXPLAIN_CASES = {
    "inputs of the wrong rank": (dict(inputs=X[0], targets=T), ValueError, ["inputs", "(None, 6, 6, 2)", "(6, 6, 2)"]),
    "inputs of a wrong sample shape": (dict(inputs=X[:, :5], targets=T), ValueError, ["inputs", "(3, 5, 6, 2)"]),
    "a vector of inputs": (dict(inputs=np.zeros(3), targets=T), ValueError, ["inputs", "at least 2 axes", "(3,)"]),
    "non-numeric inputs": (dict(inputs=np.full((3, 6, 6, 2), "a"), targets=T), TypeError, ["inputs", "real numbers", "str"]),
    "complex inputs": (dict(inputs=X.astype(np.complex64), targets=T), TypeError, ["inputs", "complex64"]),
    "ragged inputs": (dict(inputs=[[1.0, 2.0], [3.0]], targets=T), TypeError, ["inputs", "rectangular"]),
    "NaN in inputs": (dict(inputs=NAN_X, targets=T), ValueError, ["inputs", "sample 1", "NaN"]),
    "N mismatch": (dict(inputs=X, targets=T[:2]), ValueError, ["targets", "3 rows", "(2, 4)"]),
    "wrong target width": (dict(inputs=X, targets=np.eye(5)[:3]), ValueError, ["targets", "(3, 4)", "(3, 5)"]),
    "labels out of range": (dict(inputs=X, targets=np.array([0, 4, 1])), ValueError, ["targets", "[0, 4)", "4", "sample 1"]),
    "float class labels": (dict(inputs=X, targets=np.array([0.0, 1.0, 2.0])), ValueError,
                           ["targets", "(3, 4)", "integer class labels", "float64", "integer dtype"]),
    "negative labels": (dict(inputs=X, targets=np.array([0, -1, 1])), ValueError, ["targets", "-1"]),
    "Inf in targets": (dict(inputs=X, targets=INF_T), ValueError, ["targets", "sample 2", "Inf"]),
    "non-numeric targets": (dict(inputs=X, targets=np.array(["a", "b", "c"])), TypeError, ["targets", "real numbers"]),
    "targets beside a Dataset": (
        dict(inputs=tf.data.Dataset.from_tensor_slices((X, T)), targets=T), ValueError, ["targets", "Dataset", "None"]),
    "a Dataset of triples": (
        dict(inputs=tf.data.Dataset.from_tensor_slices((X, T, T))), TypeError, ["inputs", "(x, y)", "3 parts"]),
    "NaN inside a Dataset": (
        dict(inputs=tf.data.Dataset.from_tensor_slices((NAN_X, T))), ValueError, ["inputs", "sample 1", "NaN"]),
    "labels out of range in a Dataset": (
        dict(inputs=tf.data.Dataset.from_tensor_slices((X, np.array([0, 1, 9])))), ValueError, ["targets", "9", "sample 2"]),
    "a Dataset batching samples of different shapes": (
        dict(inputs=tf.data.Dataset.from_generator(lambda: iter([X[0], X[1, :5]]), output_signature=tf.TensorSpec(
            (None, 6, 2), tf.float32)).batch(2)), ValueError, ["inputs", "Dataset failed", "shapes"]),
    "a Dataset whose x and y batches differ in size": (
        dict(inputs=tf.data.Dataset.zip((tf.data.Dataset.from_tensor_slices(X).batch(2),
                                         tf.data.Dataset.from_tensor_slices(T).batch(3)))),
        ValueError, ["inputs", "Dataset failed", "batch size"]),
}


@pytest.mark.parametrize("case", sorted(EXPLAIN_CASES))
def test_bad_explain_argument(model, case):
    kwargs, error, words = EXPLAIN_CASES[case]
    snapshot = [w.copy() for w in model.get_weights()], X.copy(), T.copy(), NAN_X.copy()
    with pytest.raises(error) as err:
        DeconvNet(model, batch_size=2).explain(**kwargs)
    message = str(err.value)
    assert all(w in message for w in words), f"{case}: {message!r} lacks one of {words}"
    for before, after in zip(snapshot[0], model.get_weights()):
        np.testing.assert_array_equal(before, after)
    for before, after in zip(snapshot[1:], (X, T, NAN_X)):
        np.testing.assert_array_equal(before, after)


def _subclassed():
    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = L.Dense(2)

        def call(self, x):
            return self.dense(tf.nn.relu(x))

    net = Net()
    net(np.zeros((1, 3)))
    return net


CONSTRUCTOR_CASES = {
    "not a Keras model": (lambda m: DeconvNet(lambda x: x), TypeError, ["model", "Keras model", "function"]),
    "an unknown layer name": (lambda m: DeconvNet(m, output_layer="nope"), ValueError, ["output_layer", "nope", "conv"]),
    "an index out of range": (lambda m: DeconvNet(m, output_layer=3), ValueError, ["output_layer", "3", "3 layers"]),
    "a float layer index": (lambda m: DeconvNet(m, output_layer=1.0), TypeError, ["output_layer", "float"]),
    "a subclassed model cut": (lambda m: DeconvNet(_subclassed(), output_layer=0), ValueError, ["output_layer", "subclassed"]),
    "batch_size zero": (lambda m: DeconvNet(m, batch_size=0), ValueError, ["batch_size", ">= 1", "0"]),
    "batch_size float": (lambda m: DeconvNet(m, batch_size=2.5), ValueError, ["batch_size", "2.5"]),
    "batch_size bool": (lambda m: DeconvNet(m, batch_size=True), ValueError, ["batch_size", "True"]),
    "operator of two arguments": (lambda m: DeconvNet(m, operator=lambda f, x: f(x)), TypeError, ["operator", "three"]),
    "operator not callable": (lambda m: DeconvNet(m, operator=3), TypeError, ["operator", "int"]),
    "unknown operator name": (lambda m: DeconvNet(m, operator="detection"), ValueError, ["operator", "classification"]),
}


@pytest.mark.parametrize("case", sorted(CONSTRUCTOR_CASES))
def test_bad_constructor_argument(model, case):
    make, error, words = CONSTRUCTOR_CASES[case]
    with pytest.raises(error) as err:
        make(model)
    assert all(w in str(err.value) for w in words), f"{case}: {str(err.value)!r} lacks one of {words}"


@pytest.mark.parametrize("operator, words", [
    (lambda f, x, y: f(x) * y, ["operator", "one scalar per sample", "(3, 4)"]),
    (lambda f, x, y: tf.reduce_sum(f(x) * y), ["operator", "one scalar per sample", "()"]),
    (lambda f, x, y: tf.reduce_sum(f(x) * y, -1)[:1], ["operator", "one scalar per sample"]),
])
def test_operator_output_is_checked_at_the_first_call(model, operator, words):
    with pytest.raises(ValueError) as err:
        DeconvNet(model, operator=operator).explain(X, T)
    assert all(w in str(err.value) for w in words), str(err.value)


def _divides_by_zero(f, x, y):
    return 1 / 0


@pytest.mark.parametrize("operator, error, words", [
    (lambda f, x, y: tf.reduce_sum(f(x) * tf.ones((5,)), -1), ValueError, ["Dimensions must be equal"]),
    (lambda f, x, y: f(x)[:, 7], ValueError, ["out of bounds"]),
    (lambda f, x, y: tf.reduce_sum(f(x) * y, -1, name=3), TypeError, []),
    (_divides_by_zero, ValueError, ["ZeroDivisionError"]),
])
def test_an_operator_that_fails_is_named_with_the_shapes_it_got(model, operator, error, words):
    """Every failure of the operator's own code, whatever its kind, names the operator and the shapes."""
    with pytest.raises(error) as err:
        DeconvNet(model, operator=operator).explain(X, T)
    words = ["operator: failed", "inputs of shape (3, 6, 6, 2)", "targets of shape (3, 4)", *words]
    assert all(w in str(err.value) for w in words), str(err.value)


def test_a_failure_of_the_model_inside_the_operator_is_not_blamed_on_it():
    class Fails(keras.layers.Layer):
        def call(self, x):
            if x.shape[0] is not None:  # a real batch, not Keras's symbolic build
                raise RuntimeError("the layer's own failure")
            return x

    model = keras.Sequential([keras.Input((6, 6, 2)), L.Flatten(), L.Dense(4)])
    model.add(Fails())
    with pytest.raises(RuntimeError, match="the layer's own failure"):
        DeconvNet(model, operator=lambda f, x, y: tf.reduce_sum(f(x) * y, -1)).explain(X, T)


def _dynamic(scores):
    """``scores`` with a length (and rank) TensorFlow only knows at run time."""
    shape = tf.shape(scores)
    return tf.reshape(scores, tf.boolean_mask(shape, shape > 0))


@pytest.mark.parametrize("operator, got", [
    (lambda f, x, y: tf.cast(tf.reduce_sum(f(x) * y, -1), tf.int32), "int32"),
    (lambda f, x, y: tf.reduce_sum(f(x) * y, -1) > 0, "bool"),
    (lambda f, x, y: tf.complex(tf.reduce_sum(f(x) * y, -1), 0.0), "complex64"),
    (lambda f, x, y: tf.strings.as_string(tf.reduce_sum(f(x) * y, -1)), "string"),
])
def test_an_operator_that_returns_scores_of_no_floating_dtype_is_named(model, operator, got):
    with pytest.raises(TypeError, match=rf"operator: must return real floating-point scores .*got {got}"):
        DeconvNet(model, operator=operator).explain(X, T)


def test_an_operator_that_never_calls_the_model_is_named(model):
    with pytest.raises(ValueError, match="operator: its scores do not depend on the model: it never calls f"):
        DeconvNet(model, operator=lambda f, x, y: tf.reduce_sum(y, -1)).explain(X, T)


@pytest.mark.parametrize("operator, got", [
    (lambda f, x, y: None, "NoneType"),
    (lambda f, x, y: tf.RaggedTensor.from_row_lengths(tf.reduce_sum(f(x) * y, -1), [1, 2]), "RaggedTensor"),
])
def test_an_operator_that_returns_no_dense_tensor_is_named(model, operator, got):
    with pytest.raises(TypeError, match=rf"operator: must return a (dense )?tensor .*got {got}"):
        DeconvNet(model, operator=operator).explain(X, T)


def _keeps_negative_inputs(f, x, y):
    """One score per sample whose input sums to at most 0: a length that depends on the data."""
    return tf.boolean_mask(tf.reduce_sum(f(x) * y, -1), tf.reduce_sum(x, [1, 2, 3]) <= 0.0)


@pytest.mark.parametrize("operator, words", [
    (lambda f, x, y: tf.boolean_mask(tf.reduce_sum(f(x) * y, -1), tf.reduce_sum(y, -1) > 2.0),
     ["operator", "one scalar per sample", "[0]"]),
    (lambda f, x, y: _dynamic(tf.reduce_sum(f(x) * y, -1))[1:], ["operator", "one scalar per sample", "2"]),
])
def test_operator_output_of_a_length_known_at_run_time_is_checked(model, operator, words):
    with pytest.raises(ValueError) as err:
        DeconvNet(model, operator=operator, batch_size=None).explain(X, T)
    assert all(w in str(err.value) for w in words), str(err.value)


def test_a_length_known_at_run_time_is_checked_on_every_batch_and_call(model):
    negative = -np.abs(X)
    one_positive = negative.copy()
    one_positive[2] = np.abs(X[2])  # in the second batch of two: dropped by the operator
    with pytest.raises(ValueError, match=r"operator: must return one scalar per sample, shape \(1,\)"):
        DeconvNet(model, operator=_keeps_negative_inputs, batch_size=2).explain(one_positive, T)
    explainer = DeconvNet(model, operator=_keeps_negative_inputs, batch_size=3)
    explainer.explain(negative, T)  # every score kept
    with pytest.raises(ValueError, match=r"operator: must return one scalar per sample, shape \(3,\), got shape \[2\]"):
        explainer.explain(one_positive, T)


def test_an_operator_of_a_length_known_at_run_time_gets_its_maps(model):
    dynamic = DeconvNet(model, operator=lambda f, x, y: _dynamic(tf.reduce_sum(f(x) * y, -1)), batch_size=2)
    assert np.array_equal(dynamic.explain(X, T).numpy(), DeconvNet(model, batch_size=2).explain(X, T).numpy())


def test_targets_none_needs_a_class_output(model):
    with pytest.raises(ValueError, match="targets: class labels need"):
        DeconvNet(model, output_layer="conv").explain(X, np.array([0, 1, 2]))
