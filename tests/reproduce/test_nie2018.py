"""``refdeconv reproduce``'s ``nie2018`` study (class sensitivity, Nie et al. 2018) in quick mode: the
measure (cosine and relative distance of maps) and that each
check's verdict is computed from the measured numbers as its claim states. Whether the claim held
is reported, not asserted."""

import numpy as np
import pytest

from refdeconv.reproduce import nie2018
from refdeconv.reproduce.study import RULES

KEY = nie2018.KEY  # the study whose entry the `entry` fixture (conftest.py) gives

SETTINGS = ("trained", "random", "partly trained")
STATS = ("between_classes", "between_inputs", "relative_distance")


def test_the_measurement_has_every_setting_rule_and_statistic(entry):
    _, e = entry
    m = e["measured"]
    assert m["inputs"] == 16 and m["partial_epochs"] == nie2018.PARTIAL_EPOCHS
    assert m["random"]["epochs"] == 0 and m["partly trained"]["epochs"] == nie2018.PARTIAL_EPOCHS
    assert m["trained"]["epochs"] > m["partly trained"]["epochs"]
    for setting in SETTINGS:
        assert 0.0 <= m[setting]["accuracy"] <= 1.0
        for rule in RULES:
            for stat in STATS:
                s = m[setting][rule][stat]
                assert s["min"] <= s["mean"] <= s["max"], (setting, rule, stat, s)
                bounds = (0.0, 2.0) if stat == "relative_distance" else (-1.0, 1.0)
                assert bounds[0] - 1e-12 <= s["min"] and s["max"] <= bounds[1] + 1e-12, (setting, rule, stat, s)


def test_the_setting_is_written_from_the_numbers(entry):
    _, e = entry
    m = e["measured"]
    assert f"trained for {m['trained']['epochs']} epochs" in e["setting"]
    assert f"{m['inputs']} held-out digits" in e["setting"]
    for setting in SETTINGS:
        assert f"{setting} {m[setting]['accuracy']:.1%}" in e["setting"]


def test_each_check_is_decided_by_its_measured_numbers(entry):
    _, e = entry
    m, checks = e["measured"], e["checks"]
    assert len(checks) == 2 * len(SETTINGS)
    for setting, (against_gradient, against_inputs) in zip(SETTINGS, zip(checks[::2], checks[1::2])):
        mean = {r: m[setting][r]["between_classes"]["mean"] for r in RULES}
        base = {r: m[setting][r]["between_inputs"]["mean"] for r in RULES}
        assert against_gradient["claim"].startswith(setting)
        assert against_gradient["measured"] == mean
        assert against_gradient["held"] == (mean["deconvnet"] > mean["gradient"] and mean["guided"] > mean["gradient"])
        assert against_inputs["measured"] == {
            "deconvnet_between_classes": mean["deconvnet"], "deconvnet_between_inputs": base["deconvnet"],
            "guided_between_classes": mean["guided"], "guided_between_inputs": base["guided"]}
        assert against_inputs["held"] == (mean["deconvnet"] > base["deconvnet"] and mean["guided"] > base["guided"])


def test_relative_distance():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(3, 8, 8, 1))
    np.testing.assert_array_equal(nie2018.relative(a, a), 0.0)
    np.testing.assert_allclose(nie2018.relative(a, 2 * a), 0.5)
    e = np.zeros((2, 4))
    e[0, 0] = e[1, 1] = 1.0
    np.testing.assert_allclose(nie2018.relative(e[:1], e[1:]), np.sqrt(2.0))
    np.testing.assert_array_equal(nie2018.relative(np.zeros((1, 4)), np.zeros((1, 4))), 0.0)
