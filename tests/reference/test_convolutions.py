"""The convolution variants of the reference: grouped and causal ``Conv1D/2D/3D``,
``DepthwiseConv1D/2D``, ``SeparableConv1D/2D``, ``Conv1DTranspose/2DTranspose/3DTranspose``.

Part of the spec covered (DESIGN.md §1, §3; proposition 2):

- every variant's vector-Jacobian product is its adjoint, ``<A x, y> = <x, A^T y>``;
- forward and vjp equal the loop spec of :mod:`tests.naive_conv` (groups, causal padding,
  depthwise channel order, separable, transposed strides / padding / output extent), in 1-D
  and 2-D; 3-D convolutions (``Conv3D`` with groups, ``Conv3DTranspose``) are held to the
  adjoint identity and to Keras;
- on float64 Keras models, the forward pass equals Keras's and ``rule="gradient"`` equals
  ``tf.GradientTape`` (Keras's output-extent rule for transposed convolutions included);
- planted faults (a transposed convolution whose kernel is not flipped or whose "same" padding
  is split on the wrong side, a grouped convolution whose groups read each other's channels)
  fail the same comparisons, which pass unpatched.
"""

from __future__ import annotations

import copy
import dataclasses

import keras
import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from refdeconv.reference import linear
from refdeconv.reference.convolutions import ConvTranspose, depthwise, separable, transpose_extent
from refdeconv.reference.windows import Geometry
from refdeconv.testing import assert_maps_close
from tests.naive_conv import (
    causal_conv1d_naive,
    conv2d_transpose_naive,
    depthwise_conv2d_naive,
    grouped_conv2d_naive,
    separable_conv2d_naive,
)
from tests.reference.layer_checks import check_against_keras, tf_gradient_is_derivative
from tests.reference.test_ops import assert_adjoint, draw_array, drop, lift, pair, vjp

L = keras.layers


def draw_conv(data, rank, causal=False):
    """Input, kernel size, strides, dilation (never both > 1, as Keras) and padding."""
    n = data.draw(st.integers(1, 2), label="batch")
    spatial = data.draw(st.tuples(*[st.integers(1, 6)] * rank), label="spatial extent")
    size = data.draw(st.tuples(*[st.integers(1, 3)] * rank), label="kernel size")
    strides = data.draw(st.tuples(*[st.integers(1, 3)] * rank), label="strides")
    dilation = (1,) * rank if max(strides) > 1 else data.draw(st.tuples(*[st.integers(1, 2)] * rank), label="dilation")
    paddings = ["valid", "same"] + (["causal"] if causal else [])
    padding = data.draw(st.sampled_from(paddings), label="padding")
    return n, spatial, size, strides, dilation, padding


def extent_of(op, spatial):
    """The spatial output extent of a ``linear.Conv`` on ``spatial`` (empty outputs skipped)."""
    out = op.geometry.plan(tuple(spatial))[0]
    assume(0 not in out)
    return out


def scale_of(make, kernels, x, y):
    """``<|A| |x|, |y|>``: the same operation with absolute kernels on ``|x|``."""
    return float(np.vdot(make(*map(np.abs, kernels)).forward(np.abs(x)), np.abs(y)))


# --- adjoint identities ---------------------------------------------------------------


@pytest.mark.parametrize("rank", [1, 2, 3])
@given(data=st.data())
def test_grouped_and_causal_conv_adjoint_identity(rank, data):
    n, spatial, size, strides, dilation, padding = draw_conv(data, rank, causal=rank == 1)
    groups = data.draw(st.integers(1, 3), label="groups")
    cg, og = data.draw(st.integers(1, 2), label="channels per group"), data.draw(st.integers(1, 2), label="filters per group")
    x = draw_array(data, (n, *spatial, cg * groups), "x")
    kernel = draw_array(data, (*size, cg, og * groups), "kernel")

    def make(k):
        return linear.Conv(k, None, strides, padding, dilation, groups)

    extent_of(make(kernel), spatial)
    ax = make(kernel).forward(x)
    y = draw_array(data, ax.shape, "y")
    (g,) = vjp(make(kernel), y, x)
    context = f"kernel {kernel.shape}, groups {groups}, strides {strides}, dilation {dilation}, {padding!r}, x {x.shape}"
    assert_adjoint(f"Conv{rank}D(groups={groups})", ax, y, [x], [g], scale_of(make, [kernel], x, y), context)


