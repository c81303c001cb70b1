"""The non-ReLU activations of the reference: ``keras.activations``' hard, smooth and sparse
functions, ``log_softmax`` and the ``PReLU`` layer.

Part of the spec covered (DESIGN.md §3):

- every element-wise activation's vector-Jacobian product is its derivative, checked against
  central finite differences away from its kinks; ``log_softmax``'s against a finite-difference
  Jacobian;
- at each kink the derivative is the one TensorFlow's gradient gives for the ops Keras emits,
  pinned on float64 inputs placed exactly on the kinks, in the reference and in TensorFlow;
- ``hard_sigmoid`` and ``hard_silu``, which Keras computes through ``relu6``, are not ReLUs:
  ``rule="deconvnet"`` (and ``"guided"``) equal ``rule="gradient"`` on a model whose only
  nonlinearity is one of them;
- on float64 Keras models (``Dense(activation=...)``, ``Activation``, ``PReLU``, a
  ``functools.partial`` with parameters), the forward pass equals Keras's and
  ``rule="gradient"`` equals ``tf.GradientTape``;
- a planted wrong kink convention fails the pin, which passes unpatched.
"""

from __future__ import annotations

import functools

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given
from hypothesis import strategies as st
from scipy.differentiate import derivative

from refdeconv import reference
from refdeconv.reference.activations import ELEMENTWISE, Elementwise, LogSoftmax
from refdeconv.testing import assert_maps_close
from tests.reference.layer_checks import assert_vjp_finite_differences, check_against_keras
from tests.reference.test_ops import FLOATS, draw_array, vjp

L = keras.layers
RULE_NAMES = sorted(reference.RULES)

#: name -> (Keras parameter strategies, points to avoid (kinks) as functions of the parameters).
NEW = {
    "hard_sigmoid": ({}, lambda: [-3.0, 3.0]),
    "hard_silu": ({}, lambda: [-3.0, 3.0]),
    "gelu": ({"approximate": st.booleans()}, lambda approximate: []),
    "mish": ({}, lambda: []),
    "selu": ({}, lambda: [0.0]),
    "softsign": ({}, lambda: [0.0]),
    "exponential": ({}, lambda: []),
    "celu": ({"alpha": st.sampled_from([0.5, 1.0, 2.0])}, lambda alpha: [0.0]),
    "hard_tanh": ({}, lambda: [-1.0, 1.0]),
    "sparse_plus": ({}, lambda: [-1.0, 1.0]),
    "squareplus": ({"b": st.sampled_from([0.5, 4.0])}, lambda b: []),
    "tanh_shrink": ({}, lambda: [0.0]),  # not a kink: f' = tanh^2 vanishes, a relative check cannot see 0
    "soft_shrink": ({"threshold": st.sampled_from([0.25, 0.5, 1.0])}, lambda threshold: [-threshold, threshold]),
    "hard_shrink": ({"threshold": st.sampled_from([0.25, 0.5, 1.0])}, lambda threshold: [-threshold, threshold]),
    "log_sigmoid": ({}, lambda: []),
    "sparse_sigmoid": ({}, lambda: [-1.0, 1.0]),
    "prelu": ({"alpha": st.floats(-2.0, 2.0)}, lambda alpha: [0.0]),
}
SMOOTH = st.floats(-4.0, 4.0, allow_nan=False, allow_subnormal=False)


def test_every_elementwise_activation_is_covered():
    old = {"sigmoid", "tanh", "softplus", "silu", "leaky_relu", "elu"}  # tests/reference/test_ops.py
    assert set(ELEMENTWISE) == old | set(NEW), f"untested activations: {set(ELEMENTWISE) - old - set(NEW)}"


@pytest.mark.parametrize("name", sorted(NEW))
@given(data=st.data())
def test_elementwise_vjp_finite_differences(name, data):
    strategies, kinks = NEW[name]
    options = {key: data.draw(s, label=key) for key, s in strategies.items()}
    # Stay 2**-4 away from every kink, and start scipy's adaptive scheme with steps of 2**-8, so
    # that its order-8 stencil (4 steps each side, shrinking from there) never reaches a kink
    # (its default first step, 0.5, did: celu at z = -0.099 differed by 1.6e-5).
    away = SMOOTH.filter(lambda v: all(abs(v - k) > 2.0**-4 for k in kinks(**options)))
    shape = data.draw(st.tuples(st.integers(1, 2), st.integers(1, 4)), label="shape")
    z, u = draw_array(data, shape, "z", away), draw_array(data, shape, "u")
    op = Elementwise(name, **options)
    fd = derivative(op.forward, z, initial_step=2.0**-8).df
    assert_maps_close(vjp(op, u, z)[0], u * fd, "finite-difference", f"Elementwise({name!r}, {options}) at z = {z.tolist()}")


