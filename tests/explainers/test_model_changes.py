"""No silent wrong map on real models, part 2: the model as it is, any cut, any inputs.

Covers items 2-6 of the "real models" issue, each against :mod:`refdeconv.reference`:

- a model changed after it was explained (an activation swapped, a layer's config, a layer of
  a nested model) is explained as it is now; weight updates need no new trace, and a new
  explainer on an unchanged model pays no trace;
- ``output_layer`` naming a nested model explains from the outer input to that model's output
  as called in the outer graph;
- models with several inputs take a list, a tuple, a dict, tensors, or a Dataset of
  ``((x1, x2), y)`` / ``({"a": .., "b": ..}, y)``, and return maps in the same structure, each of
  its input's shape and dtype; several outputs need ``output_layer`` (or an operator that picks
  one: ``test_structured_outputs.py``);
- integer token ids (and any input the score is disconnected from) raise a ``ValueError``
  naming ``inputs``;
- an unbuilt ``Sequential`` model given a ``drop_remainder`` Dataset is built as calling it on
  that data would, and a failed explain leaves it unbuilt, not built for a wrong shape.
"""

import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from refdeconv import DeconvNet, Gradient, GuidedBackprop, reference
from refdeconv.explainers import traced
from refdeconv.testing import assert_maps_close

L = keras.layers
RNG = np.random.default_rng(0)
EXPLAINERS = {"deconvnet": DeconvNet, "guided": GuidedBackprop, "gradient": Gradient}