@pytest.mark.parametrize("rank", [1, 2])
@given(data=st.data())
def test_depthwise_and_separable_adjoint_identity(rank, data):
    n, spatial, size, strides, dilation, padding = draw_conv(data, rank)
    channels, mult = data.draw(st.integers(1, 3), label="channels"), data.draw(st.integers(1, 3), label="depth multiplier")
    filters = data.draw(st.integers(1, 3), label="pointwise filters")
    x = draw_array(data, (n, *spatial, channels), "x")
    dk = draw_array(data, (*size, channels, mult), "depthwise kernel")
    pk = draw_array(data, ((1,) * rank + (channels * mult, filters)), "pointwise kernel")
    extent_of(depthwise(dk, None, strides, padding, dilation), spatial)
    for name, make, kernels in [
        ("Depthwise", lambda k: depthwise(k, None, strides, padding, dilation), [dk]),
        ("Separable", lambda k, p: Chain(separable(k, p, None, strides, padding, dilation)), [dk, pk]),
    ]:
        op = make(*kernels)
        ax = op.forward(x)
        y = draw_array(data, ax.shape, f"y ({name})")
        (g,) = vjp(op, y, x)
        context = f"kernels {[k.shape for k in kernels]}, strides {strides}, dilation {dilation}, {padding!r}, x {x.shape}"
        assert_adjoint(f"{name}Conv{rank}D", ax, y, [x], [g], scale_of(make, kernels, x, y), context)


class Chain:
    """Operations applied in order, as the reference's program runs a layer's operations."""

    def __init__(self, ops):
        self.ops = ops

    def forward(self, x):
        for op in self.ops:
            x = op.forward(x)
        return x

    def vjp(self, u, inputs, output, rule):
        values = [inputs[0]]
        for op in self.ops[:-1]:
            values.append(op.forward(values[-1]))
        for op, value in zip(reversed(self.ops), reversed(values)):
            (u,) = op.vjp(u, [value], None, rule)
        return (u,)


def draw_transpose(data, rank, dilated=True):
    """Input, kernel ``(..., F, C)``, strides, dilation, padding and Keras's output extent."""
    n, spatial, size, strides, dilation, padding = draw_conv(data, rank)
    if not dilated:
        dilation = (1,) * rank
    output_padding = tuple(
        data.draw(st.none() | st.integers(0, s - 1), label=f"output padding {i}") for i, s in enumerate(strides)
    )
    extent = tuple(map(transpose_extent, spatial, size, strides, dilation, [padding] * rank, output_padding))
    channels, filters = data.draw(st.integers(1, 3), label="channels"), data.draw(st.integers(1, 3), label="filters")
    x = draw_array(data, (n, *spatial, channels), "x")
    kernel = draw_array(data, (*size, filters, channels), "kernel")
    op = ConvTranspose(kernel, None, strides, padding, dilation, output_padding)
    try:
        assert op.extent(spatial) == extent, f"ConvTranspose.extent({spatial}) = {op.extent(spatial)} != {extent}"
    except ValueError:
        assume(False)  # Keras's extent is not always a transpose (refused: see test_refusals)
    return x, kernel, strides, dilation, padding, output_padding, op


