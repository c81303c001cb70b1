"""The proofs' checks are not vacuous: a planted fault that breaks a claim makes its check fail.

Each test first runs some proof checks on the intact code (they pass), then
plants one fault with ``monkeypatch`` and asserts that the same checks raise
``AssertionError``. The faults:

========================================= ============================================ ==================
fault                                     where                                        caught by
========================================= ============================================ ==================
DeconvNet's ReLU rule is the gradient's   ``refdeconv.reference.rules.RULES``          P1, P4, P5
DeconvNet's ReLU rule is the gradient's   ``refdeconv.explainers.rules.SIGNALS`` (TensorFlow)     P1, P4, P5
ties go to the *last* maximum             ``refdeconv.reference.pooling.switch_index`` P3
overlapping windows overwrite, not add    ``windows_adjoint`` of the reference ops     P2, P3
phase kernels flipped (correlation)       ``refdeconv.explainers.polyphase``           P12
========================================= ============================================ ==================

As in HIPS/autograd's ``test_tests.py``: a check that cannot fail proves nothing.
"""

from __future__ import annotations

import p01_relu_seed_formula as p01
import p02_transposed_filters_adjoint as p02
import p03_unpooling_is_maxpool_vjp as p03
import p04_one_hidden_layer_closed_form as p04
import p05_no_maxpool_input_free as p05
import p12_polyphase_adjoint as p12
import tensorflow as tf
from _common import np, pytest

import refdeconv.reference.linear
import refdeconv.reference.pooling
import refdeconv.reference.rules
import refdeconv.explainers.rules
from refdeconv.explainers import polyphase


def rule_checks(impl: str) -> list:
    """Checks of P1, P4 and P5 that depend on DeconvNet's ReLU rule, for one implementation."""
    return [
        lambda: p01.check_relu_alone("ReLU()", "deconvnet", impl),
        lambda: p01.check_one_unit("deconvnet", impl),
        lambda: p04.check_closed_form(impl),
        lambda: p04.check_free_of_x_and_biases(impl),
        lambda: p05.check_input_free("image", impl),
        lambda: p05.check_input_free("sequence", impl),
    ]


def assert_all_pass(checks) -> None:
    """Run every check; any ``AssertionError`` propagates."""
    for check in checks:
        check()


def assert_all_fail(checks) -> None:
    """Every check must raise ``AssertionError`` (the planted fault is caught)."""
    for i, check in enumerate(checks):
        with pytest.raises(AssertionError):
            check()
        print(f"check {i} caught the fault")


def last_maximum(window_values: np.ndarray) -> np.ndarray:
    """A wrong tie rule: the *last* maximum in row-major window order."""
    k = window_values.shape[3]
    return k - 1 - np.argmax(window_values[:, :, :, ::-1], axis=3)


def overwriting_adjoint(w, geometry, extent):
    """A wrong ``windows_adjoint``: overlapping windows overwrite each other instead of adding up."""
    out, ((top, bottom), (left, right)) = geometry.plan(extent)
    grid = np.zeros((w.shape[0], extent[0] + top + bottom, extent[1] + left + right, w.shape[-1]), w.dtype)
    if 0 not in out:
        for k, (rows, cols) in enumerate(geometry.slices(out)):
            grid[:, rows, cols, :] = w[:, :, :, k, :]
    return grid[:, top : top + extent[0], left : left + extent[1], :]


def test_reference_rule_fault_is_caught(monkeypatch):
    assert_all_pass(rule_checks("reference"))
    rules = refdeconv.reference.rules.RULES
    monkeypatch.setitem(rules, "deconvnet", rules["gradient"])
    assert_all_fail(rule_checks("reference"))


def test_tensorflow_rule_fault_is_caught(monkeypatch):
    assert_all_pass(rule_checks("tensorflow"))
    monkeypatch.setitem(refdeconv.explainers.rules.SIGNALS, "deconvnet", lambda u, active: u * tf.cast(active(), u.dtype))
    assert_all_fail(rule_checks("tensorflow"))


def test_last_maximum_tie_rule_is_caught(monkeypatch):
    checks = [lambda case=case: p03.check_unpooling_is_vjp(case, "reference") for case in p03.CASES[:3]]
    checks.append(lambda: p03.check_tie_counterexample("reference"))
    assert_all_pass(checks)
    monkeypatch.setattr(refdeconv.reference.pooling, "switch_index", last_maximum)
    assert_all_fail(checks)


def test_overwriting_overlaps_is_caught(monkeypatch):
    checks = [
        lambda: p02.check_adjoint_identity(p02.CASES[0]),
        lambda: p02.check_witnesses(p02.CASES[3]),
        lambda: p03.check_accumulation("reference"),
        lambda: p03.check_unpooling_is_vjp(p03.CASES[0], "reference"),
    ]
    assert_all_pass(checks)
    monkeypatch.setattr(refdeconv.reference.linear, "windows_adjoint", overwriting_adjoint)
    monkeypatch.setattr(refdeconv.reference.pooling, "windows_adjoint", overwriting_adjoint)
    assert_all_fail(checks)


def test_flipped_phase_kernels_are_caught(monkeypatch):
    checks = [lambda case=case: p12.check_phases(case) for case in p12.CASES[:2]]
    checks += [lambda case=case: p12.check_integers_bitwise(case) for case in p12.CASES[:2]]
    assert_all_pass(checks)
    correct = polyphase.input_gradient
    monkeypatch.setattr(polyphase, "input_gradient",
                        lambda u, kernel, *rest: correct(u, tf.reverse(kernel, [0, 1]), *rest))
    assert_all_fail(checks)


if __name__ == "__main__":
    import sys

    sys.exit(pytest.main([__file__, "-q"]))