@given(st.data())
def test_log_softmax_vjp_finite_differences(data):
    shape = data.draw(st.tuples(st.integers(1, 2), st.integers(1, 3), st.integers(1, 4)), label="shape")
    axis = data.draw(st.sampled_from([1, 2, -1]), label="axis")
    z, u = draw_array(data, shape, "z", SMOOTH), draw_array(data, shape, "u")
    assert_vjp_finite_differences(LogSoftmax(axis), [z], u, f"LogSoftmax(axis={axis})")


# --- kinks: TensorFlow's convention, pinned in both implementations ----------------------

#: (Keras function or partial, reference activation and parameters, z exactly on the kinks,
#: derivative TensorFlow gives there, measured with GradientTape in float64).
KINKS = {
    "hard_sigmoid": (keras.activations.hard_sigmoid, ("hard_sigmoid",), [-3.0, 3.0], [0.0, 0.0]),
    "hard_silu": (keras.activations.hard_silu, ("hard_silu",), [-3.0, 3.0], [0.0, 1.0]),
    "hard_tanh": (keras.activations.hard_tanh, ("hard_tanh",), [-1.0, 1.0], [1.0, 1.0]),
    "sparse_plus": (keras.activations.sparse_plus, ("sparse_plus",), [-1.0, 1.0], [0.0, 1.0]),
    "sparse_sigmoid": (keras.activations.sparse_sigmoid, ("sparse_sigmoid",), [-1.0, 1.0], [0.0, 0.0]),
    "soft_shrink": (keras.activations.soft_shrink, ("soft_shrink",), [-0.5, 0.5], [0.0, 0.0]),
    "hard_shrink": (keras.activations.hard_shrink, ("hard_shrink",), [-0.5, 0.5], [0.0, 0.0]),
    "celu": (keras.activations.celu, ("celu",), [0.0], [2.0]),
    "celu(alpha=0.5)": (functools.partial(keras.activations.celu, alpha=0.5), ("celu", 0.5), [0.0], [2.0]),
    "selu": (keras.activations.selu, ("selu",), [0.0], [1.0507009873554805]),
    "softsign": (keras.activations.softsign, ("softsign",), [0.0], [1.0]),
    "prelu": (lambda z: keras.layers.PReLU(alpha_initializer=keras.initializers.Constant(0.25), dtype="float64")(z),
              ("prelu", 0.25), [0.0], [0.0]),
}


def tf_derivative(function, z):
    zt = tf.constant(z, tf.float64)
    with tf.GradientTape() as tape:
        tape.watch(zt)
        y = function(zt)
    return tape.gradient(y, zt).numpy()


def check_kink(name):
    _, args, z, want = KINKS[name]
    z, want = np.array([z]), np.array([want])
    got = vjp(Elementwise(*args), np.ones_like(z), z)[0]
    assert np.array_equal(got, want), f"{name}: reference derivative at the kinks {z[0]} is {got[0]}, TensorFlow's is {want[0]}"


@pytest.mark.parametrize("name", sorted(KINKS))
def test_kink_convention_is_tensorflows(name):
    function, _, z, want = KINKS[name]
    measured = tf_derivative(function, np.array([z]))
    assert np.array_equal(measured, [want]), f"{name}: TensorFlow's derivative at {z} changed: {measured[0]} (pinned {want})"
    check_kink(name)


def test_planted_kink_fault_is_caught(monkeypatch):
    check_kink("hard_sigmoid")
    inclusive = lambda z: np.where((z >= -3.0) & (z <= 3.0), 1.0 / 6.0, 0.0)  # noqa: E731 (the wrong convention)
    monkeypatch.setitem(ELEMENTWISE, "hard_sigmoid", (ELEMENTWISE["hard_sigmoid"][0], inclusive))
    with pytest.raises(AssertionError):
        check_kink("hard_sigmoid")


def test_gelu_uses_tensorflows_float32_constants():
    # tf.nn.gelu casts 1/sqrt(2) and 0.044715 from float32 constants: 4e-9 off in float64.
    z = np.linspace(-4.0, 4.0, 17)
    for approximate in (False, True):
        want = tf.nn.gelu(tf.constant(z, tf.float64), approximate=approximate).numpy()
        got = Elementwise("gelu", approximate=approximate).forward(z)
        assert np.abs(got - want).max() <= 4 * np.finfo(float).eps, f"gelu(approximate={approximate}): {got} vs {want}"


# --- hard_sigmoid and hard_silu are not ReLUs ------------------------------------------------


