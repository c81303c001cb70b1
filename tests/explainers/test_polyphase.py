"""The polyphase input-gradient of strided convolutions (``refdeconv.explainers.polyphase``).

Covers: on drawn convolutions (extents, kernel sizes, strides per axis, ``VALID``/``SAME``/explicit
padding, 1 to 4 channels, float16/32/64), the product equals TensorFlow's ``Conv2DBackpropInput``
bitwise on integer-valued signals and kernels (every sum exact, so any misplaced tap shows), and
satisfies the projection identity ``<A^T u, v> = <u, A v>`` on real-valued float64 ones; which ops
get it (strided, narrow, NHWC, undilated, ungrouped); that explainers' traces take it for a
ResNet-like stem and keep the maps equal to the reference, and that outside a trace TensorFlow's
own gradient is untouched. The drawn networks of the property tests (at most 4 channels, strides
up to 3) go through it wherever they have a strided convolution. Fixed cases (:data:`FIXED`,
:data:`MODELS`, :data:`ELIGIBILITY`) make each kind of fault visible on every run: an odd
``SAME`` padding split, non-square strides and kernels, extents not a multiple of the stride, the
channel cap's both sides, grouped and strided-dilated ops; ``test_polyphase_faults.py`` plants the
faults and shows these checks fail.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import assume, given
from hypothesis import strategies as st

from refdeconv import DeconvNet, reference
from refdeconv.explainers import polyphase
from refdeconv.testing import TOLERANCES, assert_maps_close

L = keras.layers


@st.composite
def convolutions(draw):
    """``(input shape, kernel shape, strides, padding)`` with a stride above 1 and a non-empty output."""
    h, w = draw(st.integers(1, 12), label="H"), draw(st.integers(1, 12), label="W")
    k1, k2 = draw(st.integers(1, 7), label="K1"), draw(st.integers(1, 7), label="K2")
    strides = draw(st.tuples(st.integers(1, 4), st.integers(1, 4)).filter(lambda s: max(s) > 1), label="strides")
    mode = draw(st.sampled_from(["VALID", "SAME", "EXPLICIT"]), label="padding")
    pads = draw(st.lists(st.integers(0, 3), min_size=4, max_size=4), label="explicit pads") if mode == "EXPLICIT" else None
    c, f = draw(st.integers(1, polyphase.NARROW), label="C"), draw(st.integers(1, 5), label="F")
    b = draw(st.integers(1, 3), label="B")
    padding = [[0, 0], pads[:2], pads[2:], [0, 0]] if pads else mode
    extent = (h + pads[0] + pads[1], w + pads[2] + pads[3]) if pads else (h, w)
    assume(mode == "SAME" or (extent[0] >= k1 and extent[1] >= k2))
    return (b, h, w, c), (k1, k2, c, f), strides, padding


def _graph_op(shape, kernel_shape, strides, padding, dtype=tf.float32, dilations=1):
    """A ``Conv2D`` op built in a scratch graph, to read :func:`polyphase.padding` from."""
    with tf.Graph().as_default():
        y = tf.nn.conv2d(tf.zeros(shape, dtype), tf.zeros(kernel_shape, dtype), strides, padding, dilations=dilations)
        return y.op, tuple(y.shape)


def _products(conv, u, kernel, product):
    """``(product's, TensorFlow's Conv2DBackpropInput)`` input-gradients of ``conv`` at ``u``."""
    shape, kernel_shape, strides, padding = conv
    op, _ = _graph_op(shape, kernel_shape, strides, padding, u.dtype)
    ours = product(tf.constant(u), tf.constant(kernel), shape[1:3], strides, polyphase.padding(op))
    x = tf.zeros(shape, u.dtype)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.nn.conv2d(x, tf.constant(kernel), strides, padding)
    return ours.numpy(), tape.gradient(y, x, tf.constant(u)).numpy()


def check_bitwise(conv, dtype, seed, product=polyphase.input_gradient):
    """``product`` equals ``Conv2DBackpropInput`` bitwise on integer-valued ``u`` and kernel."""
    shape, kernel_shape, strides, padding = conv
    _, out = _graph_op(shape, kernel_shape, strides, padding, tf.float32)
    rng = np.random.default_rng(seed)
    u, kernel = rng.integers(-2, 3, out).astype(dtype), rng.integers(-2, 3, kernel_shape).astype(dtype)
    ours, theirs = _products(conv, u, kernel, product)
    assert ours.dtype == theirs.dtype == dtype, f"dtype {ours.dtype} for {dtype}, {conv}"
    assert ours.shape == theirs.shape, f"polyphase input-gradient of shape {ours.shape}, not {theirs.shape}, for {conv}"
    assert np.array_equal(ours, theirs), (
        f"polyphase input-gradient differs from Conv2DBackpropInput for {conv}: "
        f"max |difference| {np.abs(ours.astype(float) - theirs).max()}")


@given(conv=convolutions(), dtype=st.sampled_from([np.float16, np.float32, np.float64]), seed=st.integers(0, 2**16))
def test_input_gradient_equals_tensorflows_bitwise_on_integers(conv, dtype, seed):
    check_bitwise(conv, dtype, seed)


#: Convolutions on which each kind of fault shows, whatever Hypothesis draws.
FIXED = {
    "7x7 stride 2, same": ((2, 9, 9, 3), (7, 7, 3, 4), (2, 2), "SAME"),  # ResNet's stem: 4 taps a phase
    "4x4 stride 2, same, odd total": ((1, 9, 9, 1), (4, 4, 1, 2), (2, 2), "SAME"),  # pads (1, 2): top != bottom
    "3x5 strides (2, 3), same": ((2, 11, 13, 2), (3, 5, 2, 3), (2, 3), "SAME"),  # every axis its own stride
    "10x9 strides (3, 2), valid": ((1, 10, 9, 3), (3, 3, 3, 2), (3, 2), "VALID"),  # last phase rows cut by the input's end
}


@pytest.mark.parametrize("name", sorted(FIXED))
def test_fixed_cases_equal_tensorflows_bitwise(name):
    check_bitwise(FIXED[name], np.float32, 0)


@pytest.mark.parametrize("fault", ["kernel flipped", "signal one row low"])
def test_a_planted_fault_is_caught(fault):
    def planted(u, kernel, extent, strides, pads):
        if fault == "signal one row low":
            return polyphase.input_gradient(tf.pad(u, [[0, 0], [1, 0], [0, 0], [0, 0]])[:, :-1], kernel, extent, strides, pads)
        return polyphase.input_gradient(u, tf.reverse(kernel, [0, 1]), extent, strides, pads)

    with pytest.raises(AssertionError, match="differs from Conv2DBackpropInput"):
        check_bitwise(((2, 9, 9, 3), (7, 7, 3, 4), (2, 2), "SAME"), np.float32, 0, planted)


def check_adjoint(conv, seed):
    """``<A^T u, v> = <u, A v>`` in float64, within the float64 row of the tolerance table."""
    shape, kernel_shape, strides, padding = conv
    op, out = _graph_op(shape, kernel_shape, strides, padding, tf.float64)
    rng = np.random.default_rng(seed)
    u, v, kernel = rng.normal(size=out), rng.normal(size=shape), rng.normal(size=kernel_shape)
    ours = polyphase.input_gradient(tf.constant(u), tf.constant(kernel), shape[1:3], strides, polyphase.padding(op))
    assert ours.shape == v.shape, f"A^T u of shape {tuple(ours.shape)}, not the input's {v.shape}, for {conv}"
    left = float(np.sum(ours.numpy() * v))
    right = float(np.sum(u * tf.nn.conv2d(v, kernel, strides, padding).numpy()))
    scale = np.abs(ours.numpy()).sum() * np.abs(v).max() + 1e-300
    assert abs(left - right) <= TOLERANCES["float64"] * scale, f"<A^T u, v> {left} != <u, A v> {right} for {conv}"


@given(conv=convolutions(), seed=st.integers(0, 2**16))
def test_input_gradient_is_the_adjoint(conv, seed):
    check_adjoint(conv, seed)


@pytest.mark.parametrize("name", sorted(FIXED))
def test_fixed_cases_are_the_adjoint(name):
    check_adjoint(FIXED[name], 0)


def _keras_op(inputs, layer):
    """The one ``Conv2D`` op of ``layer`` called on a batch of 2 of shape ``inputs`` in a ``tf.function``."""
    graph = tf.function(layer).get_concrete_function(tf.TensorSpec((2, *inputs))).graph
    convs = [op for op in graph.get_operations() if op.type == "Conv2D"]
    assert len(convs) == 1, f"{len(convs)} Conv2D ops for {layer.get_config()} on {inputs}"
    return convs[0]


#: Which ops get the polyphase product: a zero-argument builder of the op, and the answer.
ELIGIBILITY = {
    "7x7 stride 2 on 3 channels": (lambda: _keras_op((16, 16, 3), L.Conv2D(8, 7, strides=2)), True),
    "strides (1, 2) on 4 channels": (lambda: _keras_op((16, 16, 4), L.Conv2D(8, 3, strides=(1, 2), padding="same")), True),
    "Conv1D stride 2": (lambda: _keras_op((16, 3), L.Conv1D(8, 3, strides=2)), True),
    "5 channels": (lambda: _keras_op((16, 16, 5), L.Conv2D(8, 7, strides=2)), False),  # wide: TensorFlow's kernel is as fast
    "stride 1": (lambda: _keras_op((16, 16, 3), L.Conv2D(8, 3)), False),
    "dilation 2": (lambda: _keras_op((16, 16, 3), L.Conv2D(8, 3, dilation_rate=2)), False),
    "two groups of 2 channels": (lambda: _graph_op((2, 16, 16, 4), (3, 3, 2, 8), 2, "VALID")[0], False),
    "stride 2 and dilation 2": (lambda: _graph_op((2, 16, 16, 3), (3, 3, 3, 8), 2, "VALID", dilations=2)[0], False),  # tf.nn runs it, Keras refuses
}


def check_eligible(name):
    """:func:`polyphase.eligible` gives the table's answer for the op ``name`` builds."""
    build, expected = ELIGIBILITY[name]
    assert polyphase.eligible(build()) is expected, f"{name}: eligible is not {expected}"


