"""Failures while the maps are computed, told for what they are.

Covers issue 23, item 7 (a)-(c): an operator that fails at run time (its own assertion, an op of it
failing on the data) is named as the operator, a run-time failure of the model still names
``inputs``; an operator that assumes the batch size fails on a smaller last batch with an error
naming the operator, the batch's shape and ``batch_size``; maps that are not finite from finite
inputs (a float16 model that overflows) get one ``RuntimeWarning`` per call saying how many.
"""

import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

from refdeconv import DeconvNet, reference
from refdeconv.testing import assert_maps_close

L = keras.layers
RNG = np.random.default_rng(7)
X = RNG.normal(size=(10, 6)).astype("float32")
LABELS = np.arange(10) % 3


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(7)
    return keras.Sequential([keras.Input((6,)), L.Dense(5, activation="relu"), L.Dense(3)])


def _asserting(bound):
    def operator(f, x, y):
        out = f(x)
        tf.debugging.assert_less(out, bound, message="logits out of bounds")  # no control dependency: runs anyway
        return tf.reduce_sum(out * y, -1)
    return operator


def test_an_operators_assertion_runs_and_is_named_as_the_operator(model):
    explainer = DeconvNet(model, batch_size=4, operator=_asserting(-100.0))
    for _ in range(2):  # the second call runs the pruned parts around the frontier
        with pytest.raises(ValueError, match=r"operator: failed at run time on inputs of shape \(4, 6\), in its op "
                                             r"'assert_less.*logits out of bounds"):
            explainer.explain(X, LABELS)
    explainer = DeconvNet(model, batch_size=4, operator=_asserting(100.0))
    for _ in range(2):
        assert_maps_close(explainer.explain(X, LABELS).numpy(), reference.attribution(model, X, LABELS, "deconvnet"),
                          "float32", "an operator whose assertion holds")


def test_an_operators_op_failing_on_the_data_is_named_as_the_operator(model):
    def gather(f, x, y):  # label 9 is no class of 3: the gather (or its gradient) fails at run time
        return tf.gather(f(x), tf.cast(tf.reduce_sum(y, -1) * 9, tf.int32), batch_dims=1)

    with pytest.raises(ValueError, match=r"operator: failed at run time .* in its op 'GatherV2.*out of range"):
        DeconvNet(model, batch_size=4, operator=gather).explain(X, np.ones((10, 3), "float32"))


def test_a_model_failing_at_run_time_still_names_inputs():
    keras.utils.set_random_seed(7)
    # Samples with x[0] > 100 gather column 50 of 4: the model fails on that data only.
    pick = L.Lambda(lambda t: tf.gather(t, tf.cast(t[:, :1] > 100, tf.int32) * 50, batch_dims=1))
    model = keras.Sequential([keras.Input((4,)), L.Dense(4, activation="relu"), pick, L.Dense(2)])
    x = np.ones((3, 4), "float32")
    x[1] = 1e4
    model.layers[0].kernel.assign(np.eye(4, dtype="float32"))
    with pytest.raises(ValueError, match=r"inputs: the model failed on inputs of shape \(3, 4\): .*out of range"):
        DeconvNet(model).explain(x, np.array([0, 1, 0]))


def test_an_operator_assuming_the_batch_size_is_told_on_the_last_batch(model):
    def four(f, x, y):
        return tf.reshape(tf.reduce_sum(f(x) * y, -1), (4,))

    with pytest.raises(ValueError, match=r"operator: failed .* inputs of shape \(2, 6\) .*batch of 2 inputs, fewer "
                                         r"than batch_size=4 .*any batch size"):
        DeconvNet(model, batch_size=4, operator=four).explain(X, LABELS)  # 4 + 4 + 2


def test_maps_that_overflow_get_one_warning_counting_them():
    keras.utils.set_random_seed(7)
    model = keras.Sequential([keras.Input((6,), dtype="float16"), L.Dense(5, activation="relu", dtype="float16"),
                              L.Dense(3, dtype="float16")])
    for layer in model.layers:
        layer.kernel.assign(np.full(layer.kernel.shape, 300, "float16"))
    # The map of weights w is w * 300 * 5 * 300 per input unit (no max-pool: independent of x):
    # 4.5e5 overflows float16 (max 65504) for w = 1, not for w = 1e-3.
    weights = np.full((6, 3), 1e-3, "float16")
    weights[[1, 4, 5]] = 1.0
    x = np.full((6, 6), 1e-3, "float16")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        maps = DeconvNet(model, batch_size=2, operator="regression").explain(x, weights).numpy()
    assert (~np.isfinite(maps).all(axis=1)).sum() == 3, maps
    said = [w for w in caught if issubclass(w.category, RuntimeWarning)]
    assert len(said) == 1 and "3 of 6 maps have NaN or Inf" in str(said[0].message), [str(w.message) for w in said]
    assert said[0].filename == __file__, f"the warning points at {said[0].filename}, not at the caller"
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        DeconvNet(model, batch_size=2, operator="regression").explain(x, weights * np.float16(1e-3))  # finite: silent