@pytest.mark.parametrize("rank", [1, 2, 3])
@given(data=st.data())
def test_conv_transpose_adjoint_identity(rank, data):
    x, kernel, strides, dilation, padding, output_padding, op = draw_transpose(data, rank)
    extent = op.extent(x.shape[1:-1])
    ax = op.forward(x)
    assert ax.shape[1:-1] == extent, f"Conv{rank}DTranspose: output extent {ax.shape[1:-1]} != {extent}"
    y = draw_array(data, ax.shape, "y")
    (g,) = vjp(op, y, x)

    def make(k):
        return ConvTranspose(k, None, strides, padding, dilation, output_padding)

    context = f"kernel {kernel.shape}, strides {strides}, dilation {dilation}, {padding!r}, extent {extent}, x {x.shape}"
    assert_adjoint(f"Conv{rank}DTranspose", ax, y, [x], [g], scale_of(make, [kernel], x, y), context)


# --- the loop spec ----------------------------------------------------------------------


def assert_spec(name, got, want, context):
    for what, a, b in zip(["forward", "vjp"], got, want):
        assert_maps_close(a, b, "float64", f"{name} {what} vs loop spec, {context}")


@pytest.mark.parametrize("rank", [1, 2])
@given(data=st.data())
def test_grouped_conv_matches_naive(rank, data):
    n, spatial, size, strides, dilation, padding = draw_conv(data, rank)
    groups = data.draw(st.integers(2, 3), label="groups")
    x = draw_array(data, (n, *spatial, 2 * groups), "x")
    kernel, bias = draw_array(data, (*size, 2, 2 * groups), "kernel"), draw_array(data, (2 * groups,), "bias")
    op = linear.Conv(kernel, bias, strides, padding, dilation, groups)
    extent_of(op, spatial)
    y = op.forward(x)
    u = draw_array(data, y.shape, "u")
    want = grouped_conv2d_naive(lift(x, rank), kernel[None] if rank == 1 else kernel, bias,
                                pair(strides), padding, pair(dilation), groups, lift(u, rank))
    assert_spec(f"Conv{rank}D(groups={groups})", (y, vjp(op, u, x)[0]), [drop(w, rank) for w in want],
                f"strides {strides}, dilation {dilation}, {padding!r}, x {x.tolist()}")


@given(st.data())
def test_causal_conv1d_matches_naive(data):
    n, (width,), (k,), (s,), (d,), _ = draw_conv(data, 1)
    x = draw_array(data, (n, width, 2), "x")
    kernel, bias = draw_array(data, (k, 2, 3), "kernel"), draw_array(data, (3,), "bias")
    op = linear.Conv(kernel, bias, (s,), "causal", (d,))
    y = op.forward(x)
    u = draw_array(data, y.shape, "u")
    want = causal_conv1d_naive(x, kernel, bias, s, d, u)
    assert_spec("Conv1D(causal)", (y, vjp(op, u, x)[0]), want, f"k {k}, stride {s}, dilation {d}, x {x.tolist()}")


@pytest.mark.parametrize("rank", [1, 2])
@given(data=st.data())
def test_depthwise_and_separable_match_naive(rank, data):
    n, spatial, size, strides, dilation, padding = draw_conv(data, rank)
    channels, mult, filters = (data.draw(st.integers(1, 3), label=label) for label in ("channels", "multiplier", "filters"))
    x = draw_array(data, (n, *spatial, channels), "x")
    dk = draw_array(data, (*size, channels, mult), "depthwise kernel")
    pk = draw_array(data, ((1,) * rank + (channels * mult, filters)), "pointwise kernel")
    bias_d, bias_s = draw_array(data, (channels * mult,), "depthwise bias"), draw_array(data, (filters,), "bias")
    op = depthwise(dk, bias_d, strides, padding, dilation)
    extent_of(op, spatial)
    y = op.forward(x)
    u = draw_array(data, y.shape, "u")
    dk2 = dk[None] if rank == 1 else dk
    want = depthwise_conv2d_naive(lift(x, rank), dk2, bias_d, pair(strides), padding, pair(dilation), lift(u, rank))
    context = f"kernel {dk.shape}, strides {strides}, dilation {dilation}, {padding!r}, x {x.tolist()}"
    assert_spec(f"DepthwiseConv{rank}D", (y, vjp(op, u, x)[0]), [drop(w, rank) for w in want], context)
    chain = Chain(separable(dk, pk, bias_s, strides, padding, dilation))
    y = chain.forward(x)
    u = draw_array(data, y.shape, "u (separable)")
    pk2 = pk[None] if rank == 1 else pk
    want = separable_conv2d_naive(lift(x, rank), dk2, pk2, bias_s, pair(strides), padding, pair(dilation), lift(u, rank))
    assert_spec(f"SeparableConv{rank}D", (y, vjp(chain, u, x)[0]), [drop(w, rank) for w in want], context)


