"""The ReLU family's boundary conventions (DESIGN.md §3), pinned in both implementations on fixed cases.

Covers issue 24, item 1 (ReLUs) and item 4 (capped-ReLU masks in the override): for every way
Keras writes a plain, capped or thresholded ReLU, a float64 model ``Dense(I, bias) -> ReLU form ->
Dense(U, -U)`` whose pre-activations ``z`` sit exactly on, just below and just above each
boundary (the inputs are ``z - bias``; every value is a multiple of 1/2, so exact). Its forward
output, and each rule's map from refdeconv's TensorFlow explainer and from
``refdeconv.reference.attribution``, equal values written out here, exactly:

- the plain ``Relu`` at ``z == 0``: inactive;
- the fused ``Relu6`` (``ReLU(max_value=6)``, ``Activation("relu6")``, ``keras.ops.relu6``,
  ``tf.nn.relu6``): active for ``0 < z < 6`` only (TensorFlow's ``Relu6Grad``);
- the clipped cap (``ReLU(max_value=3)``: ``Relu`` + ``Minimum`` + ``Maximum``, and
  ``ReLU(max_value=6, threshold=1)``, which is not fused): the cap itself active (``Minimum``
  passes the gradient on equality);
- the threshold (``ReLU(threshold=2)``: ``Greater`` + ``SelectV2``): ``z == threshold`` inactive.

Each mask below is TensorFlow's own gradient of the form (measured with ``GradientTape``, TF 2.21,
Keras 3.15), so the ``Gradient`` map pins TensorFlow, and ``GuidedBackprop`` the override's mask.
The reference does not read ``Lambda`` layers: those forms are checked on the TensorFlow side only
(their ops are those of ``Activation("relu6")`` and ``ReLU()``, which the reference reads).
"""

import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

from refdeconv import DeconvNet, Gradient, GuidedBackprop, reference

L = keras.layers
F64 = {"dtype": "float64"}
EXPLAINERS = {"gradient": Gradient, "deconvnet": DeconvNet, "guided": GuidedBackprop}

#: Upstream signal at the six hidden units for target 0 (the output kernel's first column);
#: target 1 gets ``-U``, so every unit sees both signs. Targets: ``[0, 1]`` for two copies of x.
U = np.array([1.0, -2.0, 3.0, -4.0, 5.0, -6.0])
BIAS = np.array([2.0, -1.0, 0.0, 1.0, -2.0, 3.0])  # first layer: z = x @ I + BIAS

#: Maps by DESIGN.md §1's table from the upstream signal ``u`` and the hand-written ``mask``
#: (the first kernel is the identity, so the map of x is the signal at z).
RULES = {
    "gradient": lambda u, mask: u * mask,
    "deconvnet": lambda u, mask: np.maximum(u, 0.0),  # the forward sign, and so every boundary, ignored
    "guided": lambda u, mask: np.maximum(u, 0.0) * mask,
}

RELU6_Z = [-0.5, 0.0, 0.5, 5.5, 6.0, 6.5]
RELU6_Y = [0.0, 0.0, 0.5, 5.5, 6.0, 6.0]
RELU6_MASK = [0, 0, 1, 1, 0, 0]  # Relu6Grad: 0 < z < 6; z = 0 and z = 6 inactive