@pytest.mark.parametrize("name", ["hard_silu", "hard_swish", "hard_sigmoid"])
@given(data=st.data())
def test_hard_activations_keep_their_derivative_under_every_rule(name, data):
    inputs = keras.Input((4,), dtype="float64")
    hidden = L.Dense(5, dtype="float64")(inputs)
    model = keras.Model(inputs, L.Dense(3, dtype="float64")(L.Activation(name, dtype="float64")(hidden)))
    for w in model.weights:
        w.assign(draw_array(data, w.shape, f"weight {w.path}"))
    x = draw_array(data, (2, 4), "x", st.one_of(FLOATS, st.sampled_from([-3.0, 3.0])))
    targets = draw_array(data, (2, 3), "targets")
    maps = {rule: reference.attribution(model, x, targets, rule=rule) for rule in RULE_NAMES}
    for rule in RULE_NAMES:
        assert np.array_equal(maps[rule], maps["gradient"]), f"{name}: rule {rule!r} changed the map: {maps[rule]} vs {maps['gradient']}"


# --- against Keras ---------------------------------------------------------------------------

KERAS_ACTIVATIONS = [
    "hard_sigmoid", "hard_silu", "hard_swish", "swish", "silu", "gelu", "mish", "selu", "softsign", "exponential",
    "log_softmax", "celu", "hard_tanh", "sparse_plus", "squareplus", "tanh_shrink", "soft_shrink", "hard_shrink",
    "log_sigmoid", "sparse_sigmoid",
    functools.partial(keras.activations.gelu, approximate=True),
    functools.partial(keras.activations.celu, alpha=0.5),
    functools.partial(keras.activations.squareplus, b=1.0),
    functools.partial(keras.activations.soft_shrink, threshold=1.0),
    functools.partial(keras.activations.leaky_relu, negative_slope=0.1),
]


@pytest.mark.parametrize("activation", KERAS_ACTIVATIONS, ids=repr)
@given(data=st.data())
def test_activation_against_keras(activation, data):
    inputs = keras.Input((3,), dtype="float64")
    layer = L.Dense(4, activation=activation, dtype="float64")
    model = keras.Model(inputs, L.Dense(2, dtype="float64")(layer(inputs)))
    for w in model.weights:
        # Small weights (exponential stays in range, nothing saturates), plus distinct offsets: with
        # equal kernel columns log_softmax's gradient cancels to roundoff, which no relative
        # tolerance can compare.
        offsets = np.linspace(-0.5, 0.5, int(np.prod(w.shape))).reshape(w.shape)
        w.assign(draw_array(data, w.shape, f"weight {w.path}", st.floats(-1.0, 1.0)) + offsets)
    x = draw_array(data, (2, 3), "x", st.floats(-2.0, 2.0))
    check_against_keras(model, x, draw_array(data, (2, 2), "targets"), f"Dense(activation={activation!r})")


@given(st.data())
def test_prelu_against_keras(data):
    shared = data.draw(st.sampled_from([None, [1], [1, 2]]), label="shared_axes")
    inputs = keras.Input((3, 2, 2), dtype="float64")
    model = keras.Model(inputs, L.PReLU(shared_axes=shared, dtype="float64")(inputs))
    for w in model.weights:
        w.assign(draw_array(data, w.shape, "alpha"))
    x = draw_array(data, (2, 3, 2, 2), "x", st.one_of(FLOATS, st.just(0.0)))
    check_against_keras(model, x, draw_array(data, (2, 3, 2, 2), "targets"), f"PReLU(shared_axes={shared})")


def test_partial_with_unknown_parameter_is_refused():
    inputs = keras.Input((3,), dtype="float64")
    model = keras.Model(inputs, L.Dense(2, activation=functools.partial(keras.activations.relu, max_value=2.0), dtype="float64")(inputs))
    with pytest.raises(NotImplementedError, match="relu"):
        reference.forward(model, np.ones((1, 3)))


@pytest.mark.parametrize("slope, max_value, threshold", [(0.2, 1.0, 0.0), (0.1, None, 0.5), (0.3, 6.0, 0.0),
                                                         (0.2, 2.0, 1.0)])
def test_leaky_relu_with_a_cap_or_a_threshold(slope, max_value, threshold):
    """``ReLU(negative_slope, max_value, threshold)``: Keras's forward, TensorFlow's derivative at the
    boundaries (inputs placed exactly on the threshold and the cap), under every rule (not a ReLU)."""
    layer = keras.layers.ReLU(negative_slope=slope, max_value=max_value, threshold=threshold, dtype="float64")
    model = keras.Sequential([keras.Input((9,), dtype="float64"), layer])
    z = np.array([[-2.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0, 6.0, 7.0]])
    u = np.arange(1.0, 10.0)[None]
    zt = tf.constant(z)
    with tf.GradientTape() as tape:
        tape.watch(zt)
        out = model(zt)
        score = tf.reduce_sum(out * u)
    np.testing.assert_array_equal(reference.forward(model, z), out.numpy())
    grad = tape.gradient(score, zt).numpy()
    for rule in ("gradient", "deconvnet", "guided"):
        np.testing.assert_array_equal(reference.attribution(model, z, u, rule), grad,
                                      err_msg=f"{rule}: ReLU({slope=}, {max_value=}, {threshold=})")