@pytest.mark.parametrize("rank", [1, 2])
@given(data=st.data())
def test_conv_transpose_matches_naive(rank, data):
    x, kernel, strides, dilation, padding, output_padding, _ = draw_transpose(data, rank, dilated=False)
    bias = draw_array(data, (kernel.shape[-2],), "bias")
    op = ConvTranspose(kernel, bias, strides, padding, dilation, output_padding)
    extent = op.extent(x.shape[1:-1])
    y = op.forward(x)
    u = draw_array(data, y.shape, "u")
    want = conv2d_transpose_naive(lift(x, rank), kernel[None] if rank == 1 else kernel, bias, pair(strides), padding,
                                  pair(extent), lift(u, rank))
    context = f"kernel {kernel.shape}, strides {strides}, {padding!r}, extent {extent}, x {x.tolist()}"
    assert_spec(f"Conv{rank}DTranspose", (y, vjp(op, u, x)[0]), [drop(w, rank) for w in want], context)


# --- against Keras: forward, then rule="gradient" against tf.GradientTape ----------------


def keras_model(layer, input_shape, then=None):
    """A float64 model: the layer under test, then optionally a second layer."""
    inputs = keras.Input(input_shape, dtype="float64")
    out = layer(inputs)
    return keras.Model(inputs, then(out) if then else out)


def randomise(data, model):
    """Drawn weights (biases included) for every variable of the model."""
    for w in model.weights:
        w.assign(draw_array(data, w.shape, f"weight {w.path}"))


def check_layer(data, layer, input_shape, then=None):
    model = keras_model(layer, input_shape, then)
    randomise(data, model)
    x = draw_array(data, (data.draw(st.integers(1, 2), label="batch"), *input_shape), "x")
    targets = draw_array(data, (x.shape[0], *model.outputs[0].shape[1:]), "targets")
    check_against_keras(model, x, targets, f"{layer.name} {layer.get_config()}")
    return model, x, targets


ACTIVATIONS = st.sampled_from([None, "relu", "gelu", "hard_silu"])  # no saturating tanh: 1 - tanh^2 cancels


@pytest.mark.parametrize("rank", [1, 2, 3])
@given(data=st.data())
def test_grouped_and_causal_conv_against_keras(rank, data):
    _, spatial, size, strides, dilation, padding = draw_conv(data, rank, causal=rank == 1)
    groups = data.draw(st.integers(1, 3), label="groups")
    kind = {1: L.Conv1D, 2: L.Conv2D, 3: L.Conv3D}[rank]
    layer = kind(2 * groups, size, strides=strides, padding=padding, dilation_rate=dilation, groups=groups,
                 activation=data.draw(ACTIVATIONS, label="activation"), dtype="float64")
    assume(padding != "valid" or all(n >= (k - 1) * d + 1 for n, k, d in zip(spatial, size, dilation)))
    assume(rank < 3 or tf_gradient_is_derivative(spatial, size, strides, dilation, padding))  # see test_volumes.py
    check_layer(data, layer, (*spatial, groups * data.draw(st.integers(1, 2), label="channels per group")))


