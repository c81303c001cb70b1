"""The boundary checks have teeth on the TensorFlow side: planted faults make them fail.

Covers issue 24, item 4 (after HIPS/autograd's ``test_tests.py``): each fault is planted with
``monkeypatch`` in a copy of the mechanism (a mask of :data:`refdeconv.explainers.rules._ACTIVE`,
a patched copy of :func:`refdeconv.explainers.override.family_relu` compiled from its source with
one comparison changed, the switches' offsets visited last first), then the fixed-case check of
:mod:`tests.explainers.test_boundaries` or :mod:`tests.explainers.test_pooling_ties` must raise
``AssertionError`` naming the TensorFlow map. A control run of the same checks without a fault passes.
"""

import inspect

import pytest
import tensorflow as tf

from refdeconv.explainers import override, rules, switches
from tests.explainers.test_boundaries import check_relu_boundaries
from tests.explainers.test_pooling_ties import check_pool_ties


def _family_relu_with(old: str, new: str):
    """A copy of ``family_relu`` compiled from its source with ``old`` replaced by ``new``."""
    source = inspect.getsource(override.family_relu)
    assert source.count(old) == 1, f"family_relu's source no longer holds {old!r} once"
    namespace = dict(vars(override))
    exec(compile(source.replace(old, new), override.__file__, "exec"), namespace)  # noqa: S102 - the planted copy
    return namespace["family_relu"]


def _last_maximum_first(original):
    return lambda phases, y, u, offsets, *rest: original(phases, y, u, offsets[::-1], *rest)


#: fault -> (plant(monkeypatch), the check that must catch it).
FAULTS = {
    "Relu6 mask inclusive at the cap (z <= 6)": (
        lambda mp: mp.setitem(rules._ACTIVE, "Relu6", lambda op: tf.logical_and(op.inputs[0] > 0, op.inputs[0] <= 6)),
        lambda: check_relu_boundaries('Activation("relu6")', ("guided",))),
    "Relu6 mask inclusive at zero (z >= 0)": (
        lambda mp: mp.setitem(rules._ACTIVE, "Relu6", lambda op: tf.logical_and(op.inputs[0] >= 0, op.inputs[0] < 6)),
        lambda: check_relu_boundaries("Lambda(tf.nn.relu6)", ("guided",))),
    "Relu mask inclusive at zero (output >= 0)": (
        lambda mp: mp.setitem(rules._ACTIVE, "Relu", lambda op: op.outputs[0] >= 0),
        lambda: check_relu_boundaries("ReLU()", ("guided",))),
    "fused cap of ReLU(max_value=6) inclusive": (
        lambda mp: mp.setattr(override, "family_relu", _family_relu_with("z < max_value if fused", "z <= max_value if fused")),
        lambda: check_relu_boundaries("ReLU(max_value=6)", ("guided",))),
    "clipped cap exclusive": (
        lambda mp: mp.setattr(override, "family_relu", _family_relu_with("else z <= max_value", "else z < max_value")),
        lambda: check_relu_boundaries("ReLU(max_value=3)", ("guided",))),
    "every cap of 6 taken as fused": (
        lambda mp: mp.setattr(override, "family_relu", _family_relu_with("max_value == 6 and threshold == 0", "max_value == 6")),
        lambda: check_relu_boundaries("ReLU(max_value=6, threshold=1)", ("guided",))),
    "threshold inclusive (z >= threshold)": (
        lambda mp: mp.setattr(override, "family_relu", _family_relu_with("on = z > threshold", "on = z >= threshold")),
        lambda: check_relu_boundaries("ReLU(threshold=2)", ("guided",))),
    "last maximum wins a max-pool tie": (
        lambda mp: mp.setattr(switches, "_unpooled_phases", _last_maximum_first(switches._unpooled_phases)),
        lambda: check_pool_ties("MaxPooling2D(2, 1, valid)", ("deconvnet",))),
}


@pytest.mark.parametrize("fault", FAULTS)
def test_a_planted_boundary_fault_fails_its_fixed_case(fault, monkeypatch):
    plant, check = FAULTS[fault]
    plant(monkeypatch)
    with pytest.raises(AssertionError, match="TensorFlow"):  # the explainer's map, not the reference's
        check()


def test_control_without_a_fault_passes_the_same_checks():
    for _, check in FAULTS.values():
        check()
