"""The NumPy reference against independent computations, on drawn networks.

Covers DEVELOPERS.md's oracle requirement and DESIGN.md §1/§3: for networks of
every supported layer in the three input shapes, written as Sequential and
Functional Keras models in float64,

- the reference's forward pass equals Keras's (checked first in every test);
- ``rule="gradient"`` equals ``tf.GradientTape`` and central finite differences;
- ``"deconvnet"`` and ``"guided"`` (and ``"gradient"``) equal an independent
  TensorFlow computation of the same rule (:mod:`tests.tf_rules`), with
  max-pool ties drawn on purpose (``ties=True`` networks).

Every comparison goes through :func:`refdeconv.testing.assert_maps_close`.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.differentiate import jacobian

from refdeconv import reference
from refdeconv.testing import assert_maps_close
from tests.builders import build
from tests.strategies import cases
from tests.tf_rules import score_gradient, tf_attribution

RULE_NAMES = sorted(reference.RULES)


@given(case=st.one_of(cases(), cases(recurrent=True)), style=st.sampled_from(["sequential", "functional", "nested"]))
def test_gradient_rule_equals_gradient_tape(case, style):
    net, x, targets = case
    model = build(net, style)
    out, grad = score_gradient(model, x, targets)
    assert_maps_close(out, reference.forward(model, x), "float64", f"forward of {style} {net}")
    got = reference.attribution(model, x, targets, rule="gradient")
    assert_maps_close(grad, got, "float64", f"GradientTape vs reference gradient, {style} {net}")


@given(case=cases(ties=False))
def test_gradient_rule_equals_finite_differences(case):
    net, x, targets = case
    model = build(net)
    shape = x.shape

    def total_score(flat):  # flat: (D, *batch) -> (1, *batch), one evaluation per trailing index
        batch = flat.shape[1:]
        xs = np.moveaxis(flat, 0, -1).reshape(-1, *shape[1:])
        scores = (reference.forward(model, xs) * np.tile(targets, (xs.shape[0] // shape[0], 1))).sum(-1)
        return scores.reshape(*batch, shape[0]).sum(-1)[None]

    # atol: a dead unit's derivative is exactly 0, which the default atol (the smallest normal
    # number) can never certify against roundoff; 1e-10 is far below the FD tolerance.
    fd = jacobian(total_score, x.ravel(), initial_step=1e-3, tolerances={"atol": 1e-10})
    assert fd.success.all(), f"finite differences did not converge for {net}"
    got = reference.attribution(model, x, targets, rule="gradient")
    assert_maps_close(fd.df.reshape(shape), got, "finite-difference", f"finite differences vs reference, {net}")


def check_rule_against_tensorflow(case, rule):
    """The property itself, shared with the meta-tests of :mod:`tests.reference.test_meta`."""
    net, x, targets = case
    model = build(net, "sequential")
    out, tf_map = tf_attribution(net, x, targets, rule)
    assert_maps_close(out, reference.forward(model, x), "float64", f"forward of {net}")
    got = reference.attribution(model, x, targets, rule=rule)
    assert_maps_close(tf_map, got, "float64", f"TensorFlow {rule} vs reference {rule}, {net}")


@given(case=st.one_of(cases(), cases(recurrent=True)), rule=st.sampled_from(RULE_NAMES))
def test_rules_equal_independent_tensorflow(case, rule):
    check_rule_against_tensorflow(case, rule)


@pytest.mark.parametrize("rule", RULE_NAMES)
def test_overlapping_max_pool_ties_follow_the_first_maximum(rule):
    """All-equal 2x2 windows with stride 1: each window's signal goes to its top-left cell."""
    import keras

    model = keras.Sequential([
        keras.Input((3, 3, 1), dtype="float64"),
        keras.layers.MaxPooling2D(2, strides=1, dtype="float64"),
        keras.layers.Flatten(dtype="float64"),
    ])
    x, targets = np.ones((1, 3, 3, 1)), np.ones((1, 4))
    expected = np.array([[1.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 0.0]]).reshape(1, 3, 3, 1)
    got = reference.attribution(model, x, targets, rule=rule)
    np.testing.assert_array_equal(got, expected, err_msg=f"max-pool tie rule under {rule}")
    _, tf_map = score_gradient(model, x, targets)
    np.testing.assert_array_equal(tf_map, expected, err_msg="TensorFlow's own tie rule changed")
