"""``refdeconv reproduce``'s ``nie2018`` study (class sensitivity, Nie et al. 2018) in quick mode: the
entry's structure, its figure, the measure (cosine and relative distance of maps) and that each
check's verdict is computed from the measured numbers as its claim states. Whether the claim held
is reported, not asserted."""


import numpy as np
import pytest

pytest.importorskip("sklearn", reason="the reproduce extra (scikit-learn's digits) is not installed")
pytest.importorskip("matplotlib", reason="the figures need matplotlib")

from refdeconv.reproduce import nie2018  # noqa: E402
from refdeconv.reproduce.study import RULES, verdict  # noqa: E402

SETTINGS = ("trained", "random", "partly trained")
STATS = ("between_classes", "between_inputs", "relative_distance")


@pytest.fixture(scope="module")
def entry(quick_run):
    """``(folder, entry)``: the study's entry in the session's quick run of every study
    (``tests/reproduce/conftest.py``), read back from its results.json."""
    return quick_run[0], quick_run[1][nie2018.KEY]


def test_the_entry_has_the_framework_fields(entry):
    _, e = entry
    for field in ("title", "citation", "claim", "original_setting", "setting", "measured", "checks", "held",
                  "why", "figure"):
        assert field in e, field
    assert e["quick"] is True and e["seed"] == 0
    assert e["held"] == verdict(e["checks"])
    assert (e["why"] == "") == (e["held"] is True)


def test_the_figure_is_a_png(entry):
    out, e = entry
    assert e["figure"] == "nie2018.png"
    assert (out / e["figure"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


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
