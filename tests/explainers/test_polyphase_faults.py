"""The polyphase checks have teeth: planted faults in the product and its dispatch are caught.

Covers issue 24's meta-tests of :mod:`refdeconv.explainers.polyphase` (after HIPS/autograd's
``test_tests.py``): each fault is the one-line diff a real bug would be (the ``SAME`` padding split
the wrong way, the phase grid shifted by a row, the kernel taps not reversed or reversed on one axis,
the strides swapped in the product or in the dispatch, a phase row dropped where the padded extent
is not a multiple of the stride, the phases interleaved in the wrong order, the channel cap off by
one either way, grouped or strided-dilated convolutions taken), planted with
``monkeypatch`` in the function it would live in (its code swapped for a copy's, compiled from its
source with the fragment changed, :func:`tests.planting.planted_copy`: TensorFlow's gradient
registry, which holds the dispatch itself, runs the fault too), and the fixed cases of
``test_polyphase.py`` of its kind (bitwise against ``Conv2DBackpropInput``, the adjoint identity,
the explainer against the reference, the eligibility table) must each raise ``AssertionError``. A
control runs every one of those checks without a fault: they pass, so each failure is the fault's.
"""

import numpy as np
import pytest

from refdeconv.explainers import polyphase
from tests.explainers.test_polyphase import FIXED, check_adjoint, check_bitwise, check_eligible, check_explainer
from tests.planting import fails, plant

CHECKS = {
    "bitwise": lambda name: check_bitwise(FIXED[name], np.float32, 0),
    "adjoint": lambda name: check_adjoint(FIXED[name], 0),
    "explainer": check_explainer,
    "eligible": check_eligible,
}
STEM, ODD, NON_SQUARE, CUT = "7x7 stride 2, same", "4x4 stride 2, same, odd total", "3x5 strides (2, 3), same", "10x9 strides (3, 2), valid"
NARROW_STEM, NON_SQUARE_MODEL = "ResNet's stem on 3 channels", "4x5 strides (2, 3), same, odd total"

#: fault -> (function, source fragment, its replacement, [(check, fixed case)] that must fail)
FAULTS = {
    "same padding split with the larger half before": (
        polyphase.padding, "(total // 2, total - total // 2)", "(total - total // 2, total // 2)",
        [("bitwise", ODD), ("adjoint", ODD), ("explainer", NON_SQUARE_MODEL)]),
    "phase grid one row low (signal padded by M, not M - 1)": (
        polyphase.input_gradient, "[m1 - 1, max(q1 - p, 0)]", "[m1, max(q1 - p, 0)]",
        [("bitwise", STEM), ("adjoint", STEM), ("explainer", NARROW_STEM)]),
    "phase taps not reversed": (
        polyphase.input_gradient, "tf.reverse(tf.reshape(taps, [m1, s1, m2, s2, c, f]), [0, 2])",
        "tf.reshape(taps, [m1, s1, m2, s2, c, f])", [("bitwise", STEM), ("adjoint", STEM), ("explainer", NARROW_STEM)]),
    "phase taps reversed on the rows only": (
        polyphase.input_gradient, "), [0, 2])", "), [0])",
        [("bitwise", NON_SQUARE), ("adjoint", NON_SQUARE), ("explainer", NON_SQUARE_MODEL)]),
    "strides swapped in the product": (
        polyphase.input_gradient, "(s1, s2) = kernel.shape", "(s2, s1) = kernel.shape",
        [("bitwise", NON_SQUARE), ("adjoint", NON_SQUARE), ("explainer", NON_SQUARE_MODEL)]),
    "strides swapped in the dispatch": (
        polyphase._gradient, 'op_attr(op, "strides")[1:3]', 'op_attr(op, "strides")[2:0:-1]',
        [("explainer", NON_SQUARE_MODEL)]),
    "last phase rows dropped (floor of the padded extent over the stride)": (
        polyphase.input_gradient, "-(-(top + h) // s1)", "(top + h) // s1", [("bitwise", CUT), ("adjoint", CUT)]),
    "phases interleaved column phase first": (
        polyphase.input_gradient, "[0, 1, 3, 2, 4, 5]", "[0, 1, 2, 3, 4, 5]",
        [("bitwise", STEM), ("adjoint", STEM), ("explainer", NARROW_STEM)]),
    "channel cap one too wide": (
        polyphase.eligible, "x.shape[3] <= NARROW", "x.shape[3] <= NARROW + 1", [("eligible", "5 channels")]),
    "channel cap one too narrow": (
        polyphase.eligible, "x.shape[3] <= NARROW", "x.shape[3] < NARROW", [("eligible", "strides (1, 2) on 4 channels")]),
    "grouped convolutions taken": (
        polyphase.eligible, " and w.shape[2] == x.shape[3]", "", [("eligible", "two groups of 2 channels")]),
    "dilated convolutions taken": (
        polyphase.eligible, "list(dilations) == [1, 1, 1, 1] and ", "", [("eligible", "stride 2 and dilation 2")]),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_a_planted_fault_fails_every_check_of_its_kind(fault, monkeypatch):
    function, old, new, checks = FAULTS[fault]
    plant(monkeypatch, function, old, new)
    passed = [f"{check} on {case!r}" for check, case in checks if not fails(CHECKS[check], case)]
    assert not passed, f"with {fault!r} planted ({old!r} -> {new!r}) these checks still pass: {passed}"


def test_control_every_check_passes_without_a_fault():
    for check, case in sorted({pair for *_, checks in FAULTS.values() for pair in checks}):
        CHECKS[check](case)
