"""The reference's operations, one at a time (``refdeconv.reference``: windows,
linear, pooling, activations, rules).

Part of the spec covered (DESIGN.md §1-§3):

- every linear operation's vector-Jacobian product is its adjoint,
  ``<A x, y> = <x, A^T y>`` (the projection identity), to float64 precision;
- max-pooling satisfies Euler's identity ``<maxpool(x), u> = <x, vjp(u)>`` and
  its switches follow TensorFlow's tie rule (first maximum in row-major window
  order, padding never wins, overlapping windows accumulate);
- convolution, max- and average-pooling agree with the loop spec in
  :mod:`tests.naive`, forward and backward;
- global max-pooling splits the signal equally among tied maxima;
- the ReLU family takes the rule of DESIGN.md §3, with TensorFlow's convention
  at the cap and the threshold;
- every other activation's vector-Jacobian product is its derivative,
  checked against central finite differences.

Every tolerance comes from :func:`refdeconv.testing.tolerance`.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.differentiate import derivative, jacobian

from refdeconv.reference import activations, linear, merging, pooling
from refdeconv.reference.rules import relu_backward
from refdeconv.reference.windows import Geometry, windows, windows_adjoint
from refdeconv.testing import assert_maps_close, tolerance
from tests.naive import avgpool2d_naive, conv2d_naive, conv2d_vjp_naive, maxpool2d_naive, output_shape

TOL = tolerance("float64")
FD_TOL = tolerance("finite-difference")
RULE_NAMES = ("gradient", "deconvnet", "guided")

# Continuous values in [-8, 8]. Magnitudes below 2**-20 become 0 so that a product of
# three drawn values (weight * input * upstream) stays far above the underflow range:
# the relative bounds below are then about rounding only, never about underflow.
FLOATS = st.floats(-8.0, 8.0, allow_nan=False, allow_infinity=False, allow_subnormal=False).map(
    lambda v: v if abs(v) >= 2.0**-20 else 0.0
)
# Small integers: every sum and maximum is exact, and max-pool windows tie often.
INTEGERS = st.integers(-2, 2).map(float)
VALUES = {"continuous": FLOATS, "integer": INTEGERS}


# --- drawing helpers (every draw labelled) -----------------------------------------


def draw_array(data, shape, label, elements=FLOATS):
    return data.draw(arrays(np.float64, tuple(shape), elements=elements), label=label)


def draw_input(data, rank, label="x", elements=FLOATS):
    """``(N, W, C)`` for rank 1, ``(N, H, W, C)`` for rank 2; N <= 2, H, W <= 7, C <= 3."""
    n = data.draw(st.integers(1, 2), label=f"{label}: batch")
    spatial = data.draw(st.tuples(*[st.integers(1, 7)] * rank), label=f"{label}: spatial extent")
    c = data.draw(st.integers(1, 3), label=f"{label}: channels")
    return draw_array(data, (n, *spatial, c), label, elements)


def draw_window(data, rank, dilated=False):
    """Window size, strides, padding and dilation of a ``rank``-D window operation."""
    size = data.draw(st.tuples(*[st.integers(1, 3)] * rank), label="window size")
    strides = data.draw(st.tuples(*[st.integers(1, 3)] * rank), label="strides")
    padding = data.draw(st.sampled_from(["valid", "same"]), label="padding")
    dilation = data.draw(st.tuples(*[st.integers(1, 2)] * rank), label="dilation") if dilated else (1,) * rank
    return size, strides, padding, dilation


def lift(a, rank):
    """A 1-D operand as the 2-D one with H = 1 (how the naive spec sees it)."""
    return a[:, None] if rank == 1 else a


def pair(t):
    """A 1-D window tuple as the 2-D one with a unit leading axis."""
    return (1, *t) if len(t) == 1 else tuple(t)


def drop(a, rank):
    """Undo :func:`lift`."""
    return a[:, 0] if rank == 1 else a


def assume_nonempty(x, rank, size, strides, padding, dilation=None):
    """Skip geometries whose output is empty (a "valid" window larger than the input)."""
    dilation = pair(dilation) if dilation else (1, 1)
    out = output_shape(lift(x, rank).shape, pair(size), pair(strides), padding, dilation)
    assume(0 not in out[1:3])


def vjp(op, u, *inputs):
    """The operation's vector-Jacobian product(s) at ``inputs`` (any rule: linear ops ignore it)."""
    return op.vjp(u, list(inputs), op.forward(*inputs), "gradient")