@pytest.mark.parametrize("rank", [1, 2])
@given(data=st.data())
def test_depthwise_and_separable_against_keras(rank, data):
    _, spatial, size, strides, _, padding = draw_conv(data, rank)
    strides = (strides[0],) * rank  # tf.nn.depthwise_conv2d: equal strides only (refused otherwise)
    # Keras and TensorFlow allow strides and dilation together here (a decomposition).
    dilation = data.draw(st.tuples(*[st.integers(1, 2)] * rank), label="dilation")
    assume(padding != "valid" or all(n >= (k - 1) * d + 1 for n, k, d in zip(spatial, size, dilation)))
    mult = data.draw(st.integers(1, 3), label="depth multiplier")
    options = dict(strides=strides, padding=padding, dilation_rate=dilation, depth_multiplier=mult,
                   activation=data.draw(ACTIVATIONS, label="activation"), dtype="float64")
    separable_layer = data.draw(st.booleans(), label="separable")
    if separable_layer:
        layer = (L.SeparableConv1D if rank == 1 else L.SeparableConv2D)(data.draw(st.integers(1, 3), label="filters"), size, **options)
    else:
        layer = (L.DepthwiseConv1D if rank == 1 else L.DepthwiseConv2D)(size, **options)
    check_layer(data, layer, (*spatial, data.draw(st.integers(1, 3), label="channels")))


@pytest.mark.parametrize("rank", [1, 2, 3])
@given(data=st.data())
def test_conv_transpose_against_keras(rank, data):
    _, spatial, size, strides, _, padding = draw_conv(data, rank)
    output_padding = data.draw(st.none() | st.tuples(*[st.integers(0, s - 1) for s in strides]), label="output padding")
    pads = output_padding or (None,) * rank
    try:
        extent = ConvTranspose(np.zeros((*size, 1, 1)), None, strides, padding, (1,) * rank, pads).extent(spatial)
    except ValueError:
        assume(False)  # Keras fails too (see test_refusals)
    assume(rank < 3 or tf_gradient_is_derivative(extent, size, strides, (1,) * rank, padding))  # see test_volumes.py
    layer = {1: L.Conv1DTranspose, 2: L.Conv2DTranspose, 3: L.Conv3DTranspose}[rank](
        data.draw(st.integers(1, 3), label="filters"), size, strides=strides, padding=padding,
        output_padding=output_padding, activation=data.draw(ACTIVATIONS, label="activation"), dtype="float64")
    model, _, _ = check_layer(data, layer, (*spatial, data.draw(st.integers(1, 3), label="channels")))
    assert tuple(model.outputs[0].shape[1:-1]) == extent, f"{layer.name}: Keras extent {model.outputs[0].shape} vs {extent}"


def test_transpose_extent_keras_rule_by_hand():
    # (n, k, s, padding, output_padding) -> Keras 3's extent, measured on Conv1DTranspose.
    cases = {(3, 3, 2, "valid", None): 7, (3, 1, 3, "valid", None): 9, (3, 3, 2, "valid", 1): 8,
             (3, 3, 2, "same", None): 6, (3, 3, 2, "same", 1): 6, (3, 2, 2, "same", 1): 5, (2, 3, 1, "same", 0): 2}
    for (n, k, s, pad, p), want in cases.items():
        got = transpose_extent(n, k, s, 1, pad, p)
        layer = L.Conv1DTranspose(1, k, strides=s, padding=pad, output_padding=p, dtype="float64")
        keras_extent = keras_model(layer, (n, 1)).outputs[0].shape[1]
        assert got == want == keras_extent, f"transpose_extent{(n, k, s, pad, p)} = {got}, Keras {keras_extent}, pinned {want}"


def test_refusals():
    from refdeconv import reference

    # Keras's extent (n - 1) s + k % 2 + p = 2 for n = 3, k = 2: no convolution maps 2 to 3.
    model = keras_model(L.Conv1DTranspose(1, 2, padding="same", output_padding=0, dtype="float64"), (3, 1))
    with pytest.raises(NotImplementedError, match="not the transpose"):
        reference.forward(model, np.ones((1, 3, 1)))
    model = keras_model(L.DepthwiseConv2D(1, strides=(1, 2), dtype="float64"), (3, 3, 1))
    with pytest.raises(NotImplementedError, match="equal row and column strides"):
        reference.forward(model, np.ones((1, 3, 3, 1)))
    # TensorFlow's CPU kernel cannot compute a dilated transposed convolution to check it.
    model = keras_model(L.Conv1DTranspose(1, 2, dilation_rate=2, dtype="float64"), (3, 1))
    with pytest.raises(NotImplementedError, match="dilation_rate"):
        reference.forward(model, np.ones((1, 3, 1)))


