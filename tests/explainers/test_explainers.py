"""DeconvNet, Gradient and GuidedBackprop in TensorFlow equal the NumPy reference.

Covers the override issue: every ReLU of every Keras model gets the rule,
however it is written (Keras forms, ``tf.nn``/``keras.ops`` functions in
``Lambda`` layers, subclassed ``call``), in Sequential, Functional, nested and
subclassed models, Keras 3 and tf-keras; max-pool ties included (``ties``
networks). The forward output is checked before the maps. A planted wrong rule
in the override is caught.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from refdeconv import DeconvNet, Gradient, GuidedBackprop, reference
from refdeconv.explainers import rules
from refdeconv.testing import assert_maps_close
from tests.builders import STYLES, WRITINGS, build, written
from tests.strategies import cases

EXPLAINERS = {cls.rule: cls for cls in (DeconvNet, Gradient, GuidedBackprop)}


def check_explainer(case, style, writing, rule, lib=keras):
    """The explainer on a model written one way equals the reference on the plain Sequential model."""
    net, x, targets = case
    model = build(net, style, relu=written(writing), lib=lib)
    oracle = build(net, "sequential")
    context = f"{EXPLAINERS[rule].__name__} on a {style} {lib.__name__} model, ReLUs written {writing}, {net}"
    out = model(tf.constant(x), training=False).numpy()
    assert_maps_close(out, reference.forward(oracle, x), "float64", f"forward of {context}")
    maps = EXPLAINERS[rule](model, batch_size=2).explain(x, targets)
    assert maps.dtype == tf.float64, f"{context}: maps of dtype {maps.dtype}, model is float64"
    assert_maps_close(maps.numpy(), reference.attribution(oracle, x, targets, rule), "float64", context)


@pytest.mark.filterwarnings("ignore::UserWarning")
@given(case=cases(), style=st.sampled_from(STYLES), writing=st.sampled_from(WRITINGS),
       rule=st.sampled_from(sorted(EXPLAINERS)))
def test_explainers_equal_the_reference(case, style, writing, rule):
    check_explainer(case, style, writing, rule)


# Recurrent examples trace a while loop per rule and style (~2 s each): capped so that the CI
# profile stays inside its time; the other properties cover the non-recurrent layers at full count.
@pytest.mark.filterwarnings("ignore::UserWarning")
@settings(max_examples=min(settings.default.max_examples, 20))
@given(case=cases(recurrent=True), style=st.sampled_from(STYLES), writing=st.sampled_from(WRITINGS),
       rule=st.sampled_from(sorted(EXPLAINERS)))
def test_recurrent_networks_equal_the_reference(case, style, writing, rule):
    """Recurrent layers (cells in a while loop, ReLU written every way) in every model style."""
    check_explainer(case, style, writing, rule)


@pytest.mark.heavy  # tf-keras traces its recurrent loops slowly (~3 s an example); Keras 3's run by default
@pytest.mark.filterwarnings("ignore::UserWarning")
@settings(max_examples=min(settings.default.max_examples, 20))
@given(case=cases(recurrent=True), rule=st.sampled_from(sorted(EXPLAINERS)))
def test_tf_keras_recurrent_networks_equal_the_reference(case, rule):
    tf_keras = pytest.importorskip("tf_keras")
    check_explainer(case, "functional", "keras", rule, lib=tf_keras)


@pytest.mark.filterwarnings("ignore::UserWarning")
@given(case=cases(), style=st.sampled_from(["sequential", "functional", "subclassed"]),
       rule=st.sampled_from(sorted(EXPLAINERS)))
def test_tf_keras_models_equal_the_reference(case, style, rule):
    tf_keras = pytest.importorskip("tf_keras")
    check_explainer(case, style, "keras", rule, lib=tf_keras)


@pytest.mark.parametrize("rule", sorted(EXPLAINERS))
def test_residual_branches_and_a_reused_relu(rule):
    """Add of two branches, a ReLU layer and a Dense layer each called twice."""
    L = keras.layers
    keras.utils.set_random_seed(3)
    inp = keras.Input((6, 6, 2), dtype="float64")
    relu, dense = L.ReLU(dtype="float64"), L.Dense(2, dtype="float64")
    a = relu(L.Conv2D(3, 3, padding="same", dtype="float64")(inp))
    b = L.Conv2D(3, 1, dtype="float64")(inp)
    h = relu(L.Add(dtype="float64")([a, b]))
    h = L.MaxPooling2D(2, strides=1, dtype="float64")(h)
    h = L.Concatenate(dtype="float64")([dense(h), dense(L.Conv2D(3, 1, dtype="float64")(h))])
    model = keras.Model(inp, L.Dense(3, dtype="float64")(L.Flatten(dtype="float64")(h)))
    x, targets = np.random.default_rng(0).normal(size=(3, 6, 6, 2)), np.eye(3)
    assert_maps_close(
        EXPLAINERS[rule](model).explain(x, targets).numpy(), reference.attribution(model, x, targets, rule),
        "float64", f"{rule} on a residual model",
    )


def test_planted_wrong_rule_in_the_override_is_caught(monkeypatch):
    """Guided's mask planted into DeconvNet's override: the property must fail."""
    monkeypatch.setitem(rules.SIGNALS, "deconvnet", rules.SIGNALS["guided"])

    @settings(max_examples=100, phases=[Phase.generate], derandomize=True, database=None)
    @given(case=cases(), style=st.sampled_from(STYLES), writing=st.sampled_from(WRITINGS))
    def deconvnet_equals_reference(case, style, writing):
        check_explainer(case, style, writing, "deconvnet")

    with pytest.warns(UserWarning), pytest.raises(AssertionError):
        deconvnet_equals_reference()


def _two_input_model(net_a, net_b, style, writing, as_dict, seed):
    """Two drawn networks as branches of one Functional model (each nested, or inlined), joined by a Dense head."""
    a = keras.Input(net_a.input_shape, dtype="float64", name="a")
    b = keras.Input(net_b.input_shape, dtype="float64", name="b")
    branches = []
    for net, inp in ((net_a, a), (net_b, b)):
        model = build(net, "functional", relu=written(writing))
        branches.append(model(inp) if style == "nested" else _inlined(model, inp))
    head = keras.layers.Dense(3, dtype="float64")
    out = head(keras.layers.Concatenate(dtype="float64")(branches))
    rng = np.random.default_rng(seed)
    head.set_weights([rng.normal(size=w.shape) for w in head.get_weights()])
    return keras.Model({"a": a, "b": b} if as_dict else [a, b], out)


def _inlined(model, inp):
    h = inp
    for layer in model.layers[1:]:
        h = layer(h)
    return h


@pytest.mark.filterwarnings("ignore::UserWarning")
@settings(max_examples=min(settings.default.max_examples, 25))
@given(a=cases(), b=cases(), style=st.sampled_from(["nested", "functional"]), writing=st.sampled_from(WRITINGS),
       as_dict=st.booleans(), rule=st.sampled_from(sorted(EXPLAINERS)), seed=st.integers(0, 2**32 - 1))
def test_two_input_networks_equal_the_reference(a, b, style, writing, as_dict, rule, seed):
    """Two drawn networks (any kinds, so inputs of different ranks) as the branches of one model."""
    (net_a, xa, _), (net_b, xb, _) = a, b
    n = min(len(xa), len(xb))
    xa, xb = xa[:n], xb[:n]
    model = _two_input_model(net_a, net_b, style, writing, as_dict, seed)
    oracle = _two_input_model(net_a, net_b, style, "keras", as_dict, seed)  # the reference reads no Lambda
    targets = np.eye(3)[np.arange(n) % 3]
    inputs = {"a": xa, "b": xb} if as_dict else [xa, xb]
    context = f"{EXPLAINERS[rule].__name__}, two branches {style}, ReLUs written {writing}: {net_a} | {net_b}"
    assert_maps_close(model(inputs, training=False).numpy(), reference.forward(oracle, [xa, xb]), "float64",
                      f"forward of {context}")
    maps = EXPLAINERS[rule](model, batch_size=2).explain(inputs, targets)
    want = reference.attribution(oracle, [xa, xb], targets, rule)
    got = [maps["a"], maps["b"]] if as_dict else maps
    for part, w, name in zip(got, want, "ab"):
        assert part.dtype == tf.float64 and part.shape == w.shape, f"{context}: map {name} {part.dtype} {part.shape}"
        assert_maps_close(part.numpy(), w, "float64", f"{context}, map of input {name}")