def assert_adjoint(name, ax, y, xs, gs, scale, context):
    """``|<A x, y> - sum_i <x_i, (A^T y)_i>| <= TOL * scale``.

    ``scale = <|A| |x|, |y|>``, computed by the same operation with absolute
    weights on ``|x|``: both inner products sum the same products
    ``A_ij x_j y_i`` in different orders, so their rounding errors are bounded
    by (number of terms) * eps * ``scale``; with at most ~10^4 terms here that
    is ~1e-12 * ``scale``, three orders below ``TOL``. Unlike ``|<A x, y>|``,
    this scale does not shrink when the products cancel. A wrong adjoint errs
    by O(``scale``).
    """
    lhs = float(np.vdot(ax, y))
    rhs = float(sum(np.vdot(x, g) for x, g in zip(xs, gs)))
    assert abs(lhs - rhs) <= TOL * scale, (
        f"{name}: adjoint identity fails: <A x, y> = {lhs!r}, <x, A^T y> = {rhs!r}, "
        f"|difference| = {abs(lhs - rhs):.3g} > {TOL:g} * scale {scale:.6g}; {context}"
    )


# --- adjoint identities of the linear operations --------------------------------------


@given(st.data())
def test_windows_adjoint_identity(data):
    x = draw_input(data, 2)
    size, strides, padding, dilation = draw_window(data, 2, dilated=True)
    assume_nonempty(x, 2, size, strides, padding, dilation)
    geometry = Geometry(size, strides, padding, dilation)
    w = windows(x, geometry)
    y = draw_array(data, w.shape, "y")
    g = windows_adjoint(y, geometry, x.shape[1:3])
    assert g.shape == x.shape, f"windows_adjoint: shape {g.shape} != input shape {x.shape} for {geometry}"
    # windows copies entries: |A| |x| = windows(|x|).
    scale = float(np.vdot(windows(np.abs(x), geometry), np.abs(y)))
    assert_adjoint("windows/windows_adjoint", w, y, [x], [g], scale, f"{geometry}, x shape {x.shape}")


@pytest.mark.parametrize("rank", [1, 2])
@given(data=st.data())
def test_conv_adjoint_identity(rank, data):
    x = draw_input(data, rank)
    size, strides, padding, dilation = draw_window(data, rank, dilated=True)
    out_channels = data.draw(st.integers(1, 3), label="output channels")
    kernel = draw_array(data, (*size, x.shape[-1], out_channels), "kernel")
    assume_nonempty(x, rank, size, strides, padding, dilation)
    op = linear.Conv(kernel, None, strides, padding, dilation)
    ax = op.forward(x)
    y = draw_array(data, ax.shape, "y")
    (g,) = vjp(op, y, x)
    assert g.shape == x.shape, f"Conv{rank}D vjp: shape {g.shape} != input shape {x.shape}"
    scale = float(np.vdot(linear.Conv(np.abs(kernel), None, strides, padding, dilation).forward(np.abs(x)), np.abs(y)))
    context = f"kernel {kernel.shape}, strides {strides}, padding {padding!r}, dilation {dilation}, x shape {x.shape}"
    assert_adjoint(f"Conv{rank}D", ax, y, [x], [g], scale, context)


@pytest.mark.parametrize("rank", [2, 3])
@given(data=st.data())
def test_dense_adjoint_identity(rank, data):
    shape = data.draw(st.tuples(st.integers(1, 2), *[st.integers(1, 4)] * (rank - 1)), label="x shape")
    units = data.draw(st.integers(1, 4), label="units")
    x = draw_array(data, shape, "x")
    kernel = draw_array(data, (shape[-1], units), "kernel")
    op = linear.Dense(kernel, None)
    ax = op.forward(x)
    y = draw_array(data, ax.shape, "y")
    (g,) = vjp(op, y, x)
    scale = float(np.vdot(linear.Dense(np.abs(kernel), None).forward(np.abs(x)), np.abs(y)))
    assert_adjoint("Dense", ax, y, [x], [g], scale, f"x shape {x.shape}, kernel {kernel.shape}")


