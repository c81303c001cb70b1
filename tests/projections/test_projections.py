"""Feature projections (issue 26, part 1): ``refdeconv.project`` against the NumPy oracle.

Covers: each projection equals the oracle's map of the model cut at the layer, seeded with the
unit's value one-hot at its (position, feature), for the three rules on a 2-D conv/ReLU/max-pool
net, a 1-D net (time axis) and a Functional residual net; the recorded values are the reference's
activations at the recorded units, the ``top_k`` largest in descending order, ties by first
occurrence (integer weights, exact ties); receptive fields equal brute-force dependency boxes
(valid, same, strided, dilated, pooled, padded/cropped/upsampled, causal 1-D, residual); a layer
the arithmetic does not know gives the whole input and says so; every bad argument raises naming
it; the model and the inputs are unchanged; ``Projections.save``/``load`` round-trip.
"""

from __future__ import annotations

import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

import refdeconv
from refdeconv import Projections, project

from . import nets
from .checks import check_maps, check_patches, check_units, projected

L = keras.layers
RULES = ("deconvnet", "guided", "gradient")


def _x(shape, n=4, seed=0):
    return np.random.default_rng(seed).normal(size=(n, *shape))


CASES = {  # name -> (model, inputs, layer, features): features whose top units are live (value > 0)
    "image": (nets.image_net, (10, 10, 2), "conv2", [0, 3, 4]),
    "sequence": (nets.sequence_net, (24, 3), "conv2", [0, 1, 3]),
    "residual": (nets.residual_net, (9, 9, 2), "res", [0, 1, 2]),
}


@pytest.fixture(scope="module", params=list(CASES))
def case(request):
    build, shape, layer, features = CASES[request.param]
    return build(), _x(shape), layer, features


@pytest.mark.parametrize("rule", RULES)
def test_maps_equal_the_oracle(case, rule):
    model, x, layer, features = case
    check_maps(model, x, layer, rule, features)


def test_units_are_the_top_activations(case):
    model, x, layer, features = case
    p = projected(model, x, layer, features=features)
    assert (p.values[:, -1] > 0).all(), "a dead feature would make the seed checks vacuous"
    check_units(model, x, layer, features)


def test_ties_go_to_the_first_occurrence():
    model, x = nets.integer_net(), nets.integer_inputs()
    for layer in ("conv", "pool"):
        acts = refdeconv.reference.forward(model, x, output_layer=layer)
        for f in range(2):
            top = np.sort(acts[..., f].ravel())[::-1]
            assert top[5] == top[6], f"{layer}/{f}: the 6th and 7th values must tie for the check to mean anything"
        check_units(model, x, layer, top_k=6)
        check_maps(model, x, layer, "deconvnet", top_k=6)


def test_all_features_by_default_and_shapes():
    model, x = nets.image_net(), _x((10, 10, 2), n=3)
    p = projected(model, x, "conv2", top_k=2)
    assert p.layer == "conv2" and p.rule == "deconvnet"
    np.testing.assert_array_equal(p.features, np.arange(5))
    assert p.samples.shape == (5, 2) and p.positions.shape == (5, 2, 2) and p.values.shape == (5, 2)
    assert p.maps.shape == p.inputs.shape == (5, 2, 10, 10, 2) and p.patches.shape == (5, 2, 2, 2)
    assert p.maps.dtype == np.float64 and p.field_note is None
    i, j = 0, 1
    assert p.patch(i, j).shape[:2] == tuple(p.patches[i, j, :, 1] - p.patches[i, j, :, 0])


def test_projections_do_not_depend_on_batch_size():
    model, x = nets.image_net(), _x((10, 10, 2), n=5)
    a = projected(model, x, "conv2", features=[0, 4], top_k=3, batch_size=1)
    b = projected(model, x, "conv2", features=[0, 4], top_k=3, batch_size=None)
    refdeconv.testing.assert_maps_close(a.maps.reshape(6, -1), b.maps.reshape(6, -1), "float64", "batch sizes")
    np.testing.assert_array_equal(a.positions, b.positions)


@pytest.mark.parametrize("name", nets.FIELD_NETS)
def test_receptive_fields_equal_brute_force(name):
    model, layer = nets.field_net(name)
    x0 = np.random.default_rng(1).uniform(0.0, 1.0, tuple(model.inputs[0].shape[1:]))
    check_patches(model, layer, x0)


