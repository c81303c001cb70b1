"""P2. Filtering with transposed filters is the adjoint of convolution: `<conv(x), y> = <x, conv^T(y)>`.

Statement
---------
Let `conv` be TensorFlow's convolution (a cross-correlation) of an NHWC (or
NWC) input with an HWIO (or WIO) kernel `K`, with strides `s`, dilation `d`
and `"valid"` or `"same"` padding, and no bias. Let `conv^T` be the operation
DeconvNet uses to go down through a convolutional layer: the same windows,
with the filters transposed (input and output channels swapped) and flipped
spatially. Then for all `x` and `y` of matching shapes

    <conv(x), y> = <x, conv^T(y)>,

i.e. `conv^T` is the adjoint (the vector-Jacobian product) of `conv`, and it is
what the reference's `refdeconv.reference.linear.Conv.vjp`, TensorFlow's
`conv_transpose` and TensorFlow's gradient of `convolution` all compute.

Assumptions
-----------
- Cross-correlation as TensorFlow defines it:
  `y[o, c_out] = sum_{k, c_in} x_pad[o s + k d, c_in] K[k, c_in, c_out]`
  (one spatial index shown; 2-D is the same per axis), where `x_pad` is `x`
  with `top` zeros before it (and some after), `top = floor(total / 2)` for
  `"same"` and `0` for `"valid"`.
- A bias `b` makes the layer affine, `x -> conv(x) + b`; its adjoint is that
  of its linear part, so the bias never enters the backward pass.

Derivation
----------
1. Both sides of the identity are the same finite triple sum:
   `<conv(x), y> = sum_{o, k, c_in, c_out} x_pad[o s + k d, c_in] K[k, c_in, c_out] y[o, c_out]`.
   Regrouping by the input position `p = o s + k d` gives
   `sum_{p, c_in} x_pad[p, c_in] (sum_{o, k: o s + k d = p} sum_{c_out} K[k, c_in, c_out] y[o, c_out])`,
   and the bracket is `conv^T(y)[p, c_in]`: every output position scatters
   `K[k] y[o]` (transposed filter: sum over `c_out`) back onto the positions
   its window read. Positions on the padding are dropped (`x_pad` is zero there).
2. Written as a correlation: insert `s - 1` zeros between the entries of `y`
   (`y_up[o s] = y[o]`), pad it with `(kh - 1) d` zeros before, and substitute
   `k' = kh - 1 - k`:
   `conv^T(y)_pad[p] = sum_{k'} y_up_pad[p + k' d] K[kh - 1 - k']^T`,
   a valid, stride-1, dilation-`d` correlation with the *flipped, transposed*
   filters `K'[k', c_out, c_in] = K[kh - 1 - k', c_in, c_out]`, cropped to
   `[top, top + n)`. This is Zeiler and Fergus's "flipped vertically and
   horizontally" filters.
3. Roundoff: both sides sum the same products in different orders, so
   they agree to a small multiple of the unit roundoff times the sum of the
   absolute products, `<conv_|K|(|x|), |y|>`; that is the scale the identity
   is checked at.

References
----------
- M. D. Zeiler, R. Fergus, "Visualizing and Understanding Convolutional
  Networks", ECCV 2014, arXiv:1311.2901, sec. 2.1 ("Filtering").
- V. Dumoulin, F. Visin, "A guide to convolution arithmetic for deep
  learning", arXiv:1603.07285, ch. 4 (transposed convolution).
- The projection identity `<v, J^T u> = <J v, u>` used by JAX `check_grads`.
"""

from __future__ import annotations

import tensorflow as tf
from _common import assert_maps_close, assert_maps_differ, assert_scalar_close, np, pytest

from refdeconv.reference.linear import Conv

#: (kernel size, strides, padding, dilation, input extent) per case; 1-D cases have 1-tuples.
CASES = [
    ((3, 3), (1, 1), "valid", (1, 1), (7, 6)),
    ((3, 2), (2, 2), "same", (1, 1), (7, 8)),
    ((2, 3), (2, 3), "valid", (1, 1), (9, 10)),
    ((3, 3), (1, 1), "same", (2, 2), (8, 7)),
    ((3, 2), (1, 1), "valid", (2, 1), (9, 6)),
    ((1, 1), (3, 3), "same", (1, 1), (5, 7)),
    ((3,), (1,), "valid", (1,), (9,)),
    ((4,), (2,), "same", (1,), (11,)),
    ((3,), (1,), "same", (3,), (10,)),
    ((2,), (3,), "valid", (1,), (10,)),
]
IN_CHANNELS, OUT_CHANNELS = 2, 3


def draw(case, seed: int = 0):
    """A kernel, an input batch, and the reference op of one case.

    Returns
    -------
    (Conv, kernel, x, y)
        ``y`` is a random array of the convolution output's shape.
    """
    size, strides, padding, dilation, extent = case
    rng = np.random.default_rng(seed)
    kernel = rng.normal(size=(*size, IN_CHANNELS, OUT_CHANNELS))
    x = rng.normal(size=(2, *extent, IN_CHANNELS))
    op = Conv(kernel, None, strides, padding, dilation)
    y = rng.normal(size=op.forward(x).shape)
    return op, kernel, x, y


