"""The reference's 3-D layers, for video and volumetric nets: ``MaxPooling3D``,
``AveragePooling3D``, ``GlobalAveragePooling3D``, ``GlobalMaxPooling3D``, ``UpSampling3D``,
``ZeroPadding3D``, ``Cropping3D``, ``SpatialDropout3D`` (the identity at inference), the 3-D padding rule of ``Conv3D``, and a small video
classifier end to end (``Conv3D`` and ``Conv3DTranspose`` themselves are drawn with rank 3 in
``test_convolutions.py``).

Part of the spec covered (DESIGN.md §3; propositions 2 and 3):

- the vector-Jacobian product of every linear 3-D operation is its adjoint,
  ``<A x, y> = <x, A^T y>``, and max-pooling's is Euler's ``<maxpool(x), u> = <x, J^T u>``;
- ``MaxPooling3D``'s switches: the first maximum in row-major order over ``(d, h, w)``,
  overlapping windows accumulating, against a loop spec written here and a hand-computed
  example, on integer inputs built to tie (TensorFlow is not the oracle for ties: its
  ``MaxPool3D`` gradient with oneDNN off sends the signal to every tied maximum);
- TensorFlow's 3-D kernels plan ``"same"`` padding unclamped (``windows.Geometry``): the
  reference's forward pass follows Keras's there, its vector-Jacobian product stays the adjoint
  of that forward pass, and TensorFlow's own gradient, which is not, is pinned as such;
- against Keras: the pools on float32 models (TensorFlow has no float64 ``MaxPool3D`` or
  ``AvgPool3D`` kernel on CPU), away from ties; padding, cropping, upsampling and the global
  pools on float64 models; ``GlobalMaxPooling3D`` ties shared equally, as ``tf.reduce_max``;
- a video classifier (``Conv3D`` relu, ``MaxPooling3D``, twice, then ``Dense``): the gradient
  rule against ``tf.GradientTape``, DeconvNet and Guided Backprop against an independent
  TensorFlow computation (away from ties), and DeconvNet on tied windows against the loop spec;
- a planted fault (3-D ties broken in ``(w, h, d)`` order) fails those checks.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import assume, given
from hypothesis import strategies as st

from refdeconv import reference
from refdeconv.reference import linear, pooling, shaping
from refdeconv.reference.windows import Geometry, windows, windows_adjoint
from refdeconv.testing import assert_maps_close
from tests.reference.layer_checks import check_against_keras, tf_gradient_is_derivative
from tests.reference.test_ops import INTEGERS, assert_adjoint, draw_array, vjp
from tests.tf_rules import TF_RULES, rule_wrapper, score_gradient

L = keras.layers
F64 = {"dtype": "float64"}


def draw_volume(data, label="x", elements=None, high=4):
    """``(N, D, H, W, C)``: N <= 2, extents <= ``high``, C <= 2."""
    shape = data.draw(st.tuples(st.integers(1, 2), *[st.integers(1, high)] * 3, st.integers(1, 2)), label=f"{label} shape")
    return draw_array(data, shape, label, *([elements] if elements is not None else []))


def draw_pool(data):
    """Pool size, strides (often below the size: overlapping windows) and Keras padding."""
    size = data.draw(st.tuples(*[st.integers(1, 3)] * 3), label="pool size")
    strides = data.draw(st.tuples(*[st.integers(1, 3)] * 3), label="strides")
    return size, strides, data.draw(st.sampled_from(["valid", "same"]), label="padding")


def reference_padding(padding):
    """The reference's name for Keras's 3-D padding (TensorFlow's 3-D kernels do not clamp)."""
    return "same_unclamped" if padding == "same" else padding


# --- the loop spec of MaxPooling3D ----------------------------------------------------


def _plan(n, k, s, padding):
    """Output extent and padding before the data along one axis, as TensorFlow's 3-D kernels:
    ``"same"`` puts ``total / 2`` (C++ division, toward zero; ``total`` may be negative) before."""
    if padding == "valid":
        return ((n - k) // s + 1 if n >= k else 0), 0
    out = -(-n // s)
    total = (out - 1) * s + k - n
    return out, (abs(total) // 2) * (1 if total >= 0 else -1)


def maxpool3d_loops(x, pool, strides, padding, u):
    """Forward and vector-Jacobian product of 3-D max-pooling, one window at a time.

    Each window's taps are visited in row-major order over ``(d, h, w)``; a tap replaces the
    current winner only when strictly greater, so the first maximum wins (the switch) and
    receives the window's ``u``; windows that overlap add up at a shared switch.
    """
    n_, D, H, W, C = x.shape
    plans = [_plan(n, k, s, padding) for n, k, s in zip((D, H, W), pool, strides)]
    y = np.zeros((n_, *(o for o, _ in plans), C))
    g = np.zeros_like(x)
    for n in range(n_):
        for c in range(C):
            for out in np.ndindex(*y.shape[1:4]):
                best, switch = -np.inf, None
                for tap in np.ndindex(*pool):  # row-major over (d, h, w)
                    p = tuple(o * s - before + t for o, s, (_, before), t in zip(out, strides, plans, tap))
                    if all(0 <= q < e for q, e in zip(p, (D, H, W))) and x[(n, *p, c)] > best:
                        best, switch = x[(n, *p, c)], p
                y[(n, *out, c)] = best
                g[(n, *switch, c)] += u[(n, *out, c)]
    return y, g


@given(st.data())
def test_maxpool3d_ties_match_loop_spec(data):
    x = draw_volume(data, "x (integer)", INTEGERS)
    if data.draw(st.booleans(), label="after a ReLU"):
        x = np.maximum(x, 0.0)  # all-zero windows: every position tied
    size, strides, padding = draw_pool(data)
    op = pooling.MaxPool(size, strides, reference_padding(padding))
    y = op.forward(x)
    assume(y.size)
    u = draw_array(data, y.shape, "u (integer)", INTEGERS)  # every accumulation exact
    want_y, want_g = maxpool3d_loops(x, size, strides, padding, u)
    name = f"MaxPool3D(pool={size}, strides={strides}, padding={padding!r})"
    assert np.array_equal(y, want_y), f"{name} forward != loop spec, x = {x.tolist()}: {y.tolist()} vs {want_y.tolist()}"
    g = vjp(op, u, x)[0]
    assert np.array_equal(g, want_g), (
        f"{name} vjp != loop spec (first maximum in row-major (d, h, w) order), x = {x.tolist()}, "
        f"u = {u.tolist()}: {g.tolist()} vs {want_g.tolist()}"
    )


def test_maxpool3d_tie_rule_by_hand():
    # One 2x2x2 window, maxima 3 at (d, h, w) = (0, 1, 0) and (1, 0, 0): row-major order over
    # (d, h, w) visits (0, 1, 0) (index 2) before (1, 0, 0) (index 4); w-major order would not.
    x = np.zeros((1, 2, 2, 2, 1))
    x[0, 0, 1, 0, 0] = x[0, 1, 0, 0, 0] = 3.0
    op = pooling.MaxPool((2, 2, 2), (2, 2, 2), "valid")
    g = vjp(op, np.full((1, 1, 1, 1, 1), 5.0), x)[0]
    want = np.zeros_like(x)
    want[0, 0, 1, 0, 0] = 5.0
    assert np.array_equal(g, want), f"MaxPool3D tie: signal must go to (0, 1, 0): {np.argwhere(g)}"
    # All-zero window (after a ReLU): the first position, (0, 0, 0).
    g = vjp(op, np.full((1, 1, 1, 1, 1), 5.0), np.zeros_like(x))[0]
    assert g[0, 0, 0, 0, 0] == 5.0 and g.sum() == 5.0, f"MaxPool3D all-zero window: {np.argwhere(g)}"
    # Pool (3, 1, 1), stride 1, "same" along a zero column of depth 3: windows (pad, 0, 1),
    # (0, 1, 2), (1, 2, pad); padding never wins, switches 0, 0, 1; overlaps accumulate.
    op = pooling.MaxPool((3, 1, 1), (1, 1, 1), "same_unclamped")
    g = vjp(op, np.array([1.0, 10.0, 100.0]).reshape(1, 3, 1, 1, 1), np.zeros((1, 3, 1, 1, 1)))[0]
    assert np.array_equal(g.ravel(), [11.0, 100.0, 0.0]), f"MaxPool3D overlapping 'same' windows: {g.ravel()}"


# --- adjoint identities ------------------------------------------------------------------


class Windows:
    """:func:`windows` and :func:`windows_adjoint` as an operation (``forward`` and ``vjp``)."""

    def __init__(self, geometry):
        self.geometry = geometry

    def forward(self, x):
        return windows(x, self.geometry)

    def vjp(self, u, inputs, output, rule):
        return (windows_adjoint(u, self.geometry, inputs[0].shape[1:-1]),)


@given(st.data())
def test_volume_adjoint_identities(data):
    x = draw_volume(data, high=5)
    size, strides, padding = draw_pool(data)
    dilation = data.draw(st.tuples(*[st.integers(1, 2)] * 3), label="dilation") if max(strides) == 1 else (1, 1, 1)
    pads = [data.draw(st.tuples(st.integers(0, 2), st.integers(0, 2)), label=f"padding axis {k}") for k in range(3)]
    crops = [data.draw(st.tuples(st.integers(0, 1), st.integers(0, 1)), label=f"cropping axis {k}") for k in range(3)]
    assume(all(a + b < n for (a, b), n in zip(crops, x.shape[1:-1])))
    geometry = Geometry(size, strides, reference_padding(padding), dilation)
    assume(0 not in geometry.plan(x.shape[1:-1])[0])
    ops = {
        "windows": Windows(geometry),
        "AvgPool3D": pooling.AvgPool(size, strides, reference_padding(padding)),
        "GlobalAvgPool3D": pooling.GlobalAvgPool(data.draw(st.booleans(), label="keepdims")),
        "ZeroPadding3D": shaping.Pad(pads),
        "Cropping3D": shaping.Crop(crops),
        "UpSampling3D": shaping.Repeat(data.draw(st.tuples(*[st.integers(1, 2)] * 3), label="upsampling size")),
    }
    for name, op in ops.items():
        ax = op.forward(x)
        y = draw_array(data, ax.shape, f"y for {name}")
        (g,) = vjp(op, y, x)
        assert g.shape == x.shape, f"{name} vjp: shape {g.shape} != input shape {x.shape}"
        scale = float(np.vdot(op.forward(np.abs(x)), np.abs(y)))  # nonnegative weights: |A| = A
        assert_adjoint(name, ax, y, [x], [g], scale, f"pool {size}, strides {strides}, {padding!r}, x {x.shape}")
    op = pooling.MaxPool(size, strides, reference_padding(padding))
    y = op.forward(x)
    u = draw_array(data, y.shape, "u for MaxPool3D")
    scale = float(np.vdot(np.abs(y), np.abs(u)))
    assert_adjoint("MaxPool3D (Euler)", y, u, [x], [vjp(op, u, x)[0]], scale, f"pool {size}, strides {strides}, {padding!r}")


# --- TensorFlow's unclamped "same" padding in 3-D ---------------------------------------------


def test_conv3d_unclamped_same_padding_against_keras():
    # Extent 3, kernel 1, stride 3, "same": total padding 1 - 3 = -2, so TensorFlow's Conv3D
    # and MaxPool3D read position 1 (a 2-D convolution would read position 0).
    rng = np.random.default_rng(3)
    geometry = dict(strides=(3, 4, 1), padding="same")
    conv = keras.Sequential([keras.Input((3, 7, 2, 2), **F64), L.Conv3D(2, (1, 1, 2), use_bias=False, **geometry, **F64)])
    conv.weights[0].assign(rng.standard_normal(conv.weights[0].shape))
    pool = keras.Sequential([keras.Input((3, 7, 2, 2)), L.MaxPooling3D((1, 2, 1), **geometry)])
    x = rng.standard_normal((2, 3, 7, 2, 2))
    assert not tf_gradient_is_derivative((3, 7, 2), (1, 1, 2), (3, 4, 1), (1, 1, 1), "same")
    for model, key in ((conv, "float64"), (pool, "float32")):
        name = f"{type(model.layers[0]).__name__} with a negative 'same' padding"
        got = reference.forward(model, x)
        assert_maps_close(np.asarray(model(x.astype(model.inputs[0].dtype))), got, key, f"forward of {name}")
        y = rng.standard_normal(got.shape)
        g = reference.attribution(model, x, y, rule="gradient")
        # Both are positively homogeneous: <f(x), y> = <x, J^T y>, J the Jacobian of Keras's forward.
        if model is conv:
            kernel = np.abs(model.weights[0].numpy())
            scale = float(np.vdot(linear.Conv(kernel, None, (3, 4, 1), "same_unclamped", (1, 1, 1)).forward(np.abs(x)), np.abs(y)))
        else:
            scale = float(np.vdot(np.abs(got), np.abs(y)))
        assert_adjoint(name, got, y, [x], [g], scale, "strides (3, 4, 1)")
        # TensorFlow's gradient kernels clamp the padding: not the derivative of its forward pass.
        tape = score_gradient(model, x.astype(model.inputs[0].dtype), y)[1]
        assert np.abs(tape - g).max() > 0.1, f"{name}: TensorFlow's gradient now agrees: drop tf_gradient_is_derivative"


# --- against Keras ------------------------------------------------------------------------------


def distinct(data, shape, label):
    """Float32-exact values in ``[-4, 4]``, all different: no max-pool window ties. The step is a power of
    two, so every sum of a window's values is exact in float32 and float64 alike: a window whose values
    cancel averages to exactly 0 in both (with a step of ``8 / size`` the float64 reference got 7e-17
    where TensorFlow got 0, a relative error of 1 on a zero output)."""
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label=f"{label} seed"))
    size = int(np.prod(shape))
    step = 2.0 ** -np.ceil(np.log2(size / 8))
    return (rng.permutation(size).reshape(shape) - size // 2) * step


@pytest.mark.parametrize("kind", [L.MaxPooling3D, L.AveragePooling3D], ids=["max", "average"])
@given(data=st.data())
def test_3d_pooling_against_keras(kind, data):
    size, strides, padding = draw_pool(data)
    shape = data.draw(st.tuples(st.integers(1, 2), *[st.integers(1, 5)] * 3, st.integers(1, 2)), label="x shape")
    x = distinct(data, shape, "x")
    assume(tf_gradient_is_derivative(x.shape[1:-1], size, strides, (1, 1, 1), padding))
    assume(padding == "same" or all(n >= k for n, k in zip(x.shape[1:-1], size)))
    # float32: TensorFlow has no float64 MaxPool3D or AvgPool3D kernel on CPU.
    model = keras.Sequential([keras.Input(x.shape[1:]), kind(size, strides=strides, padding=padding)])
    targets = distinct(data, (len(x), *model.outputs[0].shape[1:]), "targets")
    out, grad = score_gradient(model, x, targets)
    context = f"{kind.__name__}({size}, strides={strides}, padding={padding!r}) on x {x.shape}"
    assert_maps_close(out, reference.forward(model, x), "float32", f"forward of {context}")
    got = reference.attribution(model, x, targets, rule="gradient")
    assert_maps_close(grad, got, "float32", f"GradientTape vs reference, {context}")


@pytest.mark.parametrize("pool", [L.GlobalAveragePooling3D, L.GlobalMaxPooling3D], ids=["average", "max"])
@given(data=st.data())
def test_3d_shaping_against_keras(pool, data):
    pad = data.draw(st.sampled_from([1, (1, 0, 2), ((0, 1), (2, 0), (1, 1))]), label="padding")
    size = data.draw(st.sampled_from([1, 2, (1, 2, 3)]), label="upsampling size")
    crop = data.draw(st.sampled_from([0, 1, (1, 0, 2), ((0, 1), (2, 0), (1, 1))]), label="cropping")
    keepdims = data.draw(st.booleans(), label="keepdims")
    layers = [L.Conv3D(2, 2, **F64), L.SpatialDropout3D(0.5, **F64), L.ZeroPadding3D(pad, **F64),
              L.UpSampling3D(size, **F64), L.Cropping3D(crop, **F64),
              pool(keepdims=keepdims, **F64), L.Flatten(**F64), L.Dense(3, **F64)]
    model = keras.Sequential([keras.Input((4, 4, 4, 2), **F64), *layers])
    for w in model.weights:
        w.assign(draw_array(data, w.shape, f"weight {w.path}"))
    x = draw_array(data, (2, 4, 4, 4, 2), "x")
    targets = draw_array(data, (2, 3), "targets")
    check_against_keras(model, x, targets, f"ZeroPadding3D({pad}) > UpSampling3D({size}) > Cropping3D({crop}) > {pool.__name__}")


@pytest.mark.parametrize("keepdims", [False, True])
def test_global_max_pooling3d_ties_against_tape(keepdims):
    # Integer inputs tie often; tf.reduce_max's gradient shares the signal equally among them.
    model = keras.Sequential([keras.Input((2, 3, 2, 2), **F64), L.GlobalMaxPooling3D(keepdims=keepdims, **F64)])
    x = np.random.default_rng(4).integers(0, 2, (3, 2, 3, 2, 2)).astype(np.float64)
    x[0] = 0.0  # every position tied
    targets = np.arange(1.0, 7.0).reshape(3, *model.outputs[0].shape[1:])
    check_against_keras(model, x, targets, f"GlobalMaxPooling3D(keepdims={keepdims}) on tied integers")


# --- a video classifier, end to end -------------------------------------------------------


def video_classifier(seed):
    """``(N, 4, 8, 8, 2)`` clips: Conv3D relu, MaxPooling3D, Conv3D relu, MaxPooling3D, Dense (float32:
    TensorFlow has no float64 MaxPool3D kernel on CPU), with seeded weights, clips and targets."""
    model = keras.Sequential([
        keras.Input((4, 8, 8, 2)), L.Conv3D(3, 3, padding="same", activation="relu"), L.MaxPooling3D(2),
        L.Conv3D(4, (2, 3, 3), padding="same", activation="relu"), L.MaxPooling3D(2), L.Flatten(), L.Dense(5),
    ])
    rng = np.random.default_rng(seed)
    for w in model.weights:
        w.assign(rng.normal(0.3 if "bias" in w.path else 0.0, 0.5, w.shape))
    return model, rng.normal(size=(2, 4, 8, 8, 2)).astype(np.float32), rng.normal(size=(2, 5))


def tf_video_map(model, x, targets, rule):
    """The map of :func:`video_classifier` under ``rule``, by TensorFlow alone: the layers written
    out as ``tf.nn`` ops on the model's weights, each ReLU a ``tf.custom_gradient`` with the rule
    (``tests.tf_rules``), max-pooling's gradient TensorFlow's own. Returns the map and the
    pre-activations of both ReLUs."""
    conv1, conv2, dense = ([w.numpy() for w in layer.weights] for layer in model.layers if layer.weights)
    relu = rule_wrapper(rule)(tf.nn.relu)
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        z1 = tf.nn.conv3d(xt, conv1[0], [1] * 5, "SAME") + conv1[1]
        z2 = tf.nn.conv3d(tf.nn.max_pool3d(relu(z1), 2, 2, "VALID"), conv2[0], [1] * 5, "SAME") + conv2[1]
        out = tf.reshape(tf.nn.max_pool3d(relu(z2), 2, 2, "VALID"), (len(x), -1)) @ dense[0] + dense[1]
        score = tf.reduce_sum(out * tf.cast(targets, out.dtype))
    return tape.gradient(score, xt).numpy(), (z1.numpy(), z2.numpy())


def _closest_rivals(h):
    """Per 2x2x2 window of ``h`` (``(N, D, H, W, C)``, even extents): winner minus runner-up."""
    n, d, hh, w, c = h.shape
    blocks = h.reshape(n, d // 2, 2, hh // 2, 2, w // 2, 2, c).transpose(0, 1, 3, 5, 7, 2, 4, 6).reshape(-1, 8)
    top = np.sort(blocks, axis=1)
    return top[:, -1] - top[:, -2]


@pytest.fixture(scope="module")
def video():
    model, x, targets = video_classifier(seed=5)
    _, (z1, z2) = tf_video_map(model, x, targets, "gradient")
    for name, z in (("first", z1), ("second", z2)):  # the comparison's preconditions, in float32
        gap, scale = _closest_rivals(np.maximum(z, 0)).min(), np.abs(z).max()
        assert gap > 1e-4 * scale, f"{name} max-pool: a window ties within {gap:.3g} (scale {scale:.3g}): pick another seed"
        assert np.abs(z).min() > 1e-5 * scale, f"{name} ReLU: a pre-activation within rounding of 0: pick another seed"
    return model, x, targets


@pytest.mark.parametrize("rule", ["gradient", "deconvnet", "guided"])
def test_video_classifier_against_tensorflow(video, rule):
    model, x, targets = video
    got = reference.attribution(model, x, targets, rule=rule)
    want = tf_video_map(model, x, targets, rule)[0]
    assert_maps_close(want, got, "float32", f"video classifier, {rule}, tf.nn ops vs reference")
    if rule == "gradient":
        assert_maps_close(score_gradient(model, x, targets)[1], got, "float32", "video classifier, GradientTape vs reference")


@pytest.mark.parametrize("rule", ["gradient", "deconvnet", "guided"])
def test_video_deconvnet_through_tied_windows(rule):
    # Integer clips through ReLU then overlapping 2x2x2 windows (stride 1): zero windows tie
    # everywhere; every value is an exact integer, so the loop spec's map must be met exactly.
    rng = np.random.default_rng(6)
    model = keras.Sequential([keras.Input((3, 4, 4, 1)), L.ReLU(), L.MaxPooling3D(2, strides=1), L.Flatten(),
                              L.Dense(3, use_bias=False)])
    model.layers[-1].kernel.assign(rng.integers(-1, 2, model.layers[-1].kernel.shape))
    x = rng.integers(-2, 3, (2, 3, 4, 4, 1)).astype(np.float64)
    targets = rng.integers(-2, 3, (2, 3)).astype(np.float64)
    u = (targets @ model.layers[-1].kernel.numpy().T).reshape(2, 2, 3, 3, 1)
    g = maxpool3d_loops(np.maximum(x, 0), (2, 2, 2), (1, 1, 1), "valid", u)[1]
    want = TF_RULES[rule](tf.constant(g), tf.constant((x > 0).astype(np.float64))).numpy()
    got = reference.attribution(model, x, targets, rule=rule)
    assert np.array_equal(got, want), f"video net with tied windows, {rule}: reference {got.ravel()} vs loop spec {want.ravel()}"


def test_planted_tie_order_is_caught(monkeypatch):
    # A wrong 3-D tie rule: the first maximum in row-major order over (w, h, d), not (d, h, w).
    def w_major(window_values):
        k = window_values.shape[-2]
        if k != 8:
            return np.argmax(window_values, axis=-2)
        order = np.array([0, 4, 2, 6, 1, 5, 3, 7])  # (d, h, w) index of the taps in (w, h, d) order
        return order[np.argmax(window_values[..., order, :], axis=-2)]

    monkeypatch.setattr(pooling, "switch_index", w_major)
    for check in (test_maxpool3d_tie_rule_by_hand, lambda: test_video_deconvnet_through_tied_windows("deconvnet")):
        with pytest.raises(AssertionError):
            check()
