"""The seed API end to end: input types, target forms, dtypes, batching, output_layer, operators.

Covers the seed-API issue's properties: over input type x shape x batch size x
target form x dtype, the maps equal the reference (forward checked first) and
are bitwise equal on a repeat call; maps do not depend on the batch size; a
last partial batch or a new explainer on the same model does not re-trace;
``output_layer`` really cuts the model; operators are checked; empty input
returns empty maps without calling the model.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given
from hypothesis import strategies as st

from refdeconv import DeconvNet, Gradient, GuidedBackprop, reference
from refdeconv.testing import assert_maps_close
from tests.builders import build
from tests.strategies import cases

EXPLAINERS = {cls.rule: cls for cls in (DeconvNet, Gradient, GuidedBackprop)}
INPUT_TYPES = ("ndarray", "tensor", "dataset", "dataset-batched")
TARGET_FORMS = ("one-hot", "labels", "top class")
L = keras.layers


def as_input_type(kind, x, targets, batch: int, extra: str):
    """``(inputs, targets)`` for ``explain`` in one input type; Datasets carry their targets."""
    if kind == "ndarray":
        return x, targets
    if kind == "tensor":
        return tf.constant(x), None if targets is None else tf.constant(targets)
    ds = tf.data.Dataset.from_tensor_slices(x if targets is None else (x, targets))
    if kind == "dataset-batched":
        ds = ds.batch(batch)
    ds = {"map": lambda d: d.map(lambda *e: e if len(e) > 1 else e[0]), "prefetch": lambda d: d.prefetch(2),
          "cache": lambda d: d.cache(), "plain": lambda d: d}[extra](ds)
    return ds, None


def _targets(form, onehot, top):
    return {"one-hot": onehot, "labels": onehot.argmax(1), "top class": None}[form], (top if form == "top class" else onehot)


@pytest.mark.filterwarnings("ignore::UserWarning")
@given(case=cases(), rule=st.sampled_from(sorted(EXPLAINERS)), kind=st.sampled_from(INPUT_TYPES),
       form=st.sampled_from(TARGET_FORMS), dtype=st.sampled_from(["float32", "float64"]),
       batch_size=st.sampled_from([None, 1, 2, 3]), ds_batch=st.integers(1, 3),
       extra=st.sampled_from(["plain", "map", "prefetch", "cache"]))
def test_maps_equal_the_reference_for_every_input_form(case, rule, kind, form, dtype, batch_size, ds_batch, extra):
    net, x, onehot = case
    model = build(net, "functional", dtype=dtype)
    x = x.astype(dtype)
    context = f"{rule}, {kind} ({extra}), targets {form}, {dtype}, batch_size={batch_size}, {net}"
    out = reference.forward(model, x)
    assert_maps_close(model(x).numpy(), out, dtype, f"forward of {context}")
    top = np.eye(onehot.shape[1])[out.argmax(1)]
    targets, expected_targets = _targets(form, onehot, top)
    inputs, targets = as_input_type(kind, x, targets, ds_batch, extra)
    explainer = EXPLAINERS[rule](model, batch_size=batch_size)
    maps = explainer.explain(inputs, targets)
    assert maps.dtype == dtype and tuple(maps.shape) == x.shape, f"{context}: got {maps.dtype} {maps.shape}"
    assert_maps_close(maps.numpy(), reference.attribution(model, x, expected_targets, rule), dtype, context)
    again = explainer.explain(*as_input_type(kind, x, _targets(form, onehot, top)[0], ds_batch, extra))
    np.testing.assert_array_equal(again.numpy(), maps.numpy(), err_msg=f"{context}: repeat call differs")


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_low_precision_maps_keep_the_dtype_and_match_the_reference(dtype):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((6, 6, 2), dtype=dtype), L.Conv2D(4, 3, activation="relu", dtype=dtype),
                              L.AveragePooling2D(2, dtype=dtype), L.Flatten(dtype=dtype), L.Dense(3, dtype=dtype)])
    x = np.random.default_rng(0).normal(size=(4, 6, 6, 2)).astype(np.float32)  # cast to the model's dtype
    maps = DeconvNet(model).explain(x, np.eye(3)[[0, 1, 2, 0]])
    assert maps.dtype == dtype
    rounded = tf.cast(tf.cast(x, dtype), tf.float64).numpy()
    expected = reference.attribution(model, rounded, np.eye(3)[[0, 1, 2, 0]], "deconvnet")
    assert_maps_close(tf.cast(maps, tf.float64).numpy(), expected, dtype, f"DeconvNet on a {dtype} model")


def _counting_operator():
    calls = []

    def operator(f, x, y):  # its Python body runs once per trace, never per call
        calls.append(tuple(x.shape))
        return tf.reduce_sum(f(x) * y, -1)

    return operator, calls


def test_partial_batches_and_new_explainers_do_not_retrace():
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((5,)), L.Dense(4, activation="relu"), L.Dense(3)])
    operator, traces = _counting_operator()
    x, t = np.random.default_rng(0).normal(size=(7, 5)), np.eye(3)[[0, 1, 2, 0, 1, 2, 0]]
    first = DeconvNet(model, batch_size=3, operator=operator).explain(x, t)  # batches 3, 3, 1
    assert sorted(set(traces)) == [(1, 5), (3, 5)], traces  # one full and one partial batch shape
    traced_once = len(traces)
    DeconvNet(model, batch_size=3, operator=operator).explain(x[:4], t[:4])  # a new explainer: 3, 1
    DeconvNet(model, batch_size=3, operator=operator).explain(x, t)
    assert len(traces) == traced_once, f"re-traced: {traces[traced_once:]}"
    other = DeconvNet(model, batch_size=None, operator=operator).explain(x, t)  # another batch size
    assert_maps_close(first.numpy(), other.numpy(), "float32", "maps vs batch size")


def test_output_layer_really_cuts_the_model():
    keras.utils.set_random_seed(2)
    inner = keras.Sequential([keras.Input((6,)), L.Dense(5, activation="relu"), L.Dense(4, activation="relu")], name="block")
    inp = keras.Input((6,))
    logits = L.Dense(3, name="logits")(inner(inp))
    model = keras.Model(inp, L.Softmax(name="probs")(logits))
    logits_model = keras.Model(inp, logits)
    x, t = np.random.default_rng(0).normal(size=(4, 6)), np.eye(3)[[0, 1, 2, 1]]
    expected = DeconvNet(logits_model).explain(x, t).numpy()
    for layer in ("logits", -2, 2):
        np.testing.assert_array_equal(DeconvNet(model, output_layer=layer).explain(x, t).numpy(), expected)
    assert not np.allclose(DeconvNet(model).explain(x, t).numpy(), expected), "the softmax was not cut off"
    at_block = DeconvNet(model, output_layer="block").explain(x, np.eye(4)[[0, 1, 2, 3]]).numpy()
    assert_maps_close(at_block, reference.attribution(inner, x, np.eye(4)[[0, 1, 2, 3]]), "float32", "cut at a nested model")
    seq = keras.Sequential([keras.Input((6,)), L.Dense(3, name="d"), L.Activation("softmax")])
    assert_maps_close(Gradient(seq, output_layer=-2).explain(x, t).numpy(),
                      reference.attribution(seq, x, t, "gradient", output_layer="d"), "float32", "Sequential cut")


def test_operators_built_in_and_custom():
    keras.utils.set_random_seed(3)
    seg = keras.Sequential([keras.Input((6, 6, 1)), L.Conv2D(3, 3, padding="same", activation="relu"),
                            L.Conv2D(2, 1)])
    x = np.random.default_rng(0).normal(size=(2, 6, 6, 1))
    mask = np.zeros((2, 6, 6, 2))
    mask[:, 2:4, 2:4, 1] = 1
    got = DeconvNet(seg, operator="semantic_segmentation").explain(x, mask).numpy()
    assert_maps_close(got, reference.attribution(seg, x, mask), "float32", "semantic segmentation operator")
    reg = keras.Sequential([keras.Input((4,)), L.Dense(3, activation="relu"), L.Dense(2)])
    xr = np.random.default_rng(1).normal(size=(3, 4))
    assert_maps_close(DeconvNet(reg, operator="regression").explain(xr, np.ones((3, 2))).numpy(),
                      reference.attribution(reg, xr, np.ones((3, 2))), "float32", "regression operator")
    doubled = DeconvNet(reg, operator=lambda f, x, y: 2.0 * tf.reduce_sum(f(x) * y, -1)).explain(xr, np.ones((3, 2)))
    assert_maps_close(doubled.numpy(), 2.0 * reference.attribution(reg, xr, np.ones((3, 2))), "float32", "custom operator")


def test_empty_input_returns_empty_maps_without_calling_the_model():
    calls = []

    class Spy(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = L.Dense(2)

        def call(self, x):
            calls.append(1)
            return self.dense(tf.nn.relu(x))

    model = Spy()
    model(np.zeros((1, 3, 4)))
    calls.clear()
    empty = np.zeros((0, 3, 4), np.float32)
    for inputs, targets in [(empty, np.zeros((0, 3, 2))), (tf.constant(empty), None),
                            (tf.data.Dataset.from_tensor_slices((empty, np.zeros((0, 3, 2)))), None)]:
        maps = DeconvNet(model).explain(inputs, targets)
        assert tuple(maps.shape) == (0, 3, 4) and maps.dtype == tf.float32, (maps.shape, maps.dtype)
    assert not calls, f"the model was called {len(calls)} times on empty input"


@pytest.mark.parametrize("batch", [1, 2, 3])
def test_a_dataset_of_batches_of_unknown_rank_is_read_as_batches(batch):
    """A generator's or a ``py_function``'s elements may have no static rank: the first element
    tells whether they are batches (the model's input rank) or samples, whatever their sizes."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((6, 6, 2)), keras.layers.Conv2D(3, 3, activation="relu"),
                              keras.layers.MaxPooling2D(2), keras.layers.Flatten(), keras.layers.Dense(4)])
    x = np.random.default_rng(0).normal(size=(7, 6, 6, 2)).astype(np.float32)
    t = np.eye(4, dtype=np.float32)[np.arange(7) % 4]
    unknown = tf.TensorSpec(None, tf.float32)
    batches = tf.data.Dataset.from_generator(lambda: ((x[i:i + batch], t[i:i + batch]) for i in range(0, 7, batch)),
                                             output_signature=(unknown, unknown))
    samples = tf.data.Dataset.from_generator(lambda: zip(x, t), output_signature=(unknown, unknown))
    want = DeconvNet(model, batch_size=2).explain(x, t).numpy()
    for dataset, kind in ((batches, "batches"), (samples, "samples")):
        got = DeconvNet(model, batch_size=2).explain(dataset).numpy()
        np.testing.assert_array_equal(got, want, err_msg=f"a Dataset of {kind} of unknown rank")