def tf_conv(x, kernel, case):
    """TensorFlow's convolution of ``x`` (float64) with the case's geometry."""
    _, strides, padding, dilation, _ = case
    return tf.nn.convolution(x, kernel, strides=strides, padding=padding.upper(), dilations=dilation)


def tf_vjp(x, kernel, y, case) -> np.ndarray:
    """TensorFlow's own gradient of ``<conv(x), y>`` with respect to ``x``."""
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        score = tf.reduce_sum(tf_conv(xt, kernel, case) * y)
    return tape.gradient(score, xt).numpy()


def tf_conv_transpose(y, kernel, shape, case) -> np.ndarray:
    """``tf.nn.conv_transpose`` (dilation 1 only on CPU): TensorFlow's transposed convolution."""
    _, strides, padding, _, _ = case
    return tf.nn.conv_transpose(y, kernel, shape, strides=strides, padding=padding.upper()).numpy()


def flipped_filter_adjoint(kernel, y, case) -> np.ndarray:
    """Derivation step 2: upsample ``y``, pad, correlate with the flipped transposed filters, crop."""
    size, strides, padding, dilation, extent = case
    if len(size) == 1:  # a 1-D case is a 2-D one of height 1
        kernel, y = kernel[None], y[:, None]
        size, strides, dilation, extent = (1, *size), (1, *strides), (1, *dilation), (1, *extent)
    flipped = kernel[::-1, ::-1].transpose(0, 1, 3, 2)
    n, ho, wo, c = y.shape
    up = np.zeros((n, (ho - 1) * strides[0] + 1, (wo - 1) * strides[1] + 1, c))
    up[:, :: strides[0], :: strides[1]] = y
    pads = []
    for axis in range(2):
        reach = (size[axis] - 1) * dilation[axis]
        out = (ho, wo)[axis]
        total = max((out - 1) * strides[axis] + reach + 1 - extent[axis], 0) if padding == "same" else 0
        top = total // 2
        after = max(top + extent[axis] - up.shape[axis + 1], 0)  # valid output covers [0, top + extent)
        pads.append((reach, after, top))
    padded = np.pad(up, ((0, 0), (pads[0][0], pads[0][1]), (pads[1][0], pads[1][1]), (0, 0)))
    full = Conv(flipped, None, (1, 1), "valid", dilation).forward(padded)
    t0, t1 = pads[0][2], pads[1][2]
    x_star = full[:, t0 : t0 + extent[0], t1 : t1 + extent[1]]
    return x_star[:, 0] if len(case[0]) == 1 else x_star


def check_adjoint_identity(case) -> None:
    """``<conv(x), y> = <x, conv^T(y)>`` for the reference op and for TensorFlow's pair."""
    op, kernel, x, y = draw(case)
    scale = float(np.sum(Conv(np.abs(kernel), None, *case[1:4]).forward(np.abs(x)) * np.abs(y)))
    lhs = float(np.sum(op.forward(x) * y))
    rhs = float(np.sum(x * op.vjp(y, [x], None, "deconvnet")[0]))
    assert_scalar_close(rhs, lhs, scale, context=f"reference {case}")
    tf_lhs = float(tf.reduce_sum(tf_conv(x, kernel, case) * y))
    assert_scalar_close(tf_lhs, lhs, scale, context=f"TensorFlow forward {case}")
    assert_scalar_close(float(np.sum(x * tf_vjp(x, kernel, y, case))), tf_lhs, scale, context=f"TensorFlow {case}")


def check_witnesses(case) -> None:
    """The reference's ``Conv.vjp`` equals TensorFlow's gradient, ``conv_transpose`` and the flipped-filter form."""
    op, kernel, x, y = draw(case, seed=1)
    mine = op.vjp(y, [x], None, "deconvnet")[0]
    assert_maps_close(mine, tf_vjp(x, kernel, y, case), "float64", f"Conv.vjp vs tf gradient {case}")
    assert_maps_close(mine, flipped_filter_adjoint(kernel, y, case), "float64", f"Conv.vjp vs flipped filters {case}")
    if all(d == 1 for d in case[3]):
        transpose = tf_conv_transpose(y, kernel, x.shape, case)
        assert_maps_close(mine, transpose, "float64", f"Conv.vjp vs tf.nn.conv_transpose {case}")
    biased = Conv(kernel, np.ones(OUT_CHANNELS), *case[1:4])
    np.testing.assert_array_equal(biased.vjp(y, [x], None, "deconvnet")[0], mine)  # the bias never enters


@pytest.mark.parametrize("case", CASES, ids=str)
def test_adjoint_identity(case):
    check_adjoint_identity(case)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_transposed_filters_three_witnesses(case):
    check_witnesses(case)


def test_unflipped_filters_are_not_the_adjoint():
    """The limit: transposing the channels without flipping the window gives another, wrong map."""
    case = CASES[0]
    op, kernel, x, y = draw(case)
    unflipped = Conv(kernel.transpose(0, 1, 3, 2), None, (1, 1), "valid", (1, 1))
    wrong = unflipped.forward(np.pad(y, ((0, 0), (2, 2), (2, 2), (0, 0))))
    assert_maps_differ(wrong, op.vjp(y, [x], None, "deconvnet")[0], context="unflipped filters")


if __name__ == "__main__":
    import sys

    sys.exit(pytest.main([__file__, "-q"]))
