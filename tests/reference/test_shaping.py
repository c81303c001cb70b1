"""The reference's shaping operations (``refdeconv.reference.shaping``): zero
padding, cropping, nearest upsampling, ``RepeatVector`` and ``Permute``.

Part of the spec covered (DESIGN.md §3, Keras 3.15 conventions):

- every operation's vector-Jacobian product is its adjoint, ``<A x, y> = <x, A^T y>``;
- padding, cropping and upsampling agree with loop specs written here, forward and backward;
- on float64 Keras models (a convolution or dense layer first) the forward pass
  equals Keras's and ``rule="gradient"`` equals ``tf.GradientTape``, for every
  form of the padding/cropping argument;
- unsupported settings (bilinear upsampling, ``channels_first``) are refused;
- a planted fault (cropping's adjoint padding the wrong side) is caught.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from refdeconv import reference
from refdeconv.reference import shaping
from tests.reference.layer_checks import check_against_keras
from tests.reference.test_ops import FLOATS, INTEGERS, assert_adjoint, draw_array, vjp

L = keras.layers
F64 = {"dtype": "float64"}


def draw_pairs(data, rank, label, high=2):
    return [data.draw(st.tuples(st.integers(0, high), st.integers(0, high)), label=f"{label} axis {k + 1}") for k in range(rank)]


def draw_x(data, rank, low=1, label="x"):
    shape = data.draw(st.tuples(st.integers(1, 2), *[st.integers(low, 5)] * rank, st.integers(1, 2)), label=f"{label} shape")
    return draw_array(data, shape, label)


# --- loop specs ----------------------------------------------------------------------


def pad_naive(x, pads):
    """Zero padding by loops over every output position (2-D grid, ``x`` is ``(N, H, W, C)``)."""
    (t, b), (l, r) = pads
    n, h, w, c = x.shape
    y = np.zeros((n, h + t + b, w + l + r, c))
    for i in range(h + t + b):
        for j in range(w + l + r):
            if t <= i < t + h and l <= j < l + w:
                y[:, i, j] = x[:, i - t, j - l]
    return y


def crop_naive(x, crops):
    """Cropping by loops: output (i, j) reads input (i + top, j + left)."""
    (t, b), (l, r) = crops
    n, h, w, c = x.shape
    y = np.zeros((n, h - t - b, w - l - r, c))
    for i in range(h - t - b):
        for j in range(w - l - r):
            y[:, i, j] = x[:, i + t, j + l]
    return y


def upsample_naive(x, size, u):
    """Nearest upsampling by loops: output (i, j) reads (i // sh, j // sw); its adjoint accumulates."""
    n, h, w, c = x.shape
    y = np.zeros((n, h * size[0], w * size[1], c))
    g = np.zeros_like(x)
    for i in range(h * size[0]):
        for j in range(w * size[1]):
            y[:, i, j] = x[:, i // size[0], j // size[1]]
            g[:, i // size[0], j // size[1]] += u[:, i, j]
    return y, g


@given(st.data())
def test_pad_and_crop_match_loops(data):
    x = draw_x(data, 2, low=5)
    pads = draw_pairs(data, 2, "padding")
    crops = draw_pairs(data, 2, "cropping")
    for op, want, name in [(shaping.Pad(pads), pad_naive(x, pads), "Pad"), (shaping.Crop(crops), crop_naive(x, crops), "Crop")]:
        y = op.forward(x)
        assert np.array_equal(y, want), f"{name}({op.pads}) forward != loop spec on x of shape {x.shape}"
        u = draw_array(data, y.shape, f"u for {name}", INTEGERS)
        inverse = crop_naive if name == "Pad" else pad_naive
        assert np.array_equal(vjp(op, u, x)[0], inverse(u, op.pads)), f"{name}({op.pads}) vjp != loop spec"


@given(st.data())
def test_upsampling_matches_loops(data):
    x = draw_x(data, 2)
    size = data.draw(st.tuples(st.integers(1, 3), st.integers(1, 3)), label="size")
    op = shaping.Repeat(size)
    u = draw_array(data, (x.shape[0], x.shape[1] * size[0], x.shape[2] * size[1], x.shape[3]), "u", INTEGERS)
    want_y, want_g = upsample_naive(x, size, u)
    assert np.array_equal(op.forward(x), want_y), f"Repeat({size}) forward != loop spec, x shape {x.shape}"
    assert np.array_equal(vjp(op, u, x)[0], want_g), f"Repeat({size}) vjp != loop spec, x shape {x.shape}"


# --- adjoint identities ----------------------------------------------------------------


@given(st.data())
def test_shaping_adjoint_identities(data):
    rank = data.draw(st.sampled_from([1, 2]), label="spatial rank")
    x = draw_x(data, rank, low=4)
    dims = data.draw(st.permutations(range(1, x.ndim)), label="permutation")
    ops = {
        "Pad": shaping.Pad(draw_pairs(data, rank, "padding")),
        "Crop": shaping.Crop(draw_pairs(data, rank, "cropping", high=1)),
        "Repeat": shaping.Repeat(data.draw(st.tuples(*[st.integers(1, 3)] * rank), label="repeats")),
        "Permute": shaping.Permute(dims),
    }
    for name, op in ops.items():
        ax = op.forward(x)
        y = draw_array(data, ax.shape, f"y for {name}")
        (g,) = vjp(op, y, x)
        assert g.shape == x.shape, f"{name} vjp: shape {g.shape} != input shape {x.shape}"
        scale = float(np.vdot(op.forward(np.abs(x)), np.abs(y)))  # entries copied, never combined with weights
        assert_adjoint(name, ax, y, [x], [g], scale, f"x shape {x.shape}")


# --- against Keras -----------------------------------------------------------------------

PADDING_FORMS = {  # Keras argument -> ((top, bottom), (left, right))
    1: ((1, 1), (1, 1)),
    (2, 1): ((2, 2), (1, 1)),
    ((0, 2), (1, 0)): ((0, 2), (1, 0)),
}


def model_of(input_shape, layers):
    inputs = keras.Input(input_shape, **F64)
    x = inputs
    for layer in layers:
        x = layer(x)
    return keras.Model(inputs, x)


def run_keras_case(data, layers, input_shape, context):
    model = model_of(input_shape, layers)
    x = draw_array(data, (2, *input_shape), "x")
    targets = draw_array(data, (2, model.outputs[0].shape[-1]), "targets")
    check_against_keras(model, x, targets, context)


@pytest.mark.parametrize("form", list(PADDING_FORMS), ids=str)
@given(data=st.data())
def test_2d_shaping_against_keras(form, data):
    size = data.draw(st.sampled_from([1, 2, (1, 2), (3, 1)]), label="upsampling size")
    crop = data.draw(st.sampled_from([0, 1, (1, 0), ((0, 1), (2, 0))]), label="cropping")
    layers = [L.Conv2D(2, 2, **F64), L.ZeroPadding2D(form, **F64), L.UpSampling2D(size, **F64),
              L.Cropping2D(crop, **F64), L.Flatten(**F64), L.Dense(3, **F64)]
    run_keras_case(data, layers, (4, 3, 2), f"Conv2D > ZeroPadding2D({form}) > UpSampling2D({size}) > Cropping2D({crop})")


@given(st.data())
def test_1d_repeat_and_permute_against_keras(data):
    pad = data.draw(st.sampled_from([1, (0, 2), (2, 1)]), label="padding")
    crop = data.draw(st.sampled_from([1, (0, 2), (1, 0)]), label="cropping")
    size = data.draw(st.integers(1, 3), label="upsampling size")
    n = data.draw(st.integers(1, 3), label="RepeatVector n")
    dims = data.draw(st.permutations([1, 2]), label="Permute dims")
    layers = [L.Conv1D(3, 2, **F64), L.ZeroPadding1D(pad, **F64), L.Cropping1D(crop, **F64),
              L.UpSampling1D(size, **F64), L.Permute(dims, **F64), L.Flatten(**F64), L.Dense(2, **F64),
              L.RepeatVector(n, **F64), L.Permute((2, 1), **F64), L.Flatten(**F64), L.Dense(3, **F64)]
    context = f"Conv1D > ZeroPadding1D({pad}) > Cropping1D({crop}) > UpSampling1D({size}) > Permute({dims}) > RepeatVector({n})"
    run_keras_case(data, layers, (6, 2), context)


@pytest.mark.parametrize("layer", [
    lambda: L.UpSampling2D(2, interpolation="bilinear", **F64),
    lambda: L.ZeroPadding2D(1, data_format="channels_first", **F64),
    lambda: L.Cropping2D(1, data_format="channels_first", **F64),
], ids=["bilinear", "padding channels_first", "cropping channels_first"])
def test_unsupported_settings_are_refused(layer):
    model = model_of((4, 4, 4), [layer()])
    with pytest.raises(NotImplementedError, match="not supported"):
        reference.forward(model, np.zeros((1, 4, 4, 4)))


# --- planted fault ---------------------------------------------------------------------------


def _crop_fixed_case():
    """An asymmetric crop after a convolution: a wrong side is visible in the map."""
    keras.utils.set_random_seed(0)
    model = model_of((5, 5, 1), [L.Conv2D(2, 2, **F64), L.Cropping2D(((0, 2), (1, 0)), **F64), L.Flatten(**F64), L.Dense(2, **F64)])
    x = np.random.default_rng(0).normal(size=(2, 5, 5, 1))
    return model, x, np.eye(2)


def test_planted_crop_adjoint_on_the_wrong_side_is_caught(monkeypatch):
    model, x, targets = _crop_fixed_case()
    check_against_keras(model, x, targets, "control: Cropping2D(((0, 2), (1, 0)))")
    wrong = lambda self, u, inputs, output, rule: (shaping._pad(u, [p[::-1] for p in self.pads]),)  # noqa: E731
    monkeypatch.setattr(shaping.Crop, "vjp", wrong)
    with pytest.raises(AssertionError, match="GradientTape"):
        check_against_keras(model, x, targets, "planted: crop adjoint pads the wrong side")
