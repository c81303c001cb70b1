"""The reference's normalisations and rescalings (``refdeconv.reference.normalization``):
``LayerNormalization`` (any axes, center/scale, epsilon, ``rms_scaling``),
``GroupNormalization``, ``Normalization`` (given or adapted statistics,
``invert``), ``Rescaling``, ConvNeXt's ``LayerScale`` and ``StochasticDepth``.

Part of the spec covered (Keras 3.15 conventions, see the module's docstring):

- :class:`~refdeconv.reference.normalization.Standardize` (layer and group
  normalisation, centred or not) has the vector-Jacobian product of central
  finite differences;
- grouped standardisation agrees with a loop spec over samples and groups;
- on float64 Keras models (a dense or convolution layer first) the forward pass
  equals Keras's and ``rule="gradient"`` equals ``tf.GradientTape``;
- a planted fault (the VJP with the mean held constant, no ``-mean(u)`` term) is caught.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from keras.src.applications.convnext import LayerScale, StochasticDepth

from refdeconv import reference
from refdeconv.reference import normalization
from refdeconv.testing import assert_maps_close
from tests.reference.layer_checks import assert_vjp_finite_differences, check_against_keras
from tests.reference.test_ops import draw_array

L = keras.layers
F64 = {"dtype": "float64"}
SMOOTH = st.floats(-4.0, 4.0, allow_nan=False, allow_subnormal=False)


@given(st.data())
def test_standardize_vjp_finite_differences(data):
    shape = data.draw(st.tuples(st.integers(1, 2), st.integers(1, 3), st.integers(2, 4)), label="x shape")
    grouped = data.draw(st.booleans(), label="grouped")
    if grouped:
        groups = data.draw(st.sampled_from([g for g in (1, 2, 4) if shape[-1] % g == 0]), label="groups")
        op, name = normalization.Standardize(None, 1e-3, groups=groups), f"Standardize(groups={groups})"
    else:
        axes = data.draw(st.sampled_from([(1,), (2,), (1, 2)]), label="axes")
        centred = data.draw(st.booleans(), label="centred")
        op, name = normalization.Standardize(axes, 1e-3, centred=centred), f"Standardize({axes}, centred={centred})"
    x = draw_array(data, shape, "x", SMOOTH)
    u = draw_array(data, shape, "u")
    assert_vjp_finite_differences(op, [x], u, name)


def group_norm_naive(x, groups, epsilon):
    """Group normalisation by loops over samples and groups (channels last, contiguous groups)."""
    y = np.zeros_like(x)
    size = x.shape[-1] // groups
    for n in range(x.shape[0]):
        for g in range(groups):
            block = x[n, ..., g * size : (g + 1) * size]
            y[n, ..., g * size : (g + 1) * size] = (block - block.mean()) / np.sqrt(block.var() + epsilon)
    return y


@given(st.data())
def test_group_standardize_matches_loops(data):
    groups = data.draw(st.sampled_from([1, 2, 3]), label="groups")
    shape = data.draw(st.tuples(st.integers(1, 2), st.integers(1, 3), st.integers(1, 3)), label="leading shape")
    x = draw_array(data, (*shape, groups * data.draw(st.integers(1, 3), label="channels per group")), "x")
    got = normalization.Standardize(None, 1e-3, groups=groups).forward(x)
    assert_maps_close(got, group_norm_naive(x, groups, 1e-3), "float64", f"grouped standardisation, groups={groups}, x shape {x.shape}")


def run(data, layer, input_shape, context):
    keras.utils.set_random_seed(data.draw(st.integers(0, 2**16), label="seed"))
    inputs = keras.Input(input_shape, **F64)
    first = L.Conv2D(input_shape[-1], 2, padding="same", **F64)
    h = layer(first(inputs))
    model = keras.Model(inputs, L.Dense(3, **F64)(L.Flatten(**F64)(h)))
    for w in layer.weights:  # non-trivial gamma/beta
        w.assign(np.random.default_rng(1).normal(size=w.shape))
    x = draw_array(data, (2, *input_shape), "x")
    targets = draw_array(data, (2, 3), "targets")
    check_against_keras(model, x, targets, context)


@pytest.mark.filterwarnings("ignore:You passed `rms_scaling=True`:UserWarning")
@given(st.data())
def test_layer_normalization_against_keras(data):
    axis = data.draw(st.sampled_from([-1, 1, 2, [1, 2], [1, 3], [1, 2, 3]]), label="axis")
    kwargs = {
        "center": data.draw(st.booleans(), label="center"),
        "scale": data.draw(st.booleans(), label="scale"),
        "epsilon": data.draw(st.sampled_from([1e-3, 1e-6, 0.5]), label="epsilon"),
    }
    if data.draw(st.booleans(), label="rms_scaling"):
        kwargs["rms_scaling"] = True
    layer = L.LayerNormalization(axis=axis, **kwargs, **F64)
    # Every normalised axis holds >= 3 entries: normalised over 2 entries, a value is the sign of
    # their difference, whose derivative vanishes with epsilon (a map of ~1e-6 made of O(1) terms
    # that cancel), leaving only roundoff to compare.
    run(data, layer, (3, 3, 4), f"LayerNormalization(axis={axis}, {kwargs})")


@given(st.data())
def test_group_normalization_against_keras(data):
    groups = data.draw(st.sampled_from([1, 2, 4, -1]), label="groups")
    center, scale = data.draw(st.booleans(), label="center"), data.draw(st.booleans(), label="scale")
    layer = L.GroupNormalization(groups=groups, center=center, scale=scale, epsilon=1e-3, **F64)
    run(data, layer, (3, 2, 4), f"GroupNormalization(groups={groups}, center={center}, scale={scale})")


@given(st.data())
def test_normalization_and_rescaling_against_keras(data):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16), label="statistics seed"))
    kind = data.draw(st.sampled_from(["given", "adapted", "scalar", "rescaling", "rescaling per channel"]), label="kind")
    invert = data.draw(st.booleans(), label="invert")
    axis = data.draw(st.sampled_from([-1, (1, 3), None]), label="axis")
    if kind == "given":
        shape = {-1: (3,), (1, 3): (3, 3), None: ()}[axis]
        mean, var = rng.normal(size=shape), rng.uniform(0.0, 2.0, size=shape) * (rng.random(shape) > 0.2)  # var 0: epsilon
        layer = L.Normalization(axis=axis, mean=mean, variance=var, invert=invert, **F64)
    elif kind == "adapted":
        layer = L.Normalization(axis=axis, invert=invert, **F64)
        layer.adapt(rng.normal(2.0, 3.0, size=(8, 3, 2, 3)))
    elif kind == "scalar":
        layer = L.Normalization(axis=None, mean=1.5, variance=4.0, invert=invert, **F64)
    else:
        # A Python float, a list and NumPy values: the first two are cast through float32.
        scale = rng.normal(size=3) if kind.endswith("channel") else 1 / 255
        scale = scale.tolist() if kind.endswith("channel") and invert else scale
        layer = L.Rescaling(scale, offset=float(rng.normal()) if invert else rng.normal(), **F64)
    run(data, layer, (3, 2, 3), f"{kind} {layer.name} (axis={axis}, invert={invert})")


@given(st.data())
def test_convnext_layers_against_keras(data):
    which = data.draw(st.sampled_from(["LayerScale", "StochasticDepth"]), label="layer")
    layer = LayerScale(1e-6, 3, **F64) if which == "LayerScale" else StochasticDepth(0.3, **F64)
    run(data, layer, (3, 2, 3), which)


@pytest.mark.parametrize("axis", [1, 2])
def test_group_normalization_off_the_last_axis_is_refused(axis):
    inputs = keras.Input((2, 2, 4), **F64)
    model = keras.Model(inputs, L.GroupNormalization(groups=2, axis=axis, **F64)(inputs))
    with pytest.raises(NotImplementedError, match="only the last axis"):
        reference.forward(model, np.zeros((1, 2, 2, 4)))


def test_planted_standardize_fault_is_caught(monkeypatch):
    inputs = keras.Input((4,), **F64)
    keras.utils.set_random_seed(0)
    model = keras.Model(inputs, L.Dense(2, **F64)(L.LayerNormalization(**F64)(L.Dense(4, **F64)(inputs))))
    x, targets = np.random.default_rng(0).normal(size=(3, 4)), np.eye(2)[[0, 1, 1]]
    check_against_keras(model, x, targets, "control: LayerNormalization")

    def mean_held_constant(self, u, inputs, output, rule):
        """The classic slip: the VJP as if the mean did not depend on x (no -mean(u) term)."""
        g, axes, mean, r = self._statistics(inputs[0])
        n = g.size // mean.size
        return (r * u - r**3 * (g - mean) / n * (u * (g - mean)).sum(axis=axes, keepdims=True),)

    monkeypatch.setattr(normalization.Standardize, "vjp", mean_held_constant)
    with pytest.raises(AssertionError, match="GradientTape"):
        check_against_keras(model, x, targets, "planted: LayerNormalization VJP with the mean held constant")
