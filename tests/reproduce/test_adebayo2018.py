"""``refdeconv reproduce``'s ``adebayo2018`` study (sanity checks, Adebayo et al. 2018) in quick mode:
the exact parts of the measurement (randomising no layer leaves every map identical: similarity 1),
the re-initialised weights equal to :func:`reinitialized`'s, the oracle's maps equal to the explainers',
and that each check's verdict is computed from the measured numbers as its claim states. Whether the claim
held is reported, not asserted."""

import numpy as np
import pytest

from refdeconv.reproduce import adebayo2018
from refdeconv.reproduce.networks import LAYERS, digits_cnn, reinitialized
from refdeconv.reproduce.study import RULES, maps
from refdeconv.testing import assert_maps_close

KEY = adebayo2018.KEY  # the study whose entry the `entry` fixture (conftest.py) gives


def test_the_measurement_has_every_step_rule_and_measure(entry):
    _, e = entry
    m = e["measured"]
    assert m["inputs"] == 16
    assert 0.0 <= m["accuracy"] <= 1.0 and 0.0 <= m["permuted_labels_accuracy"] <= 1.0
    assert m["cascade"]["steps"] == ["none", "logits", "dense", "conv3", "conv2", "conv1"]
    assert m["independent"]["layers"] == list(LAYERS[::-1])
    for rule in RULES:
        for measure in adebayo2018.MEASURES:
            for part, n in (("cascade", 6), ("independent", 5)):
                s = m[part][rule][measure]
                assert len(s["mean"]) == len(s["std"]) == n, (part, rule, measure)
                assert all(-1.0 - 1e-12 <= v <= 1.0 + 1e-12 for v in s["mean"]), (part, rule, measure, s)
            assert set(m["data"][rule][measure]) == {"mean", "std"}


def test_randomising_no_layer_leaves_every_map_identical(entry):
    _, e = entry
    for rule in RULES:
        for measure in adebayo2018.MEASURES:
            s = e["measured"]["cascade"][rule][measure]
            assert s["mean"][0] == pytest.approx(1.0, abs=1e-12) and s["std"][0] == pytest.approx(0.0, abs=1e-12), \
                (rule, measure, s)


def test_the_last_cascade_step_is_every_layer_and_the_first_independent_step_is_the_logits(entry):
    """Cascade step 1 and independent step 0 both randomise the logits alone: the same numbers; so do the
    last cascade step and nothing else (a check of the bookkeeping of the steps)."""
    m = entry[1]["measured"]
    for rule in RULES:
        for measure in adebayo2018.MEASURES:
            assert m["cascade"][rule][measure]["mean"][1] == m["independent"][rule][measure]["mean"][0]


def test_the_checks_are_computed_from_the_measured_numbers(entry):
    m = entry[1]["measured"]
    checks = entry[1]["checks"]
    steps = m["cascade"]["steps"]

    def at(rule, step):
        return m["cascade"][rule]["spearman_abs"]["mean"][steps.index(step)]

    def data(rule):
        return m["data"][rule]["spearman_abs"]["mean"]

    expected = [at("gradient", "conv1") < at("gradient", "logits"),
                all(at("guided", s) > at("gradient", s) for s in adebayo2018.HIGHER),
                at("guided", "conv1") < at("guided", "logits"),
                all(at("deconvnet", s) > at("gradient", s) for s in adebayo2018.HIGHER),
                data("gradient") < data("guided"),
                data("gradient") < data("deconvnet")]
    assert [c["held"] for c in checks] == expected
    assert checks[0]["measured"] == {"all_layers": at("gradient", "conv1"), "logits": at("gradient", "logits")}
    assert checks[4]["measured"] == {"gradient": data("gradient"), "guided": data("guided")}


def test_the_working_copy_has_the_weights_of_reinitialized():
    model = digits_cnn("max")
    randomised = adebayo2018.Randomised(model, seed=5)
    for names in adebayo2018.CASCADE + [(name,) for name in LAYERS]:
        for a, b in zip(randomised(names).get_weights(), reinitialized(model, names, 5).get_weights()):
            np.testing.assert_array_equal(a, b, err_msg=str(names))
    assert all((a == b).all() for a, b in zip(randomised(()).get_weights(), model.get_weights()))


def test_the_oracle_maps_equal_the_explainers():
    model = digits_cnn("max")
    x = np.random.default_rng(0).uniform(size=(4, 8, 8, 1)).astype(np.float32)
    y = np.arange(4)
    found, expected = adebayo2018.oracle_maps(model, x, y), maps(model, x, y)
    for rule in RULES:
        assert_maps_close(expected[rule], found[rule], "float32", rule)
