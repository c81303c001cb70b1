"""``refdeconv reproduce``'s ``sixt2020`` study (convergence of the backward signals, Sixt et al. 2020) in quick
mode: the exact parts of the measurement (above the logits there is no ReLU,
so every rule has the same signal there; proposition 5 on the average-pooling nets), the signals at an
intermediate layer from the oracle on a net's tail equal to refdeconv's explainers on the same tail, and that
each check's verdict is computed from the measured numbers as its claim states. Whether the inexact claims
held is reported, not asserted."""

import numpy as np
import pytest

from refdeconv import reference
from refdeconv.reproduce import signals, sixt2020
from refdeconv.reproduce.networks import LAYERS, digits_cnn
from refdeconv.reproduce.study import RULES, maps
from refdeconv.testing import assert_maps_close, tolerance

KEY = sixt2020.KEY  # the study whose entry the `entry` fixture (conftest.py) gives


def test_the_measurement_has_every_net_rule_and_level(entry):
    m = entry[1]["measured"]
    assert m["inputs"] == 8 and m["classes"] == 10 and m["levels"] == list(LAYERS)
    assert set(m["accuracy"]) == {"max", "average"} and all(0 <= a <= 1 for a in m["accuracy"].values())
    assert list(m["class_cosine"]) == list(sixt2020.NETS) == list(m["deconvnet_between_inputs"])
    for net in sixt2020.NETS:
        for rule in RULES:
            c = m["class_cosine"][net][rule]
            assert len(c["mean"]) == len(c["std"]) == len(LAYERS)
            assert all(-1 - 1e-12 <= v <= 1 + 1e-12 for v in c["mean"]), (net, rule, c)
    assert list(m["logits_randomised"]) == ["max, trained", "average, trained"]
    assert m["tolerance"] == tolerance("float64")


def test_above_the_logits_every_rule_has_the_same_signal(entry):
    """At the input of the logits the signal of class k is the k-th column of the kernel, whatever the rule; the
    random nets of both poolings share that kernel."""
    c = entry[1]["measured"]["class_cosine"]
    for net in sixt2020.NETS:
        top = [c[net][rule]["mean"][-1] for rule in RULES]
        assert max(top) - min(top) <= 1e-12, (net, top)
        assert all(c[net][rule]["std"][-1] <= 1e-12 for rule in RULES), net
    assert c["max, random"]["gradient"]["mean"][-1] == pytest.approx(c["average, random"]["gradient"]["mean"][-1],
                                                                     abs=1e-12)


def test_proposition_5_without_max_pooling_deconvnet_maps_do_not_depend_on_the_input(entry):
    e = entry[1]
    for net in ("average, trained", "average, random"):
        v = e["measured"]["deconvnet_between_inputs"][net]
        assert v["min_cosine"] >= 1 - tolerance("float64") and v["max_scaled_difference"] <= tolerance("float64"), v
        assert e["measured"]["class_cosine"][net]["deconvnet"]["std"][0] <= 1e-12
    assert e["checks"][3]["held"] is True  # exact: a proposition, not a measurement


def test_the_checks_are_computed_from_the_measured_numbers(entry):
    m, checks = entry[1]["measured"], entry[1]["checks"]

    def level(net, rule, i):
        return m["class_cosine"][net][rule]["mean"][i]

    inv, later, tol = m["deconvnet_between_inputs"], m["logits_randomised"], m["tolerance"]
    expected = [all(level(net, "guided", 0) > level(net, "guided", -1) for net in sixt2020.NETS),
                all(level(net, "deconvnet", 0) > level(net, "deconvnet", -1) for net in sixt2020.NETS),
                all(level(net, r, 0) > level(net, "gradient", 0) for net in sixt2020.NETS for r in ("guided", "deconvnet")),
                all(1 - inv[n]["min_cosine"] <= tol and inv[n]["max_scaled_difference"] <= tol
                    for n in ("average, trained", "average, random")),
                all(inv[n]["max_scaled_difference"] > tol for n in ("max, trained", "max, random")),
                all(later[n]["guided"]["mean"] > later[n]["gradient"]["mean"] for n in later),
                all(later[n]["deconvnet"]["mean"] > later[n]["gradient"]["mean"] for n in later)]
    means = {r: [m["class_cosine"][net][r]["mean"] for net in sixt2020.NETS] for r in ("guided", "deconvnet")}
    expected += [all(all(a > b for a, b in zip(v, v[1:])) for v in means[r]) for r in ("guided", "deconvnet")]
    assert [c["held"] for c in checks] == expected
    assert checks[0]["measured"]["max, trained [input, logits]"] == [level("max, trained", "guided", 0),
                                                                     level("max, trained", "guided", -1)]


@pytest.mark.parametrize("pooling", ["max", "average"])
def test_the_signals_from_the_oracle_on_a_tail_equal_the_explainers_on_it(pooling):
    """The cross-check of the study's method at one layer (conv3's input, after the first pool): the oracle's
    signals against refdeconv's TensorFlow explainers on the same tail at the same activations, and the tail's
    output against the whole net's."""
    import keras

    keras.utils.set_random_seed(1)
    model = digits_cnn(pooling)
    x = np.random.default_rng(0).uniform(size=(3, 8, 8, 1)).astype(np.float32)
    found = signals.signals(model, x, "conv3", sixt2020.CLASSES)
    a = signals.activations(model, x, "conv3")
    sub = signals.tail(model, "conv3")
    assert_maps_close(reference.forward(sub, a), reference.forward(model, x), "float64", "tail output")
    expected = maps(sub, np.repeat(a, 10, axis=0).astype(np.float32), np.tile(np.arange(10), 3))
    for rule in RULES:
        assert_maps_close(expected[rule].reshape(30, -1), found[rule].reshape(30, -1), "float32", rule)


def test_the_signals_at_the_image_are_the_maps_and_a_kept_tail_takes_the_new_weights():
    import keras

    keras.utils.set_random_seed(2)
    one, two = digits_cnn("max"), digits_cnn("max")
    x = np.random.default_rng(1).uniform(size=(2, 8, 8, 1))
    image = signals.signals(one, x, LAYERS[0], sixt2020.CLASSES, rules=("deconvnet",))["deconvnet"]
    whole = reference.attribution(one, np.repeat(x, 10, axis=0), np.tile(np.arange(10), 2), "deconvnet")
    np.testing.assert_array_equal(image, whole.reshape(2, 10, -1))
    kept = {}
    signals.tail(one, "dense", kept)
    for new, old in zip(signals.tail(two, "dense", kept).get_weights(), two.get_layer("dense").get_weights()
                        + two.get_layer("logits").get_weights()):
        np.testing.assert_array_equal(new, old)


def test_class_cosine_of_equal_and_orthogonal_signals():
    same = np.tile(np.arange(1.0, 5.0), (2, 3, 1))
    assert np.allclose(sixt2020.class_cosine(same), 1.0)
    assert np.allclose(sixt2020.class_cosine(np.eye(4)[None, :3]), 0.0)
    assert np.allclose(sixt2020.class_cosine(np.zeros((1, 3, 4))), 0.0)
