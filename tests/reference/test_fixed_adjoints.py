"""Batch normalisation's adjoint on fixed cases written out by hand, in both implementations.

Covers issue 24, item 4 (the batch-normalisation adjoint, caught before only when a Hypothesis
draw hit it): at inference ``BatchNormalization`` is ``y = scale (h - mean) + beta`` with
``scale = gamma / sqrt(var + epsilon)`` per channel of its ``axis``, so with no ReLU every rule's
map is the linear ``K1 (scale * K2[:, target])``. The cases pick ``var + epsilon`` perfect squares
so the scales are small integers (or 1/2, 1/3), and write out the forward output and the maps:

- ``Dense -> BatchNormalization -> Dense`` (non-trivial gamma, beta, moving mean and variance,
  epsilon), also with ``center=False`` and with ``scale=False``;
- ``Conv2D(1x1) -> BatchNormalization(axis=1) -> Flatten -> Dense``: one scale per row.

The forward output (Keras's and the reference's), ``refdeconv.reference.attribution`` under each
rule and the TensorFlow explainer's DeconvNet and gradient maps must match them within the float64
tolerance (TensorFlow's ``rsqrt`` need not be exact). Meta-tests plant faults in a copy of the
reference's adjoint (the forward left intact): without gamma, ``var`` in place of
``sqrt(var + epsilon)``; the check must fail, and pass without them.
"""

import warnings

import keras
import numpy as np
import pytest

from refdeconv import DeconvNet, Gradient, reference
from refdeconv.reference import layers
from refdeconv.testing import assert_maps_close

L = keras.layers
F64 = {"dtype": "float64"}
RULES = ("gradient", "deconvnet", "guided")
EXPLAINERS = {"gradient": Gradient, "deconvnet": DeconvNet}
X_DENSE, TARGETS = [[1.0, 2.0], [3.0, -1.0]], [0, 1]
X_CONV = np.reshape([[[1.0, 2.0], [0.0, -1.0]], [[-1.0, 0.0], [2.0, 1.0]]], (2, 2, 2, 1))
K1, B1, K2 = [[1.0, 0.0, 2.0], [-1.0, 3.0, 1.0]], [0.0, 1.0, -1.0], [[1.0, -1.0], [2.0, 1.0], [-1.0, 3.0]]
# gamma (4, -3, 6) / sqrt((3.75, 0.75, 8.75) + 0.25) = (4, -3, 6) / (2, 1, 3): scale (2, -3, 2).
BN = {"gamma": [4.0, -3.0, 6.0], "beta": [0.5, 2.0, -1.0], "moving_mean": [1.0, -1.0, 0.5],
      "moving_variance": [3.75, 0.75, 8.75]}
CONV_BN = {"gamma": [3.0, -2.0], "beta": [1.0, 0.0], "moving_mean": [0.5, -1.0], "moving_variance": [0.75, 3.75]}

#: case -> (BatchNormalization arguments, its weights, input, forward output, map).
#: Dense cases: h = x K1 + B1 is (-1, 7, 3) and (4, -2, 4); maps K1 (scale * K2[:, t]).
CASES = {
    # scale * K2[:, 0] = (2, -6, -2) -> map (2 - 4, -2 - 18 - 2); scale * K2[:, 1] = (-2, -3, 6) -> (-2 + 12, 2 - 9 + 6).
    # y = scale (h - mean) + beta = (-3.5, -22, 4) and (6.5, 5, 6); output y K2.
    "Dense -> BatchNormalization -> Dense": (
        {}, BN, X_DENSE, [[-51.5, -6.5], [10.5, 16.5]], [[-2.0, -22.0], [10.0, -1.0]]),
    # beta dropped: y = (-4, -24, 5) and (6, 3, 7); the map does not read beta.
    "center=False": (
        {"center": False}, {k: v for k, v in BN.items() if k != "beta"}, X_DENSE,
        [[-57.0, -5.0], [5.0, 18.0]], [[-2.0, -22.0], [10.0, -1.0]]),
    # gamma dropped: scale (1/2, 1, 1/3); scale * K2[:, 0] = (1/2, 2, -1/3), scale * K2[:, 1] = (-1/2, 1, 1);
    # y = (-1/2, 10, -1/6) and (2, 1, 1/6).
    "scale=False": (
        {"scale": False}, {k: v for k, v in BN.items() if k != "gamma"}, X_DENSE,
        [[118 / 6, 10.0], [23 / 6, -0.5]], [[-1 / 6, 31 / 6], [1.5, 4.5]]),
    # c = 2 x + 1 per pixel; scale per row h: (3, -2) / (1, 2) = (3, -1); map[h, w] = 2 scale[h] K2[(h, w), t]
    # with K2 = ((1, 0), (-2, 1), (3, -1), (1, 2)); y rows: 3 (c - 1/2) + 1 and -(c + 1).
    "Conv2D -> BatchNormalization(axis=1)": (
        {"axis": 1}, CONV_BN, X_CONV, [[-26.5, 16.5], [-30.5, 0.5]],
        [[[6.0, -12.0], [-6.0, -2.0]], [[0.0, 6.0], [2.0, -4.0]]]),
}


