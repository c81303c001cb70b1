"""Datasets whose samples differ in shape (issue 23, item 3).

Covers: a ``tf.data.Dataset`` of images of several sizes, or of ``padded_batch`` sequences whose
padded length differs from batch to batch, is explained at any ``batch_size`` (samples are
batched in runs of consecutive samples of the same shape); ``explain`` returns a list of one map
per sample, in its own shape, in the Dataset's order, each bitwise equal to explaining that
sample alone as an array (CPU), and one tensor as before where every map has the same shape;
targets come from ``(x, y)`` pairs; a two-input model fed dicts gets a list for the input whose
shapes vary and a tensor for the other; a sample of a shape the model does not take raises a
``ValueError`` naming ``inputs`` and the sample, up front where the Dataset's spec tells; the
collector assembles runs of several shapes in order, sharing memory where aligned.
"""

import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

from refdeconv import DeconvNet
from refdeconv.explainers.outputs import Collector

L = keras.layers
RNG = np.random.default_rng(23)


def _explain(model, inputs, targets=None, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return DeconvNet(model, **kwargs).explain(inputs, targets)


def _generated(samples, spec):
    return tf.data.Dataset.from_generator(lambda: iter(samples), output_signature=spec)


def _check_each_alone(model, got, xs, ys, context):
    """Each map is the map of its sample explained alone as an array, bitwise."""
    assert isinstance(got, list) and len(got) == len(xs), f"{context}: expected a list of {len(xs)} maps, got {got!r:.200}"
    for i, (m, x, y) in enumerate(zip(got, xs, ys)):
        alone = _explain(model, x[None], None if y is None else np.asarray([y]), batch_size=1)[0]
        assert isinstance(m, tf.Tensor) and m.shape == x.shape and m.dtype == alone.dtype, \
            f"{context}: map {i} has shape {m.shape}, dtype {m.dtype}; its sample {x.shape}, {alone.dtype}"
        np.testing.assert_array_equal(m.numpy(), alone.numpy(), err_msg=f"{context}: map {i} differs from its sample alone")


@pytest.fixture(scope="module")
def image_model():
    return keras.Sequential([keras.Input((None, None, 3)), L.Conv2D(4, 3, activation="relu"), L.MaxPooling2D(),
                             L.GlobalAveragePooling2D(), L.Dense(3)])


@pytest.fixture(scope="module")
def sequence_model():
    return keras.Sequential([keras.Input((None, 2)), L.Conv1D(4, 2, activation="relu"), L.GlobalMaxPooling1D(),
                             L.Dense(3)])


SIZES = [(6, 8), (6, 8), (6, 8), (5, 7), (6, 8), (9, 4), (9, 4)]  # runs of 3, 1, 1, 2: batch_size 2 splits the first


@pytest.mark.parametrize("batch_size", [1, 2, None])
def test_images_of_several_sizes_each_as_explained_alone(image_model, batch_size):
    xs = [RNG.normal(size=(h, w, 3)).astype("float32") for h, w in SIZES]
    ys = [int(i % 3) for i in range(len(xs))]
    pairs = _generated(list(zip(xs, ys)), (tf.TensorSpec((None, None, 3), tf.float32), tf.TensorSpec((), tf.int32)))
    _check_each_alone(image_model, _explain(image_model, pairs, batch_size=batch_size), xs, ys,
                      f"(x, label) pairs, batch_size={batch_size}")
    half = [x.astype("float16") for x in xs]  # cast to the model's dtype, as arrays are; top class; unknown rank
    got = _explain(image_model, _generated(half, tf.TensorSpec(None, tf.float16)), batch_size=batch_size)
    _check_each_alone(image_model, got, half, [None] * len(xs), f"float16 samples alone, batch_size={batch_size}")


def test_padded_batches_of_different_lengths(sequence_model):
    lengths = [3, 5, 4, 4, 6, 2, 2]
    seqs = [RNG.normal(size=(n, 2)).astype("float32") for n in lengths]
    labels = [i % 3 for i in range(len(seqs))]
    ds = _generated(list(zip(seqs, labels)), (tf.TensorSpec((None, 2), tf.float32), tf.TensorSpec((), tf.int64)))
    padded = ds.padded_batch(2)  # lengths 5, 4, 6, 2: as the model sees them
    expected = [x for batch, _ in padded for x in batch.numpy()]
    for batch_size in (1, 3):
        got = _explain(sequence_model, padded, batch_size=batch_size)
        _check_each_alone(sequence_model, got, expected, labels, f"padded_batch(2), batch_size={batch_size}")
    same = ds.take(2).padded_batch(2)  # one padded length: one tensor, as for arrays
    got = _explain(sequence_model, same, batch_size=1)
    want = _explain(sequence_model, np.stack(expected[:2]), np.asarray(labels[:2]))
    assert isinstance(got, tf.Tensor), f"maps of one shape: expected one tensor, got {type(got).__name__}"
    np.testing.assert_array_equal(got.numpy(), want.numpy(), err_msg="padded_batch of one length vs arrays")


def test_two_inputs_as_dicts_a_list_where_shapes_vary(sequence_model):
    seq, vec = keras.Input((None, 2), name="seq"), keras.Input((4,), name="vec")
    joined = L.Concatenate()([L.GlobalMaxPooling1D()(L.Conv1D(3, 2, activation="relu")(seq)),
                              L.Dense(3, activation="relu")(vec)])
    model = keras.Model({"seq": seq, "vec": vec}, L.Dense(2)(joined))
    seqs = [RNG.normal(size=(n, 2)).astype("float32") for n in (3, 3, 5)]
    vecs = [RNG.normal(size=4).astype("float32") for _ in seqs]
    ds = _generated([({"seq": s, "vec": v}, 1) for s, v in zip(seqs, vecs)],
                    ({"seq": tf.TensorSpec((None, 2), tf.float32), "vec": tf.TensorSpec((4,), tf.float32)},
                     tf.TensorSpec((), tf.int32)))
    got = _explain(model, ds, batch_size=2)
    assert set(got) == {"seq", "vec"} and isinstance(got["seq"], list) and isinstance(got["vec"], tf.Tensor), \
        f"expected a dict of a list (seq) and a tensor (vec), got {got!r:.300}"
    for i, (s, v) in enumerate(zip(seqs, vecs)):
        alone = _explain(model, {"seq": s[None], "vec": v[None]}, np.asarray([1]))
        np.testing.assert_array_equal(got["seq"][i].numpy(), alone["seq"][0].numpy(), err_msg=f"seq map {i}")
        np.testing.assert_array_equal(got["vec"][i].numpy(), alone["vec"][0].numpy(), err_msg=f"vec map {i}")


def test_a_sample_the_model_does_not_take(image_model):
    xs = [np.ones((6, 8, 3), "float32"), np.ones((5, 5, 3), "float32"), np.ones((5, 5, 1), "float32")]
    with pytest.raises(ValueError, match=r"^inputs: sample 2 of the Dataset has shape \(5, 5, 1\).*\(None, None, 3\)"):
        _explain(image_model, _generated(xs, tf.TensorSpec((None, None, None), tf.float32)), batch_size=4)
    grey = _generated(xs[2:], tf.TensorSpec((None, None, 1), tf.float32))  # the spec tells: before any work
    with pytest.raises(ValueError, match=r"^inputs: the Dataset's samples have shape \(None, None, 1\)"):
        _explain(image_model, grey)


def test_collector_runs_of_several_shapes():
    collector = Collector()
    parts = [np.arange(2 * 3 * 2, dtype="float32").reshape(2, 3, 2), np.ones((1, 3, 2), "float32"),
             np.full((2, 4, 4), 2.0, "float32"), np.zeros((1, 3, 2), "float32")]
    for part in parts:
        collector.add(part)
    got = collector.result()
    want = [sample for part in parts for sample in part]
    assert len(got) == len(want), f"Collector.result: {len(got)} maps for {len(want)} samples"
    for i, (g, w) in enumerate(zip(got, want)):
        np.testing.assert_array_equal(g.numpy(), w, err_msg=f"Collector.result()[{i}]")
    uniform = Collector()
    for part in parts[:2]:
        uniform.add(part)
    np.testing.assert_array_equal(uniform.result().numpy(), np.concatenate(parts[:2]), err_msg="one run: one tensor")
