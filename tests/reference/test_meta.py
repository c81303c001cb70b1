"""The checks have teeth: planted faults in the reference make the property tests fail.

Covers the foundation issue's meta-test requirement (after HIPS/autograd's
``test_tests.py``): each fault is planted with ``monkeypatch`` in the one
place it would live (the rule table, the switch rule), then the property
test of :mod:`tests.reference.test_reference` is run with a fixed seed and must raise
``AssertionError``. A control run without a fault must pass, so a failure
here is the fault's doing, not the test's (the control, 18 s, runs in the
heavy tier).
"""

import numpy as np
import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from refdeconv.reference import pooling, rules
from tests.strategies import cases
from tests.reference.test_reference import check_rule_against_tensorflow

ORIGINAL = dict(rules.RULES)


def _last_maximum(window_values):
    """A wrong tie rule: the last maximum in row-major order instead of the first."""
    flipped = np.flip(window_values, axis=-2)
    return window_values.shape[-2] - 1 - np.argmax(flipped, axis=-2)


FAULTS = {
    "guided where deconvnet was asked": ("rule", "deconvnet", ORIGINAL["guided"]),
    "deconvnet without rectification": ("rule", "deconvnet", lambda u, active: u),
    "guided mask on the wrong side": ("rule", "guided", lambda u, active: np.maximum(u, 0) * ~active),
    "gradient rectified (deconvnet where gradient was asked)": ("rule", "gradient", ORIGINAL["deconvnet"]),
    "last maximum wins a max-pool tie": ("switch", None, _last_maximum),
}


def _run():
    """The rule property of :mod:`tests.reference.test_reference`, fixed seed, generation only."""

    @settings(max_examples=150, phases=[Phase.generate], derandomize=True, database=None)
    @given(case=cases(), rule=st.sampled_from(sorted(ORIGINAL)))
    def rules_equal_independent_tensorflow(case, rule):
        check_rule_against_tensorflow(case, rule)

    rules_equal_independent_tensorflow()


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_planted_fault_is_caught(fault, monkeypatch):
    where, rule, replacement = FAULTS[fault]
    if where == "rule":
        monkeypatch.setitem(rules.RULES, rule, replacement)
    else:
        monkeypatch.setattr(pooling, "switch_index", replacement)
    with pytest.raises(AssertionError):
        _run()


@pytest.mark.heavy  # the default run keeps under its 8 minutes (docs/verification.md, 'Time budget')
def test_control_without_fault_passes():
    _run()