@pytest.mark.parametrize("rank", [1, 2])
@given(data=st.data())
def test_avgpool_adjoint_identity(rank, data):
    x = draw_input(data, rank)
    size, strides, padding, _ = draw_window(data, rank)
    assume_nonempty(x, rank, size, strides, padding)
    op = pooling.AvgPool(size, strides, padding)
    ax = op.forward(x)
    y = draw_array(data, ax.shape, "y")
    (g,) = vjp(op, y, x)
    scale = float(np.vdot(op.forward(np.abs(x)), np.abs(y)))  # the weights 1/count are positive
    context = f"pool {size}, strides {strides}, padding {padding!r}, x shape {x.shape}"
    assert_adjoint(f"AvgPool{rank}D", ax, y, [x], [g], scale, context)


@given(st.data())
def test_reshape_adjoint_identity(data):
    dims = data.draw(st.lists(st.integers(1, 4), min_size=1, max_size=3), label="x dims (no batch)")
    x = draw_array(data, (data.draw(st.integers(1, 2), label="batch"), *dims), "x")
    total = int(np.prod(dims))
    targets = [(total,), tuple(reversed(dims))] + [(d, total // d) for d in range(1, total + 1) if total % d == 0]
    shape = data.draw(st.sampled_from(targets), label="target shape")
    op = linear.Reshape(shape)
    ax = op.forward(x)
    y = draw_array(data, ax.shape, "y")
    (g,) = vjp(op, y, x)
    assert g.shape == x.shape, f"Reshape{shape} vjp: shape {g.shape} != input shape {x.shape}"
    scale = float(np.vdot(op.forward(np.abs(x)), np.abs(y)))
    assert_adjoint(f"Reshape{shape}", ax, y, [x], [g], scale, f"x shape {x.shape}")


@given(st.data())
def test_affine_adjoint_identity(data):
    x = draw_input(data, data.draw(st.sampled_from([1, 2]), label="spatial rank"))
    factor = draw_array(data, (x.shape[-1],), "scale")
    op = linear.Affine(factor, np.zeros(x.shape[-1]))
    ax = op.forward(x)
    y = draw_array(data, ax.shape, "y")
    (g,) = vjp(op, y, x)
    scale = float(np.vdot(linear.Affine(np.abs(factor), 0.0).forward(np.abs(x)), np.abs(y)))
    assert_adjoint("Affine (zero shift)", ax, y, [x], [g], scale, f"x shape {x.shape}, scale {factor}")


@pytest.mark.parametrize("keepdims", [False, True])
@given(data=st.data())
def test_global_avgpool_adjoint_identity(keepdims, data):
    x = draw_input(data, data.draw(st.sampled_from([1, 2]), label="spatial rank"))
    op = pooling.GlobalAvgPool(keepdims)
    ax = op.forward(x)
    y = draw_array(data, ax.shape, "y")
    (g,) = vjp(op, y, x)
    assert g.shape == x.shape, f"GlobalAvgPool(keepdims={keepdims}) vjp: shape {g.shape} != {x.shape}"
    scale = float(np.vdot(op.forward(np.abs(x)), np.abs(y)))
    assert_adjoint(f"GlobalAvgPool(keepdims={keepdims})", ax, y, [x], [g], scale, f"x shape {x.shape}")


@given(st.data())
def test_add_adjoint_identity(data):
    shape = data.draw(st.tuples(st.integers(1, 2), *[st.integers(1, 4)] * 2), label="shape")
    count = data.draw(st.integers(2, 3), label="number of inputs")
    xs = [draw_array(data, shape, f"x{i}") for i in range(count)]
    op = merging.WeightedSum([1.0] * count)  # what Keras's Add translates to
    ax = op.forward(*xs)
    y = draw_array(data, ax.shape, "y")
    gs = vjp(op, y, *xs)
    assert len(gs) == count, f"Add vjp: {len(gs)} outputs for {count} inputs"
    scale = float(np.vdot(op.forward(*map(np.abs, xs)), np.abs(y)))
    assert_adjoint("Add", ax, y, xs, gs, scale, f"{count} inputs of shape {shape}")


@given(st.data())
def test_concatenate_adjoint_identity(data):
    rank = data.draw(st.integers(2, 4), label="rank")
    shape = list(data.draw(st.tuples(st.integers(1, 2), *[st.integers(1, 3)] * (rank - 1)), label="shape"))
    axis = data.draw(st.sampled_from([*range(1, rank), -1]), label="axis")
    count = data.draw(st.integers(2, 3), label="number of inputs")
    xs = []
    for i in range(count):
        shape[axis] = data.draw(st.integers(1, 3), label=f"x{i}: extent along axis")
        xs.append(draw_array(data, shape, f"x{i}"))
    op = linear.Concatenate(axis)
    ax = op.forward(*xs)
    y = draw_array(data, ax.shape, "y")
    gs = vjp(op, y, *xs)
    shapes = [x.shape for x in xs]
    assert [g.shape for g in gs] == shapes, f"Concatenate({axis}) vjp: shapes {[g.shape for g in gs]} != {shapes}"
    scale = float(np.vdot(op.forward(*map(np.abs, xs)), np.abs(y)))
    assert_adjoint(f"Concatenate(axis={axis})", ax, y, xs, gs, scale, f"input shapes {shapes}")


# --- max-pooling: Euler's identity and the switches --------------------------------


@pytest.mark.parametrize("values", sorted(VALUES))
@pytest.mark.parametrize("rank", [1, 2])
@given(data=st.data())
def test_maxpool_euler_identity(rank, values, data):
    # Max-pooling is positively homogeneous of degree 1 and piecewise linear, so
    # <maxpool(x), u> = <x, J^T u>: both sides sum x[switch] * u over the windows.
    x = draw_input(data, rank, elements=VALUES[values])
    size, strides, padding, _ = draw_window(data, rank)
    assume_nonempty(x, rank, size, strides, padding)
    op = pooling.MaxPool(size, strides, padding)
    y = op.forward(x)
    u = draw_array(data, y.shape, "u")
    (g,) = vjp(op, u, x)
    scale = float(np.vdot(np.abs(y), np.abs(u)))
    context = f"pool {size}, strides {strides}, padding {padding!r}, x shape {x.shape}"
    assert_adjoint(f"MaxPool{rank}D (Euler)", y, u, [x], [g], scale, context)


@pytest.mark.parametrize("values", sorted(VALUES))
@pytest.mark.parametrize("rank", [1, 2])
@given(data=st.data())
def test_maxpool_matches_naive(rank, values, data):
    x = draw_input(data, rank, elements=VALUES[values])
    size, strides, padding, _ = draw_window(data, rank)
    op = pooling.MaxPool(size, strides, padding)
    name = f"MaxPool{rank}D(pool={size}, strides={strides}, padding={padding!r})"
    y = op.forward(x)
    # Integer upstream signals: every accumulation is exact, whatever its order.
    u = draw_array(data, y.shape, "u (integer)", INTEGERS)
    want_y, want_g = (drop(a, rank) for a in maxpool2d_naive(lift(x, rank), pair(size), pair(strides), padding, lift(u, rank)))
    assert np.array_equal(y, want_y), f"{name} forward != naive spec for x = {x.tolist()}: {y.tolist()} vs {want_y.tolist()}"
    (g,) = vjp(op, u, x)
    assert np.array_equal(g, want_g), (
        f"{name} vjp != naive spec (first maximum in row-major window order) for x = {x.tolist()}, "
        f"u = {u.tolist()}: {g.tolist()} vs {want_g.tolist()}"
    )
    # Continuous upstream signals: the same switches, sums in another order.
    v = draw_array(data, y.shape, "u (continuous)")
    want_gv = drop(maxpool2d_naive(lift(x, rank), pair(size), pair(strides), padding, lift(v, rank))[1], rank)
    assert_maps_close(vjp(op, v, x)[0], want_gv, "float64", f"{name} vjp, x = {x.tolist()}, u = {v.tolist()}")


def test_maxpool_tie_rule_by_hand():
    # One 2x2 window, all four tied; then padding (-inf) next to negative values.
    op = pooling.MaxPool((2, 2), (2, 2), "valid")
    x = np.full((1, 2, 2, 1), 1.0)
    g = vjp(op, np.array([[[[5.0]]]]), x)[0]
    want = np.array([[5.0, 0.0], [0.0, 0.0]]).reshape(1, 2, 2, 1)
    assert np.array_equal(g, want), f"MaxPool2D tie: signal must go to the first maximum: {g.ravel()} vs {want.ravel()}"
    # "same", pool 2, stride 1 on [-3, -1, -1]: windows [-3,-1], [-1,-1], [-1,pad]; overlaps accumulate.
    op = pooling.MaxPool((2,), (1,), "same")
    x = np.array([-3.0, -1.0, -1.0]).reshape(1, 3, 1)
    g = vjp(op, np.array([1.0, 10.0, 100.0]).reshape(1, 3, 1), x)[0]
    want = np.array([0.0, 11.0, 100.0]).reshape(1, 3, 1)
    assert np.array_equal(g, want), f"MaxPool1D same padding, x {x.ravel()}: {g.ravel()} vs {want.ravel()}"


# --- convolution and average pooling against the loop spec ---------------------------


@pytest.mark.parametrize("rank", [1, 2])
@given(data=st.data())
def test_conv_matches_naive(rank, data):
    x = draw_input(data, rank)
    size, strides, padding, dilation = draw_window(data, rank, dilated=True)
    out_channels = data.draw(st.integers(1, 3), label="output channels")
    kernel = draw_array(data, (*size, x.shape[-1], out_channels), "kernel")
    with_bias = data.draw(st.booleans(), label="with bias")
    bias = draw_array(data, (out_channels,), "bias") if with_bias else None
    assume_nonempty(x, rank, size, strides, padding, dilation)  # see test_conv_empty_output
    op = linear.Conv(kernel, bias, strides, padding, dilation)
    name = f"Conv{rank}D(kernel {kernel.shape}, strides={strides}, padding={padding!r}, dilation={dilation})"
    k2 = kernel[None] if rank == 1 else kernel
    y = op.forward(x)
    want_y = drop(conv2d_naive(lift(x, rank), k2, bias, pair(strides), padding, pair(dilation)), rank)
    assert_maps_close(y, want_y, "float64", f"{name} forward, x shape {x.shape}")
    u = draw_array(data, y.shape, "u")
    want_g = drop(conv2d_vjp_naive(lift(x, rank).shape, k2, lift(u, rank), pair(strides), padding, pair(dilation)), rank)
    assert_maps_close(vjp(op, u, x)[0], want_g, "float64", f"{name} vjp, x shape {x.shape}")


@pytest.mark.parametrize("method", ["forward", "vjp"])
def test_conv_empty_output(method):
    # A "valid" window longer than the input: tf.nn.conv1d returns shape (1, 0, 1), and
    # windows(), MaxPool and AvgPool return empty outputs too; Conv should as well.
    x, kernel = np.ones((1, 1, 1)), np.ones((2, 1, 1))
    op = linear.Conv(kernel, None, (1,), "valid", (1,))
    got = op.forward(x) if method == "forward" else vjp(op, np.zeros((1, 0, 1)), x)[0]
    want = conv2d_naive(x[:, None], kernel[None], None, (1, 1), "valid")[:, 0] if method == "forward" else np.zeros_like(x)
    assert got.shape == want.shape and np.array_equal(got, want), f"Conv1D {method} on empty output: {got!r} vs {want!r}"


@pytest.mark.parametrize("rank", [1, 2])
@given(data=st.data())
def test_avgpool_matches_naive(rank, data):
    x = draw_input(data, rank)
    size, strides, padding, _ = draw_window(data, rank)
    op = pooling.AvgPool(size, strides, padding)
    name = f"AvgPool{rank}D(pool={size}, strides={strides}, padding={padding!r})"
    y = op.forward(x)
    u = draw_array(data, y.shape, "u")
    want_y, want_g = (drop(a, rank) for a in avgpool2d_naive(lift(x, rank), pair(size), pair(strides), padding, lift(u, rank)))
    assert_maps_close(y, want_y, "float64", f"{name} forward, x shape {x.shape}")
    assert_maps_close(vjp(op, u, x)[0], want_g, "float64", f"{name} vjp, x shape {x.shape}")


def test_avgpool_same_divides_by_real_positions():
    # Pool 3, stride 1, "same" on [1, 2, 4]: windows [pad,1,2], [1,2,4], [2,4,pad].
    op = pooling.AvgPool((3,), (1,), "same")
    x = np.array([1.0, 2.0, 4.0]).reshape(1, 3, 1)
    y = op.forward(x).ravel()
    want = np.array([1.5, 7.0 / 3.0, 3.0])
    assert np.allclose(y, want, rtol=TOL, atol=0), f"AvgPool1D same on {x.ravel()}: {y} vs {want}"


# --- global max-pooling: ties share the signal ------------------------------------------


@pytest.mark.parametrize("keepdims", [False, True])
def test_global_maxpool_ties_by_hand(keepdims):
    # Channel 0 ties twice (the two 3s), channel 1 ties four times.
    x = np.stack([[[1.0, 3.0], [3.0, 2.0]], [[5.0, 5.0], [5.0, 5.0]]], axis=-1)[None]
    u = np.array([[6.0, 8.0]])
    u = u.reshape(1, 1, 1, 2) if keepdims else u
    op = pooling.GlobalMaxPool(keepdims)
    y = op.forward(x)
    assert np.array_equal(y.reshape(-1), [3.0, 5.0]), f"GlobalMaxPool forward on {x.tolist()}: {y.tolist()}"
    g = vjp(op, u, x)[0]
    want = np.stack([[[0.0, 3.0], [3.0, 0.0]], [[2.0, 2.0], [2.0, 2.0]]], axis=-1)[None]
    assert np.array_equal(g, want), (
        f"GlobalMaxPool(keepdims={keepdims}) vjp must split u equally among tied maxima: x = {x.tolist()}, "
        f"u = {u.tolist()}: {g.tolist()} vs {want.tolist()}"
    )


@given(st.data())
def test_global_maxpool_ties_share_the_signal(data):
    x = draw_input(data, data.draw(st.sampled_from([1, 2]), label="spatial rank"), elements=INTEGERS)
    keepdims = data.draw(st.booleans(), label="keepdims")
    op = pooling.GlobalMaxPool(keepdims)
    y = op.forward(x)
    u = draw_array(data, y.shape, "u")
    g = vjp(op, u, x)[0]
    axes = tuple(range(1, x.ndim - 1))
    top = x == x.max(axis=axes, keepdims=True)
    flat_u = u.reshape(x.shape[0], x.shape[-1])
    count = top.sum(axis=axes).reshape(flat_u.shape)
    name = f"GlobalMaxPool(keepdims={keepdims})"
    assert np.all(g[~top] == 0), f"{name}: signal on a non-maximum, x = {x.tolist()}, vjp = {g.tolist()}"
    want = np.broadcast_to((flat_u / count).reshape(x.shape[0], *[1] * len(axes), x.shape[-1]), x.shape)
    assert np.array_equal(g[top], want[top]), f"{name}: tied maxima get unequal shares, x = {x.tolist()}, vjp = {g.tolist()}"
    total = g.sum(axis=axes).reshape(flat_u.shape)
    assert np.all(np.abs(total - flat_u) <= TOL * np.abs(flat_u)), (
        f"{name}: the shares sum to {total.tolist()}, not to u = {flat_u.tolist()} (x = {x.tolist()})"
    )


# --- the ReLU family: the rule table ------------------------------------------------------

#: (layer arguments, z, u, expected backward signal per rule).
RELU_CASES = {
    "plain": (
        {},
        [-2.0, -1.0, 0.0, 1.0, 2.0],
        [3.0, -3.0, 5.0, 4.0, -4.0],
        {"gradient": [0, 0, 0, 4, -4], "deconvnet": [3, 0, 5, 4, 0], "guided": [0, 0, 0, 4, 0]},
    ),
    # clip_by_value: the cap itself is active (Minimum passes the gradient on equality).
    "max_value=3": (
        {"max_value": 3.0},
        [-1.0, 0.0, 2.0, 3.0, 4.0],
        [2.0, 2.0, -2.0, 2.0, 2.0],
        {"gradient": [0, 0, -2, 2, 0], "deconvnet": [2, 2, 0, 2, 2], "guided": [0, 0, 0, 2, 0]},
    ),
    # The fused Relu6 op: z = 6 is inactive.
    "relu6": (
        {"max_value": 6.0, "threshold": 0.0},
        [0.0, 3.0, 5.0, 6.0, 7.0],
        [1.0, -1.0, 1.0, 1.0, 1.0],
        {"gradient": [0, -1, 1, 0, 0], "deconvnet": [1, 0, 1, 1, 1], "guided": [0, 0, 1, 0, 0]},
    ),
    # Greater: z = threshold is inactive.
    "threshold=0.5": (
        {"threshold": 0.5},
        [0.0, 0.4, 0.5, 0.6, 2.0],
        [1.0, 1.0, 1.0, -1.0, 1.0],
        {"gradient": [0, 0, 0, -1, 1], "deconvnet": [1, 1, 1, 0, 1], "guided": [0, 0, 0, 0, 1]},
    ),
}


@pytest.mark.parametrize("rule", RULE_NAMES)
@pytest.mark.parametrize("case", sorted(RELU_CASES))
def test_relu_rule_table(case, rule):
    kwargs, z, u, expected = RELU_CASES[case]
    layer = activations.ReLU(**kwargs)
    z, u, want = np.array([z]), np.array([u]), np.array([expected[rule]], dtype=np.float64)
    got = layer.vjp(u, [z], layer.forward(z), rule)[0]
    assert np.array_equal(got, want), f"ReLU({kwargs}) rule {rule!r}: z = {z[0]}, u = {u[0]}: {got[0]} vs {want[0]}"
    direct = relu_backward(u, layer.active(z), rule)
    assert np.array_equal(direct, want), f"relu_backward rule {rule!r} with ReLU({kwargs}).active: {direct[0]} vs {want[0]}"


def test_relu_capped_forward():
    z = np.array([[-1.0, 0.0, 0.4, 0.5, 0.6, 3.0, 5.0, 6.0, 7.0]])
    for kwargs, want in [
        ({"max_value": 3.0}, [0, 0, 0.4, 0.5, 0.6, 3, 3, 3, 3]),
        ({"max_value": 6.0}, [0, 0, 0.4, 0.5, 0.6, 3, 5, 6, 6]),
        ({"threshold": 0.5}, [0, 0, 0, 0, 0.6, 3, 5, 6, 7]),
    ]:
        got = activations.ReLU(**kwargs).forward(z)[0]
        assert np.array_equal(got, want), f"ReLU({kwargs}) forward on {z[0]}: {got} vs {want}"


@pytest.mark.parametrize("rule", RULE_NAMES)
@given(data=st.data())
def test_plain_relu_rule_property(rule, data):
    shape = data.draw(st.tuples(st.integers(1, 2), st.integers(1, 6)), label="shape")
    z, u = draw_array(data, shape, "z"), draw_array(data, shape, "u")
    got = activations.ReLU().vjp(u, [z], None, rule)[0]
    want = {
        "gradient": u * (z > 0),
        "deconvnet": np.maximum(u, 0.0),  # whatever the sign of z
        "guided": np.maximum(u, 0.0) * (z > 0),
    }[rule]
    assert np.array_equal(got, want), f"ReLU rule {rule!r}: z = {z.tolist()}, u = {u.tolist()}: {got.tolist()} vs {want.tolist()}"


# --- other activations: their ordinary derivative, checked by finite differences ---------

# Finite differences are trusted where derivatives are not far below the function's
# scale: their absolute error is ~ eps |f| / h, so at z = 8, tanh' ~ 5e-7 or a softmax
# saturated by a gap of 16 (J ~ 1e-7) sits within the table's 1e-6 of that noise. In
# [-4, 4] the smallest derivative drawn (tanh'(4) ~ 1.3e-3, softmax gap 8: ~3e-4) leaves
# orders of magnitude of margin.
SMOOTH = st.floats(-4.0, 4.0, allow_nan=False, allow_subnormal=False)
# Leaky ReLU and ELU have a kink at 0: stay 2**-4 away from it, beyond the stencil of the
# last steps of scipy's adaptive scheme (initial step 0.5 halved 9 times, reach 4 steps).
AWAY_FROM_ZERO = st.tuples(st.floats(2.0**-4, 4.0), st.sampled_from([-1.0, 1.0])).map(lambda t: t[0] * t[1])
ELEMENTWISE_PARAMS = {
    "sigmoid": None,
    "tanh": None,
    "softplus": None,
    "silu": None,
    "leaky_relu": st.sampled_from([0.01, 0.1, 0.2, 0.3]),
    "elu": st.sampled_from([0.5, 1.0, 2.0]),
}


@pytest.mark.parametrize("name", sorted(ELEMENTWISE_PARAMS))
@given(data=st.data())
def test_elementwise_vjp_finite_differences(name, data):
    params = () if ELEMENTWISE_PARAMS[name] is None else (data.draw(ELEMENTWISE_PARAMS[name], label="parameter"),)
    elements = SMOOTH if ELEMENTWISE_PARAMS[name] is None else AWAY_FROM_ZERO
    shape = data.draw(st.tuples(st.integers(1, 2), st.integers(1, 4), st.integers(1, 3)), label="shape")
    z = draw_array(data, shape, "z", elements)
    u = draw_array(data, shape, "u")
    op = activations.Elementwise(name, *params)
    got = vjp(op, u, z)[0]
    # Element-wise: the Jacobian is diagonal, so the vjp is u * f'(z), with f'(z) from
    # scipy's adaptive central differences (order 8), element by element.
    fd = derivative(op.forward, z).df
    assert_maps_close(got, u * fd, "finite-difference", f"Elementwise({name!r}, {params}) vjp at z = {z.tolist()}")


@given(st.data())
def test_softmax_vjp_finite_differences(data):
    shape = data.draw(st.tuples(st.integers(1, 2), st.integers(1, 3), st.integers(1, 4)), label="shape")
    axis = data.draw(st.sampled_from([1, 2, -1]), label="axis")
    z = draw_array(data, shape, "z", SMOOTH)
    u = draw_array(data, shape, "u")
    op = activations.Softmax(axis)
    got = vjp(op, u, z)[0]
    sample_shape, sample_axis = shape[1:], axis % 3 - 1
    for i in range(shape[0]):

        def f(t):  # (m, k) flattened samples -> (m, k) flattened softmax, for scipy's jacobian
            return activations.Softmax(sample_axis).forward(t.reshape(*sample_shape, -1)).reshape(t.shape)

        jac = jacobian(f, z[i].ravel()).df  # jac[a, b] = d softmax_a / d z_b
        want = u[i].ravel() @ jac
        # The error of u @ jac is at most ||u||_1 times that of jac's entries, whose
        # scale is max |jac|: bound by FD_TOL * max |jac| * ||u||_1. (The vjp's own
        # scale can vanish by cancellation, e.g. u constant along the axis gives 0.)
        bound = FD_TOL * np.abs(jac).max() * np.abs(u[i]).sum()
        err = np.abs(got[i].ravel() - want).max()
        assert err <= bound, (
            f"Softmax(axis={axis}) vjp, sample {i}: z = {z[i].tolist()}, u = {u[i].tolist()}: "
            f"vjp {got[i].ravel().tolist()} vs finite differences {want.tolist()}, error {err:.3g} > {bound:.3g}"
        )
