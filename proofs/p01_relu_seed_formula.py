"""P1. The override computes the seed formula: `relu(u)` at each ReLU, whatever the forward sign.

Statement
---------
Let a ReLU (plain, capped or thresholded) receive the forward input `z` and, in
the backward pass, the upstream signal `u = ds/da` at its output `a`. Under
refdeconv's DeconvNet rule the signal it sends to `z` is

    deconvnet:  relu(u)                  for every z (z > 0, z = 0, z < 0, z above a cap)

while the plain gradient sends `u * 1[z > 0]` and Guided Backprop
`relu(u) * 1[z > 0]`. Both implementations (the TensorFlow override and the
NumPy reference) compute exactly this.

Assumptions
-----------
- Default operator: the score of sample `i` is `s_i = sum_k f(x_i)_k y_ik`.
- The ReLU is written as Keras writes it (`activation="relu"`, `ReLU()`,
  `Activation("relu")`, `ReLU(max_value=...)`, `ReLU(threshold=...)`) or,
  for the TensorFlow explainer only, as `tf.nn.relu` in a `Lambda` (the
  reference cannot read a `Lambda`).
- "Active" means the ReLU's own derivative is 1: `threshold < z < max_value`
  (the boundary conventions are TensorFlow's, see `refdeconv.reference.activations.ReLU`).

Derivation
----------
1. *A ReLU alone.* Take `f(x) = relu(x)` element-wise. Then `s = sum_j y_j relu(x_j)`
   and the upstream signal at the ReLU's output is `u = ds/da = y` (the
   derivative of a weighted sum). The ReLU rule then gives the map directly:
   `D(x, y) = relu(y)`, `G(x, y) = y * 1[x > 0]`, `GB(x, y) = relu(y) * 1[x > 0]`.
   The four sign cases `(x, y)` in `{+, -}^2` (and `x = 0`) separate the rules:
   `D` depends on `y` only; it is `0` where `y < 0` even when `x > 0`, and
   `y` where `y > 0` even when `x < 0`.
   No arithmetic happens besides the rule itself, so the identity is exact
   (bitwise) in float64.
2. *One ReLU between two linear maps.* Take one hidden unit:
   `f(x) = w2 * relu(w1 . x + b1) + b2` with `w1` in `R^n`, scalars `w2, b1, b2`,
   one output. With `s = y f(x)` the upstream signal at the ReLU is
   `u = w2 y`; the rule sends back `r(u, z)` with `z = w1 . x + b1`, and
   the first layer's adjoint multiplies by `w1`:
   `D(x, y) = w1 relu(w2 y)`, `G(x, y) = w1 w2 y 1[z > 0]`,
   `GB(x, y) = w1 relu(w2 y) 1[z > 0]`.
   Choosing `x` with `z > 0` and with `z < 0`, and `y = +1, -1`, covers all
   four sign combinations of `(z, u)`.

References
----------
- M. D. Zeiler, R. Fergus, "Visualizing and Understanding Convolutional
  Networks", ECCV 2014, arXiv:1311.2901, sec. 2.1 ("Rectification").
- J. T. Springenberg et al., "Striving for Simplicity: The All Convolutional
  Net", ICLR 2015 workshop, arXiv:1412.6806, fig. 1 (the three backward rules).
- DESIGN.md section 1 (the rule table) and section 3 (the ReLU family).
"""

from __future__ import annotations

import tensorflow as tf
from _common import (IMPLEMENTATIONS, RULES, assert_maps_close, keras, layer, maps, np, pytest,
                     sequential)

L = keras.layers

#: ReLU writings the reference reads, as layer factories.
RELU_FORMS = {
    "ReLU()": lambda: layer(L.ReLU),
    "Activation('relu')": lambda: layer(L.Activation, "relu"),
    "ReLU(max_value=1.5)": lambda: layer(L.ReLU, max_value=1.5),
    "Activation('relu6')": lambda: layer(L.Activation, "relu6"),
    "ReLU(threshold=0.5)": lambda: layer(L.ReLU, threshold=0.5),
}

#: Inputs covering every sign case and both sides of each cap/threshold.
X = np.array([[-2.0, -0.5, 0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 6.0, 7.0]])