#: form -> (layer factory, whether the reference reads it, z, forward y = f(z), mask = f'(z)).
FORMS = {
    # Relu's gradient: output > 0, so z = 0 is inactive.
    "ReLU()": (lambda: L.ReLU(**F64), True,
               [-1.0, -0.5, 0.0, 0.5, 1.0, 2.0], [0.0, 0.0, 0.0, 0.5, 1.0, 2.0], [0, 0, 0, 1, 1, 1]),
    "Lambda(tf.nn.relu)": (lambda: L.Lambda(tf.nn.relu, **F64), False,
                           [-1.0, -0.5, 0.0, 0.5, 1.0, 2.0], [0.0, 0.0, 0.0, 0.5, 1.0, 2.0], [0, 0, 0, 1, 1, 1]),
    # The fused Relu6 op: routed through the override's family_relu (ReLU layer) or the op-level mask.
    "ReLU(max_value=6)": (lambda: L.ReLU(max_value=6.0, **F64), True, RELU6_Z, RELU6_Y, RELU6_MASK),
    'Activation("relu6")': (lambda: L.Activation("relu6", **F64), True, RELU6_Z, RELU6_Y, RELU6_MASK),
    "Lambda(keras.ops.relu6)": (lambda: L.Lambda(keras.ops.relu6, **F64), False, RELU6_Z, RELU6_Y, RELU6_MASK),
    "Lambda(tf.nn.relu6)": (lambda: L.Lambda(tf.nn.relu6, **F64), False, RELU6_Z, RELU6_Y, RELU6_MASK),
    # Clipped: Relu + Minimum + Maximum; Minimum passes the gradient at z = cap: 0 < z <= 3.
    "ReLU(max_value=3)": (lambda: L.ReLU(max_value=3.0, **F64), True,
                          [-0.5, 0.0, 0.5, 2.5, 3.0, 3.5], [0.0, 0.0, 0.5, 2.5, 3.0, 3.0], [0, 0, 1, 1, 1, 0]),
    # Greater + SelectV2: z = threshold inactive, 0 < z < threshold too: 2 < z.
    "ReLU(threshold=2)": (lambda: L.ReLU(threshold=2.0, **F64), True,
                          [-0.5, 0.0, 1.5, 2.0, 2.5, 3.0], [0.0, 0.0, 0.0, 0.0, 2.5, 3.0], [0, 0, 0, 0, 1, 1]),
    # A cap of 6 with a threshold is clipped, not fused (Greater, SelectV2, Minimum, Maximum): 1 < z <= 6.
    "ReLU(max_value=6, threshold=1)": (lambda: L.ReLU(max_value=6.0, threshold=1.0, **F64), True,
                                       [0.0, 1.0, 1.5, 5.5, 6.0, 6.5], [0.0, 0.0, 1.5, 5.5, 6.0, 6.0], [0, 0, 1, 1, 1, 0]),
}


def boundary_model(form: str):
    """``Dense(6, kernel I, bias BIAS) -> form -> Dense(2, kernel [U, -U], no bias)``, float64."""
    inputs = keras.Input((6,), **F64)
    first, last = L.Dense(6, **F64), L.Dense(2, use_bias=False, **F64)
    model = keras.Model(inputs, last(FORMS[form][0]()(first(inputs))))
    first.set_weights([np.eye(6), BIAS])
    last.set_weights([np.stack([U, -U], axis=1)])
    return model


def check_relu_boundaries(form: str, rules=tuple(EXPLAINERS)) -> None:
    """The forward output, then each rule's TensorFlow and reference maps, against the hand values."""
    _, read, z, y, mask = FORMS[form]
    model = boundary_model(form)
    x, targets = np.array([z, z]) - BIAS, np.array([0, 1])
    forward = np.array(y) @ np.stack([U, -U], axis=1)
    np.testing.assert_array_equal(model(x).numpy()[0], forward, err_msg=f"{form}: Keras forward at z = {z}")
    if read:
        np.testing.assert_array_equal(reference.forward(model, x)[0], forward, err_msg=f"{form}: reference forward at z = {z}")
    for rule in rules:
        expected = np.stack([RULES[rule](U, np.array(mask)), RULES[rule](-U, np.array(mask))])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # no warning is under test here
            got = EXPLAINERS[rule](model).explain(x, targets).numpy()
        np.testing.assert_array_equal(got, expected, err_msg=f"{form}, {rule}, TensorFlow: z = {z}, mask {mask}, u = [U, -U]")
        if read:
            ref = reference.attribution(model, x, targets, rule)
            np.testing.assert_array_equal(ref, expected, err_msg=f"{form}, {rule}, reference: z = {z}, mask {mask}, u = [U, -U]")


@pytest.mark.parametrize("form", FORMS)
def test_each_relu_form_takes_its_ops_convention_at_every_boundary_in_both_implementations(form):
    check_relu_boundaries(form)