def _maps(cls, model, inputs, targets=None, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return cls(model, **kwargs).explain(inputs, targets)


def _softmax_model():
    keras.utils.set_random_seed(0)
    inner = keras.Sequential([keras.Input((6,)), L.Dense(6, activation="tanh"), L.Dense(6)], name="inner")
    return keras.Sequential([keras.Input((5,)), L.Dense(6, activation="relu"), inner, L.Dense(3, activation="softmax")])


CHANGES = {
    "softmax head -> linear": lambda m: setattr(m.layers[-1], "activation", keras.activations.linear),
    "hidden relu -> elu": lambda m: setattr(m.layers[0], "activation", keras.activations.elu),
    "nested tanh -> relu": lambda m: setattr(m.layers[1].layers[0], "activation", keras.activations.relu),
}


@pytest.mark.parametrize("change", CHANGES)
def test_a_changed_model_is_explained_as_it_is_now(change):
    model, x, y = _softmax_model(), RNG.normal(size=(4, 5)).astype("float32"), np.array([0, 1, 2, 0])
    before = _maps(DeconvNet, model, x, y).numpy()
    CHANGES[change](model)
    for rule, cls in EXPLAINERS.items():
        after = _maps(cls, model, x, y).numpy()
        assert_maps_close(after, reference.attribution(model, x, y, rule), "float32", f"{rule} after {change}")
    assert not np.allclose(before, _maps(DeconvNet, model, x, y).numpy()), "the old trace was reused"


#: A ReLU layer's numbers changed after a first explain: each changes the forward pass, or the rule
#: (a negative slope makes it a leaky ReLU, which keeps its gradient).
NUMBERS = {"ReLU max_value None -> 0.5": ("max_value", 0.5), "ReLU threshold 0 -> 0.3": ("threshold", 0.3),
           "ReLU negative_slope 0 -> 0.25": ("negative_slope", 0.25)}


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("change", NUMBERS)
def test_a_layer_whose_numbers_changed_is_explained_as_it_is_now(change):
    keras.utils.set_random_seed(3)
    model = keras.Sequential([keras.Input((5,)), L.Dense(6), L.ReLU(name="relu"), L.Dense(3)])
    x, y = RNG.normal(size=(4, 5)).astype("float32"), np.array([0, 1, 2, 0])
    before = {rule: _maps(cls, model, x, y).numpy() for rule, cls in EXPLAINERS.items()}
    setattr(model.get_layer("relu"), *NUMBERS[change])
    assert_maps_close(model(x).numpy(), reference.forward(model, x), "float32", f"forward after {change}")
    for rule, cls in EXPLAINERS.items():
        after = _maps(cls, model, x, y).numpy()
        assert_maps_close(after, reference.attribution(model, x, y, rule), "float32", f"{rule} after {change}")
    assert not np.allclose(before["gradient"], after), f"{change}: the old trace was reused"


def test_the_same_explainer_sees_a_change_between_calls():
    model, x, y = _softmax_model(), RNG.normal(size=(4, 5)).astype("float32"), np.array([0, 1, 2, 0])
    explainer = DeconvNet(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        explainer.explain(x, y)
        model.layers[-1].activation = keras.activations.linear
        got = explainer.explain(x, y).numpy()
    assert_maps_close(got, reference.attribution(model, x, y, "deconvnet"), "float32", "same explainer")


def test_weight_updates_and_new_explainers_pay_no_trace():
    model, x, y = _softmax_model(), RNG.normal(size=(4, 5)).astype("float32"), np.array([0, 1, 2, 0])
    _maps(DeconvNet, model, x, y)
    size = len(traced._CACHE)
    model.set_weights([w * 0.5 for w in model.get_weights()])
    got = _maps(DeconvNet, model, x, y).numpy()
    assert len(traced._CACHE) == size, "a weight update or a new explainer traced anew"
    assert_maps_close(got, reference.attribution(model, x, y, "deconvnet"), "float32", "after a weight update")


@pytest.mark.parametrize("lib", [keras, tf_keras], ids=["keras3", "tf_keras"])
def test_output_layer_naming_a_nested_model(lib):
    lib.utils.set_random_seed(1)
    Lk = lib.layers
    base = lib.Sequential([lib.Input((8,)), Lk.Dense(6, activation="relu"), Lk.Dense(5)], name="base")
    inp = lib.Input((4,))
    model = lib.Model(inp, Lk.Dense(2)(base(Lk.Dense(8, name="pre")(inp))))
    x, y = RNG.normal(size=(3, 4)).astype("float32"), np.array([0, 1, 4])
    for rule, cls in EXPLAINERS.items():
        got = _maps(cls, model, x, y, output_layer="base").numpy()
        assert got.shape == x.shape
        if lib is keras:
            want = reference.attribution(model, x, y, rule, output_layer="base")
        else:  # the reference reads Keras 3 only: the same function, written out
            want = reference.attribution(_keras3_copy_of_base_cut(model), x, y, rule)
        assert_maps_close(got, want, "float32", f"{rule}, output_layer = a nested {lib.__name__} model")


def _keras3_copy_of_base_cut(model):
    pre, base = model.layers[1], model.layers[2]
    inp = keras.Input((4,))
    layers = [L.Dense(8), L.Dense(6, activation="relu"), L.Dense(5)]
    out = inp
    for layer in layers:
        out = layer(out)
    for layer, weights in zip(layers, [pre.get_weights(), base.layers[0].get_weights(), base.layers[1].get_weights()]):
        layer.set_weights(weights)
    return keras.Model(inp, out)


def _two_inputs(as_dict=False):
    keras.utils.set_random_seed(2)
    a, b = keras.Input((4, 3), name="a"), keras.Input((5,), name="b")
    left = L.Flatten()(L.MaxPooling1D(2)(L.Conv1D(3, 2, activation="relu")(a)))
    joined = L.Concatenate()([left, L.Dense(4, activation="relu")(b)])
    out = L.Dense(3)(L.Dense(6, activation="relu")(joined))
    return keras.Model({"a": a, "b": b} if as_dict else [a, b], out)


def _as_structure(form, xa, xb):
    return {"list": [xa, xb], "tuple": (xa, xb), "dict": {"a": xa, "b": xb},
            "tensors": [tf.constant(xa), tf.constant(xb)]}[form]


@pytest.mark.parametrize("form", ["list", "tuple", "dict", "tensors"])
@pytest.mark.parametrize("as_dict", [False, True], ids=["list model", "dict model"])
def test_several_inputs_as_keras_takes_them(form, as_dict):
    model = _two_inputs(as_dict)
    xa, xb = RNG.normal(size=(5, 4, 3)).astype("float32"), RNG.normal(size=(5, 5)).astype("float32")
    y = np.array([0, 1, 2, 0, 1])
    for rule, cls in EXPLAINERS.items():
        got = _maps(cls, model, _as_structure(form, xa, xb), y, batch_size=2)
        want = reference.attribution(model, [xa, xb], y, rule)
        parts = [got["a"], got["b"]] if form == "dict" else list(got)
        assert type(got) is (dict if form == "dict" else tuple if form == "tuple" else list)
        for part, w, x in zip(parts, want, (xa, xb)):
            assert part.shape == x.shape and part.dtype == tf.float32
            assert_maps_close(part.numpy(), w, "float32", f"{rule}, inputs as {form}")


@pytest.mark.parametrize("form", ["tuple", "dict"])
def test_several_inputs_from_a_dataset(form):
    model = _two_inputs()
    xa, xb = RNG.normal(size=(5, 4, 3)).astype("float32"), RNG.normal(size=(5, 5)).astype("float32")
    y = np.eye(3, dtype="float32")[[0, 1, 2, 0, 1]]
    x = (xa, xb) if form == "tuple" else {"a": xa, "b": xb}
    got = _maps(DeconvNet, model, tf.data.Dataset.from_tensor_slices((x, y)).batch(2))
    want = reference.attribution(model, [xa, xb], y, "deconvnet")
    parts = list(got) if form == "tuple" else [got["a"], got["b"]]
    for part, w in zip(parts, want):
        assert_maps_close(part.numpy(), w, "float32", f"Dataset of ({form}, y)")
    top = _maps(DeconvNet, model, tf.data.Dataset.from_tensor_slices(x).batch(3))
    want_top = reference.attribution(model, [xa, xb], np.argmax(model.predict([xa, xb], verbose=0), -1), "deconvnet")
    for part, w in zip(list(top) if form == "tuple" else [top["a"], top["b"]], want_top):
        assert_maps_close(part.numpy(), w, "float32", f"Dataset of {form} alone (top class)")


def test_several_inputs_wrong_forms_are_named():
    model = _two_inputs()
    xa, xb = np.zeros((2, 4, 3), "float32"), np.zeros((2, 5), "float32")
    with pytest.raises(TypeError, match="inputs: the model takes 2 inputs"):
        DeconvNet(model).explain(xa, np.array([0, 1]))
    with pytest.raises(ValueError, match="inputs: dict keys must be"):
        DeconvNet(model).explain({"a": xa, "c": xb}, np.array([0, 1]))
    with pytest.raises(ValueError, match="same number of samples"):
        DeconvNet(model).explain([xa, xb[:1]], np.array([0, 1]))
    with pytest.raises(ValueError, match=r"inputs\['b'\]: expected shape"):
        DeconvNet(model).explain([xa, np.zeros((2, 6))], np.array([0, 1]))


def test_several_outputs_need_output_layer():
    inp = keras.Input((4,))
    model = keras.Model(inp, [L.Dense(2, name="head_a")(inp), L.Dense(3, name="head_b")(inp)])
    with pytest.raises(ValueError, match=r"operator: the built-in .* several: \[0\] \(None, 2\), \[1\] \(None, 3\).*output_layer"):
        DeconvNet(model)
    x = RNG.normal(size=(2, 4)).astype("float32")
    got = _maps(DeconvNet, model, x, np.array([0, 2]), output_layer="head_b").numpy()
    assert_maps_close(got, reference.attribution(model, x, np.array([0, 2]), "deconvnet", output_layer="head_b"),
                      "float32", "several outputs, cut at one")


def test_token_ids_raise_naming_inputs():
    model = keras.Sequential([keras.Input((6,), dtype="int32"), L.Embedding(20, 4), L.Flatten(), L.Dense(2)])
    for cls in EXPLAINERS.values():
        with pytest.raises(ValueError, match="inputs: the score is not differentiable .*Embedding"):
            cls(model).explain(RNG.integers(0, 20, size=(3, 6)), np.array([0, 1, 0]))


def test_a_disconnected_input_is_named():
    a, b = keras.Input((3,), name="a"), keras.Input((2,), name="unused")
    model = keras.Model([a, b], L.Dense(2)(a))
    with pytest.raises(ValueError, match=r"inputs \['unused'\]: the score is not differentiable"):
        DeconvNet(model).explain([np.ones((2, 3)), np.ones((2, 2))], np.array([0, 1]))


def test_explaining_from_the_embedding_output_as_documented():
    keras.utils.set_random_seed(3)
    model = keras.Sequential([keras.Input((6,), dtype="int32"), L.Embedding(20, 4), L.Flatten(),
                              L.Dense(5, activation="relu"), L.Dense(2)])
    tokens = RNG.integers(0, 20, size=(3, 6))
    embedding = model.layers[0]
    head = keras.Sequential([keras.Input((6, 4)), *model.layers[1:]])  # the same layers, from the embedding on
    vectors = embedding(tokens).numpy()
    got = _maps(DeconvNet, head, vectors, np.array([0, 1, 0])).numpy()
    assert_maps_close(got, reference.attribution(head, vectors, np.array([0, 1, 0]), "deconvnet"), "float32",
                      "from the embedding output")


def test_unbuilt_sequential_with_drop_remainder_dataset():
    keras.utils.set_random_seed(4)
    model = keras.Sequential([L.Dense(4, activation="relu"), L.Dense(2)])
    x, y = RNG.normal(size=(10, 8)).astype("float32"), np.eye(2, dtype="float32")[RNG.integers(0, 2, 10)]
    maps = _maps(DeconvNet, model, tf.data.Dataset.from_tensor_slices((x, y)).batch(4, drop_remainder=True))
    assert maps.shape == (8, 8)
    assert_maps_close(maps.numpy(), reference.attribution(model, x[:8], y[:8], "deconvnet"), "float32", "built")
    assert model.predict(np.zeros((3, 8), "float32"), verbose=0).shape == (3, 2), "built for a wrong shape"


def test_a_failed_explain_leaves_an_unbuilt_model_unbuilt():
    model = keras.Sequential([L.Conv2D(2, 3), L.Flatten(), L.Dense(2)])
    with pytest.raises(ValueError, match="inputs: the unbuilt model .* cannot be built for samples of shape"):
        DeconvNet(model).explain(np.zeros((3, 8), np.float32), np.array([0, 1, 0]))
    assert not model.built and not model.weights
    maps = _maps(DeconvNet, model, np.ones((2, 5, 5, 1), np.float32), np.array([0, 1]))
    assert maps.shape == (2, 5, 5, 1), "the model works afterwards on data it accepts"


def test_an_explain_failing_on_targets_leaves_an_unbuilt_model_unbuilt():
    model = keras.Sequential([L.Dense(4, activation="relu"), L.Dense(2)])
    with pytest.raises(ValueError, match="targets: class labels must lie in"):
        DeconvNet(model).explain(np.ones((3, 5), np.float32), np.array([0, 1, 5]))
    with pytest.raises(ValueError, match="targets: expected one-hot targets of shape"):
        DeconvNet(model).explain(np.ones((3, 5), np.float32), np.ones((3, 4)))
    assert not model.built and not model.weights
