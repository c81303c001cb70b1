"""The reference's element-wise merges (``refdeconv.reference.merging``):
``Multiply``, ``Subtract``, ``Average``, ``Maximum``, ``Minimum`` and
InceptionResNetV2's ``CustomScaleLayer``.

Part of the spec covered (DESIGN.md §3, Keras 3.15 / TF 2.21 conventions):

- the weighted sums (``Subtract``, ``Average``, ``CustomScaleLayer``) satisfy the
  adjoint identity, with Keras's broadcasting (unit axes inserted at axis 1);
- ``Multiply`` and ``Maximum``/``Minimum`` (away from ties) have the
  vector-Jacobian product of central finite differences;
- ties of ``Maximum``/``Minimum`` send the whole signal to the first tied input,
  as TensorFlow does (integer-valued inputs built to tie, against the table
  measured on TF 2.21 and against ``tf.GradientTape`` on a Keras model);
- on float64 Keras models the forward pass equals Keras's and ``rule="gradient"``
  equals ``tf.GradientTape``, broadcasting included;
- a planted fault (ties sent to the last input) is caught.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import assume, given
from hypothesis import strategies as st
from keras.src.applications.inception_resnet_v2 import CustomScaleLayer

from refdeconv import reference
from refdeconv.reference import merging
from refdeconv.testing import assert_maps_close
from tests.tf_rules import score_gradient
from tests.reference.layer_checks import assert_vjp_finite_differences, check_against_keras
from tests.reference.test_ops import INTEGERS, assert_adjoint, draw_array, vjp

L = keras.layers
F64 = {"dtype": "float64"}


def draw_inputs(data, count, same_rank=False):
    """``count`` inputs of a common broadcast shape ``(N, A, B)``, some with unit or missing axes."""
    n, a, b = data.draw(st.tuples(st.integers(1, 2), st.integers(1, 3), st.integers(1, 3)), label="full shape")
    forms = [(n, a, b), (n, 1, b), (n, a, 1)] + ([] if same_rank else [(n, b)])
    shapes = [data.draw(st.sampled_from(forms), label=f"x{i} shape") for i in range(count)]
    shapes[0] = (n, a, b)
    return [draw_array(data, s, f"x{i}") for i, s in enumerate(shapes)]


@given(st.data())
def test_weighted_sum_adjoint_identity(data):
    count = data.draw(st.integers(2, 3), label="number of inputs")
    xs = draw_inputs(data, count)
    weights = data.draw(st.lists(st.sampled_from([1.0, -1.0, 0.5, 0.17]), min_size=count, max_size=count), label="weights")
    op = merging.WeightedSum(weights)
    ax = op.forward(*xs)
    y = draw_array(data, ax.shape, "y")
    gs = vjp(op, y, *xs)
    assert [g.shape for g in gs] == [x.shape for x in xs], f"WeightedSum vjp shapes {[g.shape for g in gs]}"
    scale = float(np.vdot(merging.WeightedSum(np.abs(weights)).forward(*map(np.abs, xs)), np.abs(y)))
    assert_adjoint(f"WeightedSum({weights})", ax, y, xs, gs, scale, f"shapes {[x.shape for x in xs]}")


@given(st.data())
def test_multiply_vjp_finite_differences(data):
    xs = draw_inputs(data, data.draw(st.integers(1, 3), label="number of inputs"))
    u = draw_array(data, merging.Multiply().forward(*xs).shape, "u")
    assert_vjp_finite_differences(merging.Multiply(), xs, u, f"Multiply of {[x.shape for x in xs]}")


@pytest.mark.parametrize("largest", [True, False])
@given(data=st.data())
def test_extremum_vjp_finite_differences_away_from_ties(largest, data):
    xs = draw_inputs(data, data.draw(st.integers(2, 3), label="number of inputs"))
    stack = np.sort(np.stack(np.broadcast_arrays(*merging.aligned(xs))), axis=0)
    assume(np.diff(stack, axis=0).min() > 0.1)  # every element's winner is clear beyond the stencil
    op = merging.Extremum(largest)
    u = draw_array(data, op.forward(*xs).shape, "u")
    assert_vjp_finite_differences(op, xs, u, f"Extremum(largest={largest}) of {[x.shape for x in xs]}")


def test_ties_follow_the_measured_tensorflow_table():
    # Measured on TF 2.21 / Keras 3.15: Maximum of these three inputs with u = [1, 10, 100, 1000]
    # gives input 0: [1, 10, 0, 1000], input 1: [0, 0, 100, 0], input 2: zeros; Minimum of
    # the negated inputs the same.
    xs = [np.array([[1.0, 2.0, 2.0, 3.0]]), np.array([[1.0, 2.0, 3.0, 3.0]]), np.array([[1.0, 0.0, 3.0, 3.0]])]
    u = np.array([[1.0, 10.0, 100.0, 1000.0]])
    want = [[1.0, 10.0, 0.0, 1000.0], [0.0, 0.0, 100.0, 0.0], [0.0, 0.0, 0.0, 0.0]]
    for largest, inputs in [(True, xs), (False, [-x for x in xs])]:
        got = vjp(merging.Extremum(largest), u, *inputs)
        assert [g[0].tolist() for g in got] == want, f"Extremum(largest={largest}) ties: {[g.tolist() for g in got]} vs {want}"


def tie_model(kind, seed):
    """Three integer-weighted Dense branches of one input merged by ``kind``: ties are common."""
    rng = np.random.default_rng(seed)
    inputs = keras.Input((3,), **F64)
    branches = []
    for _ in range(3):
        dense = L.Dense(4, use_bias=False, **F64)
        branches.append(dense(inputs))
        dense.kernel.assign(rng.integers(-1, 2, size=(3, 4)).astype(np.float64))
    return keras.Model(inputs, kind(**F64)(branches))


@pytest.mark.parametrize("kind", [L.Maximum, L.Minimum], ids=["Maximum", "Minimum"])
@given(data=st.data())
def test_ties_against_gradient_tape(kind, data):
    model = tie_model(kind, data.draw(st.integers(0, 2**16), label="weight seed"))
    x = draw_array(data, (2, 3), "x (integer)", INTEGERS)
    targets = draw_array(data, (2, 4), "targets (integer)", INTEGERS)
    check_against_keras(model, x, targets, f"{kind.__name__} of integer Dense branches (ties), x = {x.tolist()}")


MERGES = {
    "Multiply": L.Multiply, "Subtract": L.Subtract, "Average": L.Average,
    "Maximum": L.Maximum, "Minimum": L.Minimum, "CustomScaleLayer": lambda **kw: CustomScaleLayer(0.17, **kw),
}


@pytest.mark.parametrize("name", sorted(MERGES))
@given(data=st.data())
def test_merges_against_keras(name, data):
    two_only = name in ("Subtract", "CustomScaleLayer")
    count = 2 if two_only else data.draw(st.integers(2, 3), label="number of inputs")
    # CustomScaleLayer is plain `inputs[0] + inputs[1] * scale`, not a Keras Merge: it broadcasts
    # only what TensorFlow's `+` broadcasts (no unit axes inserted), so it gets equal shapes.
    forms = ["none"] if name == "CustomScaleLayer" else ["none", "keepdims", "lower rank"]
    broadcast = data.draw(st.sampled_from(forms), label="broadcast of the last input")
    keras.utils.set_random_seed(data.draw(st.integers(0, 2**16), label="seed"))
    inputs = keras.Input((3, 3, 2), **F64)
    branches = [L.Conv2D(2, 2, padding="same", **F64)(inputs) for _ in range(count)]
    if broadcast != "none":
        branches[-1] = L.GlobalAveragePooling2D(keepdims=broadcast == "keepdims", **F64)(branches[-1])
    merged = MERGES[name](**F64)(branches)
    model = keras.Model(inputs, L.Dense(3, **F64)(L.Flatten(**F64)(merged)))
    x = draw_array(data, (2, 3, 3, 2), "x")
    targets = draw_array(data, (2, 3), "targets")
    check_against_keras(model, x, targets, f"{name} of {count} Conv2D branches, broadcast {broadcast!r}")


def _last_winner(self, u, inputs, output, rule):
    """A wrong tie rule: the last tied input wins."""
    stack = np.flip(np.stack(np.broadcast_arrays(*merging.aligned(inputs))), axis=0)
    winner = len(inputs) - 1 - (stack.argmax(axis=0) if self.largest else stack.argmin(axis=0))
    return tuple(merging.unbroadcast(u * (winner == i), x.shape) for i, x in enumerate(inputs))


def test_planted_tie_fault_is_caught(monkeypatch):
    model = tie_model(L.Maximum, 0)
    x = np.array([[1.0, -1.0, 2.0], [0.0, 0.0, 0.0], [1.0, 1.0, 1.0], [2.0, -2.0, 0.0]])
    targets = np.ones((4, 4))
    check_against_keras(model, x, targets, "control: Maximum with ties")
    monkeypatch.setattr(merging.Extremum, "vjp", _last_winner)
    with pytest.raises(AssertionError, match="GradientTape"):
        check_against_keras(model, x, targets, "planted: Maximum ties to the last input")


@pytest.mark.parametrize("expression", ["x + 3", "3 - x", "x - 3", "x * (1 / 6)", "x / 6", "x + y", "x - y", "x * y",
                                        "-x", "x * np.float32(3)", "x - np.float64(2)", "x / np.float64(4)",
                                        "tf.constant([1., 2., 3., 4.], 'float64') - x", "x + np.arange(4.)"])
def test_keras_ops_arithmetic_on_symbolic_tensors(expression):
    """``x + 3.0`` and friends in a Functional graph are keras.ops nodes, not layers (MobileNetV3's
    hard sigmoid, ConvNeXt's residuals): forward first, then the gradient against GradientTape."""
    keras.utils.set_random_seed(0)
    inp = keras.Input((5,), dtype="float64")
    x = keras.layers.Dense(4, dtype="float64")(inp)
    y = keras.layers.Dense(4, dtype="float64")(inp)
    z = eval(expression, {"np": np, "tf": tf}, {"x": x, "y": y})  # noqa: S307 - a fixed list of expressions
    model = keras.Model(inp, keras.layers.Dense(3, dtype="float64")(keras.layers.ReLU(dtype="float64")(z)))
    xs = np.random.default_rng(1).normal(size=(3, 5))
    targets = np.eye(3)
    out, grad = score_gradient(model, xs, targets)
    assert_maps_close(out, reference.forward(model, xs), "float64", f"forward of {expression}")
    assert_maps_close(grad, reference.attribution(model, xs, targets, "gradient"), "float64", expression)


def test_keras_ops_tensors_of_different_ranks_are_refused():
    """keras.ops broadcasts trailing axes (NumPy), Keras's merge layers after the batch axis: refused."""
    inp = keras.Input((4,), dtype="float64")
    a = keras.layers.Reshape((1, 3), dtype="float64")(keras.layers.Dense(3, dtype="float64")(inp))
    b = keras.layers.Dense(3, dtype="float64")(inp)
    model = keras.Model(inp, keras.layers.GlobalAveragePooling1D(dtype="float64")(a * b))
    with pytest.raises(NotImplementedError, match="tensors of different ranks"):
        reference.forward(model, np.ones((2, 4)))


def test_keras_ops_a_constant_over_a_tensor_is_refused():
    inp = keras.Input((5,), dtype="float64")
    model = keras.Model(inp, 1.0 / keras.layers.Dense(4, dtype="float64")(inp))
    with pytest.raises(NotImplementedError, match="true_divide|divide.*constant divided by a tensor"):
        reference.attribution(model, np.ones((1, 5)), np.ones((1, 4)))
