"""The near-tie checks have teeth: planted faults in the detection of ties are caught.

Covers issue 24's meta-tests of :mod:`refdeconv.conformance.maxima` and of the audit's use of it
(after HIPS/autograd's ``test_tests.py``): each fault is the one-line diff a real bug would be (near
measured in absolute terms, or in float64's tolerance whatever the compared dtype, by the detector
or by the audit of a model; exact zeros reported; a rival equal to the winner, or exactly at the
bound, ignored; the winner counted as its own rival; the exact-tie report counting near ties;
``Minimum`` merges not negated; 1-D pools lifted on the wrong axis, 3-D pools contested along an
output axis, global max-pools along the channels), planted with ``monkeypatch`` in the function it
would live in (its code swapped for a copy's compiled from its source with the fragment changed,
:func:`tests.planting.planted_copy`, so every module that imported the function runs the fault),
and the fixed cases of ``test_maxima.py`` named with it must each raise ``AssertionError``. A
control runs every one of those checks without a fault: they pass, so each failure is the fault's.
"""

import pytest

from refdeconv.conformance import maxima, model_audit
from tests.conformance import test_maxima as cases
from tests.planting import fails, plant

#: fault -> (function, source fragment, its replacement, [(check of test_maxima, its argument)] that must fail)
FAULTS = {
    "near measured in absolute terms": (
        maxima.near_ties, "<= tol * np.abs(best)", "<= tol", [("check_relative", None), ("check_bound", None)]),
    "float64's tolerance whatever the compared dtype": (
        maxima.near_ties, "[], tolerance(key)", '[], tolerance("float64")',
        [("check_compared_dtype", None), ("check_relative", None), ("check_audit", "float32, a rival 1e-6 below")]),
    "the audit of a model measures in float64's tolerance": (
        model_audit.run_model, "near_ties(oracle, xs, model_dtype(model))", 'near_ties(oracle, xs, "float64")',
        [("check_audit", "float32, a rival 1e-6 below")]),
    "exact zeros reported as near ties": (
        maxima.near_ties, " & (best != 0)", "", [("check_all_zero_windows", None)]),
    "a rival equal to the winner ignored": (
        maxima.near_ties, "close.sum(axis=0) > 1", "(close & (contest != best)).any(axis=0)",
        [("check_duplicated_rows", None), ("check_merge", "Maximum"), ("check_near_is_not_exact", None),
         ("check_own_extreme", "Maximum"), ("check_own_extreme", "Minimum"), ("check_window_axis", 2)]),
    "a rival exactly at the bound ignored": (
        maxima.near_ties, "<= tol * np.abs(best)", "< tol * np.abs(best)", [("check_bound", None)]),
    "the winner counted as its own rival": (
        maxima.near_ties, "close.sum(axis=0) > 1", "close.sum(axis=0) > 0", [("check_clear_winner", None)]),
    "the exact-tie report counting near ties": (
        maxima.max_pool_ties, "(c == c.max(axis=0))", "np.isclose(c, c.max(axis=0), rtol=1e-9, atol=0)",
        [("check_near_is_not_exact", None)]),
    "Minimum merges not negated": (
        maxima._contests, "stack if op.largest else -stack", "stack", [("check_own_extreme", "Minimum")]),
    "1-D pools lifted on the wrong axis": (
        maxima._contests, "h[:, None] if op.one_d", "h[:, :, None] if op.one_d", [("check_window_axis", 1)]),
    "the 2-D window axis for every rank": (
        maxima._contests, "np.moveaxis(w, -2, 0)", "np.moveaxis(w, 3, 0)", [("check_window_axis", 3)]),
    "global max-pools contested along the channels": (
        maxima._contests, "x.shape[-1]), 1, 0)", "x.shape[-1]), 2, 0)",
        [("check_duplicated_rows", None), ("check_audit", "float64, duplicated rows")]),
}


def _run(check, argument):
    function = getattr(cases, check)
    return function() if argument is None else function(argument)


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_a_planted_fault_fails_every_check_of_its_kind(fault, monkeypatch):
    function, old, new, checks = FAULTS[fault]
    plant(monkeypatch, function, old, new)
    passed = [f"{check}({argument!r})" for check, argument in checks if not fails(_run, check, argument)]
    assert not passed, f"with {fault!r} planted ({old!r} -> {new!r}) these checks still pass: {passed}"


def test_control_every_check_passes_without_a_fault():
    for check, argument in sorted({pair for *_, checks in FAULTS.values() for pair in checks}, key=repr):
        _run(check, argument)