def batch_norm_model(case: str):
    """The case's model, weights set, epsilon 0.25."""
    kwargs, weights, _, _, _ = CASES[case]
    norm = L.BatchNormalization(epsilon=0.25, **kwargs, **F64)
    if "axis" in kwargs:
        inputs = keras.Input((2, 2, 1), **F64)
        first, last = L.Conv2D(1, 1, **F64), L.Dense(2, use_bias=False, **F64)
        model = keras.Model(inputs, last(L.Flatten(**F64)(norm(first(inputs)))))
        first.set_weights([np.full((1, 1, 1, 1), 2.0), np.ones(1)])
        last.set_weights([np.array([[1.0, 0.0], [-2.0, 1.0], [3.0, -1.0], [1.0, 2.0]])])
    else:
        inputs = keras.Input((2,), **F64)
        first, last = L.Dense(3, **F64), L.Dense(2, use_bias=False, **F64)
        model = keras.Model(inputs, last(norm(first(inputs))))
        first.set_weights([np.array(K1), np.array(B1)])
        last.set_weights([np.array(K2)])
    for name, value in weights.items():
        getattr(norm, name).assign(np.array(value))
    return model


def check_batch_norm(case: str, tf_rules=tuple(EXPLAINERS)) -> None:
    """The forward output, then the TensorFlow maps of ``tf_rules`` and every rule's reference map."""
    _, _, x, forward, expected = CASES[case]
    model, x, expected = batch_norm_model(case), np.array(x), np.reshape(expected, np.shape(x))
    assert_maps_close(model(x).numpy(), np.array(forward), "float64", f"{case}: Keras forward")
    assert_maps_close(reference.forward(model, x), np.array(forward), "float64", f"{case}: reference forward")
    for rule in tf_rules:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # DeconvNet warns that no ReLU is there: not under test
            got = EXPLAINERS[rule](model).explain(x, np.array(TARGETS)).numpy()
        assert_maps_close(got, expected, "float64", f"{case}, {rule}, TensorFlow")
    for rule in RULES:
        assert_maps_close(reference.attribution(model, x, np.array(TARGETS), rule), expected, "float64",
                          f"{case}, {rule}, reference")


@pytest.mark.parametrize("case", CASES)
def test_batch_normalisation_maps_scale_by_gamma_over_the_root_of_var_plus_epsilon(case):
    check_batch_norm(case)


def _adjoint_with(scale_of):
    """The reference's ``BatchNormalization`` translation, its forward intact, its adjoint ``u * scale_of(...)``."""

    def translate(layer, input_shapes):
        (op,) = layers._batch_norm(layer, input_shapes)
        gamma = layer.gamma.numpy() if layer.scale else 1.0
        wrong = np.reshape(scale_of(gamma, layer.moving_variance.numpy(), layer.epsilon), op.scale.shape)
        op.vjp = lambda u, inputs, output, rule: (u * wrong,)
        return [op]

    return translate


ADJOINT_FAULTS = {
    "without gamma": lambda gamma, var, eps: 1.0 / np.sqrt(var + eps),
    "var in place of sqrt(var + epsilon)": lambda gamma, var, eps: gamma / var,
}


@pytest.mark.parametrize("fault", ADJOINT_FAULTS)
def test_a_planted_batch_norm_adjoint_fault_fails_the_fixed_case(fault, monkeypatch):
    monkeypatch.setitem(layers.TRANSLATIONS, L.BatchNormalization, _adjoint_with(ADJOINT_FAULTS[fault]))
    with pytest.raises(AssertionError, match=r", (gradient|deconvnet|guided), reference:"):  # a map, not the forward
        check_batch_norm("Dense -> BatchNormalization -> Dense", tf_rules=())


def test_control_the_same_translation_with_the_true_adjoint_passes(monkeypatch):
    true = lambda gamma, var, eps: gamma / np.sqrt(var + eps)  # noqa: E731 - one line, as the faults
    monkeypatch.setitem(layers.TRANSLATIONS, L.BatchNormalization, _adjoint_with(true))
    for case in CASES:
        check_batch_norm(case, tf_rules=())