# --- planted faults ---------------------------------------------------------------------


class SwappedGeometry(Geometry):
    """A wrong geometry: the larger half of "same" padding before the data."""

    def plan(self, extent):
        out, pads = super().plan(extent)
        return out, tuple((after, before) for before, after in pads)


def _altered(conv, geometry=None, matrices=None):
    """A copy of a ``linear.Conv`` with another geometry or kernel matrices."""
    wrong = copy.copy(conv)
    wrong.geometry = conv.geometry if geometry is None else geometry
    wrong.matrices = conv.matrices if matrices is None else matrices
    return wrong


def _flipped(conv):
    """The kernel flipped in space: the K axis (row-major taps) reversed in every group."""
    groups, rows, filters = conv.matrices.shape
    taps = conv.matrices.reshape(groups, len(conv.geometry.offsets()), -1, filters)[:, ::-1]
    return _altered(conv, matrices=taps.reshape(groups, rows, filters))


def _swapped(conv):
    return _altered(conv, geometry=SwappedGeometry(*dataclasses.astuple(conv.geometry)))


FAULTS = {
    # (what is patched, the wrong method, the layer, its input shape)
    "transpose vjp, kernel not flipped": (
        (ConvTranspose, "vjp"), lambda self, u, inputs, output, rule: (_flipped(self.conv).forward(u),),
        lambda: L.Conv1DTranspose(2, 3, strides=2, padding="same", dtype="float64"), (4, 2)),
    "transpose forward, kernel not flipped": (
        (ConvTranspose, "forward"), lambda self, x: _flipped(self.conv).transpose(x, self.extent(x.shape[1:-1])) + self.bias,
        lambda: L.Conv2DTranspose(2, (2, 3), strides=(2, 1), padding="valid", dtype="float64"), (3, 3, 2)),
    "transpose vjp, 'same' padding split on the wrong side": (
        (ConvTranspose, "vjp"), lambda self, u, inputs, output, rule: (_swapped(self.conv).forward(u),),
        lambda: L.Conv1DTranspose(2, 2, strides=1, padding="same", dtype="float64"), (4, 2)),
    "grouped vjp, groups read each other's channels": (
        (linear.Conv, "vjp"),
        lambda self, u, inputs, output, rule: (
            _altered(self, matrices=self.matrices[::-1]).transpose(u, inputs[0].shape[1:-1]),),
        lambda: L.Conv2D(4, 2, groups=2, padding="same", dtype="float64"), (3, 4, 4)),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_planted_faults_are_caught(fault, monkeypatch):
    (owner, method), wrong, make_layer, input_shape = FAULTS[fault]
    rng = np.random.default_rng(0)
    model = keras_model(make_layer(), input_shape)
    for w in model.weights:
        w.assign(rng.standard_normal(w.shape))
    x = rng.standard_normal((2, *input_shape))
    targets = rng.standard_normal((2, *model.outputs[0].shape[1:]))
    check_against_keras(model, x, targets, f"control for {fault}")
    monkeypatch.setattr(owner, method, wrong)
    with pytest.raises(AssertionError):
        check_against_keras(model, x, targets, f"planted fault: {fault}")


def test_conv_transpose_with_unknown_extent_against_keras():
    # The output extent is worked out from the input's at run time (fully convolutional models).
    rng = np.random.default_rng(1)
    model = keras_model(L.Conv1DTranspose(2, 3, strides=2, padding="same", output_padding=1, dtype="float64"), (None, 2))
    for w in model.weights:
        w.assign(rng.standard_normal(w.shape))
    for width in (1, 4):
        x = rng.standard_normal((2, width, 2))
        check_against_keras(model, x, rng.standard_normal((2, 2 * width, 2)), f"Conv1DTranspose on width {width}")