@pytest.mark.parametrize("name", sorted(ELIGIBILITY))
def test_which_convolutions_get_it(name):
    check_eligible(name)


def _stem(channels: int) -> keras.Model:
    """ResNet's stem, small: pad 3, ``7 x 7`` stride-2 convolution, ReLU, 3 x 3 stride-2 max-pool, head."""
    return keras.Sequential([
        keras.Input((20, 20, channels)), L.ZeroPadding2D(3), L.Conv2D(6, 7, strides=2, activation="relu"),
        L.MaxPooling2D(3, strides=2), L.Flatten(), L.Dense(5)])


#: Models whose first convolution's input-gradient ends every map: (builder, input shape).
MODELS = {
    "ResNet's stem on 3 channels": (lambda: _stem(3), (20, 20, 3)),
    "ResNet's stem on 8 channels": (lambda: _stem(8), (20, 20, 8)),
    "4x5 strides (2, 3), same, odd total": (lambda: keras.Sequential([
        keras.Input((11, 13, 2)), L.Conv2D(4, (4, 5), strides=(2, 3), padding="same", activation="relu"),
        L.Flatten(), L.Dense(5)]), (11, 13, 2)),
}


def check_explainer(name):
    """The explainer takes the product for narrow convolutions only, and its maps equal the reference."""
    build, shape = MODELS[name]
    calls, product = [], polyphase.input_gradient
    keras.utils.set_random_seed(3)
    model = build()
    x, targets = np.random.default_rng(0).normal(size=(4, *shape)).astype("float32"), np.arange(4) % 5
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(polyphase, "input_gradient", lambda *a: calls.append(a) or product(*a))
        maps = DeconvNet(model, batch_size=2).explain(x, targets).numpy()
    assert bool(calls) is (shape[-1] <= polyphase.NARROW), f"{name}: {len(calls)} polyphase products"
    want = reference.attribution(model, x.astype("float64"), np.eye(5)[targets], "deconvnet")
    assert_maps_close(maps, want, "float32", f"DeconvNet on {name}")


@pytest.mark.parametrize("name", sorted(MODELS))
def test_explainers_take_it_for_narrow_convolutions_only_and_maps_equal_the_reference(name):
    check_explainer(name)


def test_outside_a_trace_tensorflows_gradient_is_untouched():
    polyphase.install()
    with tf.Graph().as_default():
        x = tf.compat.v1.placeholder(tf.float32, [2, 20, 20, 3])
        gradient = tf.gradients(tf.nn.conv2d(x, tf.ones([7, 7, 3, 4]), 2, "VALID"), x)[0]
    assert gradient.op.type == "Conv2DBackpropInput", gradient.op.type
