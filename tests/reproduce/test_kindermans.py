"""The exact claims of ``refdeconv reproduce`` as tests with the tolerance table (issue 26):

- ``kindermans2017``: a constant input shift compensated in the first layer's bias leaves the three
  rules' maps equal within ``tolerance("float32")`` (explainers) and ``tolerance("float64")`` (the
  reference), and changes gradient × input; a compensation of the wrong sign is caught.
- ``kindermans2018``: on the linear toy model the three rules return the filter ``w`` within
  ``tolerance("float32")``, at cosine ``1/sqrt(2)`` to the signal direction.
"""

import keras
import numpy as np
import pytest

from refdeconv import reference
from refdeconv.reproduce import kindermans2017, kindermans2018
from refdeconv.testing import assert_maps_close, tolerance
from tests.planting import fails, plant

RULES = ("gradient", "guided", "deconvnet")


@pytest.mark.parametrize("key", ["kindermans2017", "kindermans2018"])
def test_the_exact_claims_hold(quick_run, key):
    entry = quick_run[1][key]
    failed = [c for c in entry["checks"] if not c["held"]]
    assert not failed, f"{key}: {failed}"
    assert entry["held"] is True


def test_input_invariance_numbers_are_within_the_table(quick_run):
    for net in quick_run[1]["kindermans2017"]["measured"].values():
        assert net["forward"] <= tolerance("float32")
        assert all(e <= tolerance("float32") for e in net["maps"].values()), net["maps"]
        assert all(e <= tolerance("float64") for e in net["maps_reference"].values()), net["maps_reference"]
        assert net["gradient_x_input"] > tolerance("float32")


def _random_net(first):
    keras.utils.set_random_seed(3)
    L = keras.layers
    return keras.Sequential([keras.Input((6, 6, 2), dtype="float64"), first,
                             L.MaxPooling2D(2, dtype="float64"), L.Flatten(dtype="float64"),
                             L.Dense(5, dtype="float64")])


def check_invariance(model, x, m):
    """Both implementations: the shifted copy on ``x + m`` has ``model``'s output and every rule's map."""
    twin = kindermans2017.shifted(model, m)
    assert_maps_close(np.asarray(twin(x + m)), np.asarray(model(x)), "float64", "forward")
    y = np.eye(5)[np.arange(len(x)) % 5]
    for rule in RULES:
        assert_maps_close(reference.attribution(twin, x + m, y, rule), reference.attribution(model, x, y, rule),
                          "float64", f"reference {rule}")
    found = kindermans2017.compare(model, x, np.arange(len(x)) % 5, m)
    assert all(e <= tolerance("float64") for e in found["maps"].values()), found["maps"]


@pytest.mark.parametrize("first", ["dense", "conv"])
def test_shift_compensation_on_random_nets(first):
    layer = (keras.layers.Dense(4, activation="relu", dtype="float64") if first == "dense"
             else keras.layers.Conv2D(3, 3, activation="relu", dtype="float64"))
    model = _random_net(layer)
    x = np.random.default_rng(0).uniform(0, 1, (4, 6, 6, 2))
    before = [w.copy() for w in model.get_weights()]
    check_invariance(model, x, -1.0)
    for a, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(a, b)  # the copy is compensated, never the user's model


def test_wrong_compensation_is_caught(monkeypatch):
    model = _random_net(keras.layers.Conv2D(3, 3, activation="relu", dtype="float64"))
    x = np.random.default_rng(0).uniform(0, 1, (4, 6, 6, 2))
    check_invariance(model, x, -1.0)
    plant(monkeypatch, kindermans2017.shifted, "bias - m * reads", "bias + m * reads")
    assert fails(check_invariance, model, x, -1.0)


def test_zero_padding_is_refused():
    model = _random_net(keras.layers.Conv2D(3, 3, padding="same", activation="relu", dtype="float64"))
    with pytest.raises(ValueError, match="valid convolution"):
        kindermans2017.shifted(model, -1.0)


def test_linear_toy_maps_are_the_filter(quick_run):
    for name, entry in quick_run[1]["kindermans2018"]["measured"].items():
        expected = entry["w"][0] / np.hypot(*entry["w"])  # cos(w, a_s) with a_s = (1, 0)
        assert abs(expected - 2 ** -0.5) <= tolerance("float32"), entry["w"]
        for rule in RULES:
            assert entry[rule]["error_to_w"] <= tolerance("float32"), (name, rule)
            assert abs(entry[rule]["cos_signal"] - expected) <= tolerance("float32"), (name, rule)


def test_toy_data_and_fit():
    x, y = kindermans2018.toy_data(500, 0)
    model, w = kindermans2018.fitted(x, y, relu=False)
    assert_maps_close(w[None], np.array([[1.0, -1.0]]), "float32", "least-squares filter")
    assert_maps_close(model.predict(x, verbose=0)[:, 0][None], y[None], "float32", "the model recovers y")