def closed_form(rule: str, x: np.ndarray, y: np.ndarray, active: np.ndarray) -> np.ndarray:
    """The map of a ReLU-only model ``f(x) = relu(x)`` under ``rule`` (derivation, step 1).

    Parameters
    ----------
    rule : {"gradient", "deconvnet", "guided"}
    x, y : numpy.ndarray
        Inputs and targets of the same shape.
    active : numpy.ndarray of bool
        Where the ReLU's derivative is 1.

    Returns
    -------
    numpy.ndarray
    """
    return {"gradient": y * active, "deconvnet": np.maximum(y, 0.0), "guided": np.maximum(y, 0.0) * active}[rule]


def check_relu_alone(form: str, rule: str, impl: str) -> None:
    """Map of ``Input -> <ReLU form>`` equals :func:`closed_form` bitwise, for targets of both signs."""
    model = sequential(X.shape[1:], RELU_FORMS[form]())
    with tf.GradientTape() as tape:  # the ReLU's own derivative, from TensorFlow: where it is active
        x = tf.constant(X)
        tape.watch(x)
        out = model(x)
    active = tape.gradient(out, x).numpy() == 1.0
    for sign in (1.0, -1.0):
        y = sign * np.linspace(-1.0, 1.0, X.shape[1])[None] ** 3 + 0.1 * sign
        np.testing.assert_array_equal(
            maps(model, X, y, rule, impl), closed_form(rule, X, y, active), err_msg=f"{impl} {rule} {form}"
        )


def check_relu_alone_tf_lambda(rule: str) -> None:
    """The same identity for ``Lambda(tf.nn.relu)``, which only the TensorFlow explainer reads."""
    model = sequential(X.shape[1:], layer(L.Lambda, tf.nn.relu))
    y = np.linspace(-1.0, 1.0, X.shape[1])[None]
    np.testing.assert_array_equal(maps(model, X, y, rule, "tensorflow"), closed_form(rule, X, y, X > 0))


def one_unit_model(w1: np.ndarray, b1: float, w2: float, b2: float):
    """``f(x) = w2 * relu(w1 . x + b1) + b2``: one ReLU between two ``Dense`` layers."""
    model = sequential((len(w1),), layer(L.Dense, 1, activation="relu"), layer(L.Dense, 1))
    model.layers[0].set_weights([w1[:, None], np.array([b1])])
    model.layers[1].set_weights([np.array([[w2]]), np.array([b2])])
    return model


def check_one_unit(rule: str, impl: str) -> None:
    """Derivation step 2: all four sign cases of ``(z, u)`` against the closed forms."""
    w1, b1, w2, b2 = np.array([0.7, -1.3, 0.4]), 0.2, -0.9, 0.5
    model = one_unit_model(w1, b1, w2, b2)
    x = np.array([[1.0, -1.0, 0.5], [-1.0, 1.0, -0.5]])  # z = 2.47 > 0, z = -2.07 < 0
    z = x @ w1 + b1
    assert z[0] > 0 > z[1], z
    for y in (1.0, -1.0):  # u = w2 y: negative, then positive
        u = np.full(2, w2 * y)
        signal = {"gradient": u * (z > 0), "deconvnet": np.maximum(u, 0.0), "guided": np.maximum(u, 0.0) * (z > 0)}
        expected = signal[rule][:, None] * w1[None]
        assert_maps_close(maps(model, x, np.full((2, 1), y), rule, impl), expected, "float64", f"{impl} {rule} y={y}")


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("form", sorted(RELU_FORMS))
def test_relu_alone_is_the_seed_formula(form, rule, impl):
    check_relu_alone(form, rule, impl)


@pytest.mark.parametrize("rule", RULES)
def test_relu_in_lambda_is_the_seed_formula(rule):
    check_relu_alone_tf_lambda(rule)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize("rule", RULES)
def test_one_relu_between_linear_maps(rule, impl):
    check_one_unit(rule, impl)


def test_deconvnet_ignores_the_forward_sign():
    """The limit of the gradient: it does see the sign; DeconvNet does not (same model, same y)."""
    model = sequential(X.shape[1:], layer(L.ReLU))
    y = np.ones_like(X)
    for impl in IMPLEMENTATIONS:
        np.testing.assert_array_equal(maps(model, X, y, "deconvnet", impl), np.ones_like(X))
        np.testing.assert_array_equal(maps(model, X, y, "gradient", impl), (X > 0).astype(float))


if __name__ == "__main__":
    import sys

    sys.exit(pytest.main([__file__, "-q"]))