def test_an_unknown_layer_gives_the_whole_input_and_says_so():
    model = keras.Sequential([keras.Input((8, 8, 1)), L.Conv2D(2, 3, activation="relu"),
                              L.Lambda(lambda t: t * 2.0, name="twice"), L.Conv2D(2, 3, name="out")])
    with pytest.warns(UserWarning, match="whole input.*'twice'"):
        p = project(model, _x((8, 8, 1)).astype(np.float32), "out", top_k=2)
    assert "twice" in p.field_note
    np.testing.assert_array_equal(p.patches, np.broadcast_to([[0, 8], [0, 8]], p.patches.shape))


def test_inputs_of_any_extent_give_the_whole_input():
    model = keras.Sequential([keras.Input((None, None, 1)), L.Conv2D(2, 3, activation="relu", name="conv")])
    with pytest.warns(UserWarning, match="whole input.*unknown before the data"):
        p = project(model, _x((7, 6, 1)).astype(np.float32), "conv", top_k=2)
    np.testing.assert_array_equal(p.patches, np.broadcast_to([[0, 7], [0, 6]], p.patches.shape))


def test_model_and_inputs_unchanged():
    model, x = nets.residual_net(), _x((9, 9, 2))
    weights, before = [w.copy() for w in model.get_weights()], x.copy()
    out = model(x).numpy()
    projected(model, x, "res", features=[1], top_k=2)
    for w, v in zip(weights, model.get_weights()):
        np.testing.assert_array_equal(w, v)
    np.testing.assert_array_equal(x, before)
    np.testing.assert_array_equal(model(x).numpy(), out)


def test_tensor_inputs_and_save_load(tmp_path):
    model, x = nets.sequence_net(), _x((24, 3))
    a = projected(model, tf.constant(x), "conv2", features=2, top_k=3)
    path = tmp_path / "p.npz"
    a.save(path)
    b = Projections.load(path)
    for name in ("features", "samples", "positions", "values", "maps", "inputs", "patches"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert (b.layer, b.rule, b.field_note) == ("conv2", "deconvnet", None)


class _Subclassed(keras.Model):
    def __init__(self):
        super().__init__()
        self.conv = L.Conv2D(2, 3)

    def call(self, x):
        return self.conv(x)


def _two_inputs():
    a, b = keras.Input((6, 6, 1)), keras.Input((6, 6, 1))
    return keras.Model([a, b], L.Conv2D(2, 3)(L.Add()([a, b])))


BAD = {  # name -> (keyword arguments changed, exception, message start)
    "no such layer": ({"layer": "nope"}, ValueError, "layer: no layer named 'nope'"),
    "layer index out of range": ({"layer": 40}, ValueError, "layer: index 40"),
    "layer of a wrong type": ({"layer": 1.5}, TypeError, "layer:"),
    "dense layer": ({"layer": -1}, ValueError, r"layer: 'dense\S*' has output shape \(None, 3\)"),
    "flatten layer": ({"layer": -2}, ValueError, "layer:"),
    "feature out of range": ({"features": [0, 5]}, ValueError, r"features: layer 'conv2' has 5 channels"),
    "negative feature": ({"features": -1}, ValueError, "features:"),
    "float feature": ({"features": [0.5]}, TypeError, "features:"),
    "no feature": ({"features": []}, ValueError, "features: expected a non-empty"),
    "repeated feature": ({"features": [1, 1]}, ValueError, "features: repeated"),
    "top_k zero": ({"top_k": 0}, ValueError, "top_k:"),
    "top_k too large": ({"top_k": 4 * 16 + 1}, ValueError, "top_k: must be at most the 64 units"),
    "top_k float": ({"top_k": 2.0}, TypeError, "top_k:"),
    "unknown rule": ({"rule": "lrp"}, ValueError, "rule:"),
    "batch_size zero": ({"batch_size": 0}, ValueError, "batch_size:"),
    "inputs of the wrong shape": ({"inputs": np.zeros((2, 9, 9, 2))}, ValueError, "inputs:"),
    "inputs with NaN": ({"inputs": np.full((2, 10, 10, 2), np.nan)}, ValueError, "inputs: sample 0"),
    "no inputs": ({"inputs": np.zeros((0, 10, 10, 2))}, ValueError, r"inputs: no sample \(N = 0\)"),
    "layer None": ({"layer": None}, TypeError, r"layer: expected a layer name \(str\) or an index \(int\), got None"),
    "a Dataset": ({"inputs": tf.data.Dataset.from_tensor_slices(np.zeros((2, 10, 10, 2)))}, TypeError, "inputs:"),
    "a dict of inputs": ({"inputs": {"x": np.zeros((2, 10, 10, 2))}}, TypeError, "inputs:"),
    "strings": ({"inputs": np.array([["a"]])}, TypeError, "inputs:"),
    "not a model": ({"model": object()}, TypeError, "model:"),
    "subclassed model": ({"model": "subclassed"}, ValueError, "model:"),
    "two inputs": ({"model": "two inputs"}, ValueError, "model: .* takes 2 inputs"),
    "unbuilt model": ({"model": "unbuilt"}, ValueError, "model: .* has not been built"),
}


@pytest.mark.parametrize("name", list(BAD))
def test_bad_arguments_are_named(name):
    changes, error, message = BAD[name]
    kwargs = {"model": nets.image_net(), "inputs": _x((10, 10, 2)), "layer": "conv2", "top_k": 2, **changes}
    if kwargs["model"] == "subclassed":
        kwargs["model"] = _Subclassed()
        kwargs["model"](np.zeros((1, 10, 10, 2)))
    elif kwargs["model"] == "two inputs":
        kwargs["model"] = _two_inputs()
    elif kwargs["model"] == "unbuilt":
        kwargs["model"] = keras.Sequential([L.Conv2D(2, 3, name="conv2")])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(error, match=f"^{message}"):
            project(**kwargs)


def test_projections_compare_by_identity():
    """A field-wise ``==`` of arrays is ambiguous: two results compare as distinct objects, never raise."""
    p = projected(nets.image_net(), _x((10, 10, 2)), "conv2", features=[0], top_k=2)
    q = projected(nets.image_net(), _x((10, 10, 2)), "conv2", features=[0], top_k=2)
    assert p == p and p != q and len({p, q}) == 2


def test_figure_in_the_papers_layout(tmp_path):
    pytest.importorskip("matplotlib")
    from refdeconv.projections.figure import plot_projections

    image = projected(nets.image_net(), _x((10, 10, 2)), "conv2", features=[0, 3, 4], top_k=4)
    fig = plot_projections(image, tmp_path / "image.png", features=[4, 0])
    assert (tmp_path / "image.png").stat().st_size > 0
    assert len([ax for ax in fig.axes if ax.images]) == 2 * 2 * 4  # 2 features x 4 units x (projection, patch)
    sequence = projected(nets.sequence_net(), _x((24, 3)), "conv2", features=[1], top_k=3)
    fig = plot_projections(sequence, max_features=1)
    assert len([ax for ax in fig.axes if ax.lines]) == 2 * 3
    with pytest.raises(ValueError, match="^features: the projections hold channels"):
        plot_projections(image, features=[1])


def test_tf_keras_models_get_right_maps_and_the_whole_input_as_patch():
    """tf-keras (Keras 2) graphs are not read by the receptive-field arithmetic: the patch is the whole
    input, with a warning that says so in words (not an internal error); units and maps are right."""
    tf_keras = pytest.importorskip("tf_keras")
    T = tf_keras.layers
    model = tf_keras.Sequential([T.Conv2D(3, 3, activation="relu", input_shape=(8, 8, 2), name="conv", dtype="float64"),
                                 T.MaxPooling2D(2, dtype="float64"), T.Flatten(dtype="float64"),
                                 T.Dense(2, dtype="float64")])
    model.set_weights([np.random.default_rng(i).normal(size=w.shape) for i, w in enumerate(model.get_weights())])
    x = _x((8, 8, 2))
    with pytest.warns(UserWarning, match="reads Keras 3 graphs; this model's graph is not one"):
        p = project(model, x, "conv", features=[0], top_k=2)
    np.testing.assert_array_equal(p.patches, np.broadcast_to([[0, 8], [0, 8]], p.patches.shape))
    assert "tf-keras" in p.field_note
    twin = keras.Sequential([keras.Input((8, 8, 2), dtype="float64"),
                             L.Conv2D(3, 3, activation="relu", name="conv", dtype="float64"),
                             L.MaxPooling2D(2, dtype="float64"), L.Flatten(dtype="float64"), L.Dense(2, dtype="float64")])
    twin.set_weights(model.get_weights())  # the same net in Keras 3, which the reference reads
    check_units(twin, x, "conv", [0], 2)
    check_maps(twin, x, "conv", "deconvnet", [0], 2)
    expected = projected(twin, x, "conv", features=[0], top_k=2)
    for name in ("samples", "positions"):
        np.testing.assert_array_equal(getattr(p, name), getattr(expected, name), err_msg=name)
    refdeconv.testing.assert_maps_close(p.maps[0], expected.maps[0], "float64", "tf-keras projections vs Keras 3")
