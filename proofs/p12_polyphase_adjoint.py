"""P12. The adjoint of a strided convolution is one stride-1 convolution of its phases, interleaved.

Statement
---------
Let `conv` be TensorFlow's 2-D convolution (a cross-correlation) of an NHWC input `x` of
extent `(H, W)` and `C` channels with an HWIO kernel `K` of size `(K1, K2)`, strides
`(s1, s2)`, dilation 1, padded by `(top, left)` before. For each phase `(r1, r2)`,
`0 <= r < s`, let `K_r[m1, m2] = K[s1 m1 + r1, s2 m2 + r2]` (zero past the kernel), with
`M = ceil(K / s)` taps per axis. Then the adjoint `conv^T` (the vector-Jacobian product,
P2) is

    conv^T(u)[s1 q1 + r1 - top, s2 q2 + r2 - left] = sum_m u[q - m] K_r[m]^T,

i.e. a stride-1 "full" correlation of `u` with the phase kernels reversed, whose
`s1 s2 C` output channels, interleaved (a depth-to-space), give `conv^T(u)` on the
padded grid, cropped to the input. This is what `refdeconv.explainers.polyphase`
computes, inside refdeconv's traces, for strided convolutions of at most four channels.

Assumptions
-----------
- Dilation 1, one group, NHWC (the polyphase module uses TensorFlow's kernel otherwise).
- Padding `top = floor(total / 2)` for `"same"`, 0 for `"valid"`, or given explicitly.

Derivation
----------
1. One axis (channels carried along): `y[o] = sum_k x_pad[s o + k] K[k]`, so by P2
   `x*_pad[i] = sum_{o, k: s o + k = i} u[o] K[k]^T`.
2. Write `i = s q + r`, `0 <= r < s`. The constraint `s o + k = s q + r` forces
   `k ≡ r (mod s)`: `k = s m + r` and `o = q - m`. So
   `x*_pad[s q + r] = sum_{m = 0}^{M_r - 1} u[q - m] K[s m + r]^T`, where only taps of the
   phase `r` appear: a *convolution* of `u` with `K_r`, or a correlation with `K_r`
   reversed (`j = M - 1 - m`) of `u` padded by `M - 1` zeros before. Taps past the kernel
   are zero, so every phase can use `M = ceil(K / s)` taps.
3. Every phase reads the same window of `u`, so the `s` phases (of each channel) are the
   output channels of one correlation. In 2-D the phases are pairs `(r1, r2)`, and output
   channel `(r1 s2 + r2) C + c` lands at `(s1 q1 + r1, s2 q2 + r2, c)`: a depth-to-space.
4. Rows `i` of the padded grid below `top` or past `top + H` are padding: dropped. Rows
   `q >= ceil((top + H) / s)` are not needed, and `u[o]` with `o >= q` never reaches a
   needed row, so `u` is padded (or read) up to that many rows only.
5. Cost: the correlation makes `M1 M2 s1 s2` multiplications per output position and
   channel pair where the direct product makes `K1 K2`: 64/49 ≈ 1.31 for ResNet50's
   `7 x 7` stride-2 stem, 16/9 for `3 x 3` stride 2, and 4 for `1 x 1` stride 2.
6. Roundoff: the same products are summed in another order (P2, step 3); on integer-valued
   `u` and `K` every partial sum is exact, so the two sides are bitwise equal.

References
----------
- P. P. Vaidyanathan, "Multirate Systems and Filter Banks", Prentice Hall, 1993, ch. 4
  (polyphase decomposition of an interpolation filter).
- W. Shi et al., "Real-Time Single Image and Video Super-Resolution Using an Efficient
  Sub-Pixel Convolutional Neural Network", CVPR 2016, arXiv:1609.05158 (a transposed
  strided convolution as a stride-1 convolution and a depth-to-space).
- V. Dumoulin, F. Visin, "A guide to convolution arithmetic for deep learning",
  arXiv:1603.07285, ch. 4.
"""

from __future__ import annotations

import tensorflow as tf
from _common import assert_maps_close, assert_maps_differ, np, pytest

from refdeconv.explainers import polyphase
from refdeconv.reference.linear import Conv

#: (kernel size, strides, padding, input extent, channels)
CASES = [
    ((7, 7), (2, 2), "valid", (14, 13), 3),  # ResNet's stem, after its ZeroPadding2D
    ((3, 3), (2, 2), "same", (9, 8), 3),  # MobileNet's stem
    ((1, 1), (2, 2), "valid", (7, 7), 2),  # a tap per phase, most phases empty
    ((2, 2), (3, 3), "valid", (10, 11), 1),  # kernel smaller than the stride: rows nobody reads
    ((5, 3), (3, 2), "same", (11, 7), 4),
    ((1, 4), (1, 3), "same", (1, 12), 2),  # a Conv1D, as Keras writes it
]
FILTERS = 3


def draw(case, seed: int = 0):
    """``(Conv, kernel, u)``: the reference op of one case, its kernel, and a signal at its output."""
    size, strides, padding, extent, channels = case
    rng = np.random.default_rng(seed)
    kernel = rng.normal(size=(*size, channels, FILTERS))
    op = Conv(kernel, None, strides, padding, (1, 1))
    u = rng.normal(size=op.forward(np.zeros((2, *extent, channels))).shape)
    return op, kernel, u


def _pads(case) -> tuple:
    size, strides, padding, extent, _ = case
    if padding == "valid":
        return (0, 0), (0, 0)
    totals = [max((-(-n // s) - 1) * s + k - n, 0) for n, k, s in zip(extent, size, strides)]
    return tuple((t // 2, t - t // 2) for t in totals)


def phases_by_hand(kernel, u, case, reverse: bool = True) -> np.ndarray:
    """Derivation steps 2-4 in NumPy, phase by phase, with explicit loops over the taps."""
    size, strides, _, extent, channels = case
    (top, _), (left, _) = _pads(case)
    m = [-(-k // s) for k, s in zip(size, strides)]
    q = [-(-(t + n) // s) for t, n, s in zip((top, left), extent, strides)]
    grid = np.zeros((u.shape[0], q[0] * strides[0], q[1] * strides[1], channels))
    for r1 in range(strides[0]):
        for r2 in range(strides[1]):
            for m1 in range(m[0]):
                for m2 in range(m[1]):
                    k1, k2 = strides[0] * m1 + r1, strides[1] * m2 + r2
                    if k1 >= size[0] or k2 >= size[1]:
                        continue  # a tap past the kernel: zero
                    t1, t2 = (m1, m2) if reverse else (m[0] - 1 - m1, m[1] - 1 - m2)
                    for q1 in range(q[0]):
                        for q2 in range(q[1]):
                            o1, o2 = q1 - t1, q2 - t2
                            if 0 <= o1 < u.shape[1] and 0 <= o2 < u.shape[2]:
                                grid[:, strides[0] * q1 + r1, strides[1] * q2 + r2] += u[:, o1, o2] @ kernel[k1, k2].T
    return grid[:, top:top + extent[0], left:left + extent[1]]


def check_phases(case) -> None:
    """The phase form (by hand, and ``polyphase.input_gradient``) equals ``Conv.transpose``, the VJP of P2."""
    op, kernel, u = draw(case)
    want = op.transpose(u, case[3])
    assert_maps_close(phases_by_hand(kernel, u, case), want, "float64", f"phases by hand vs Conv.vjp {case}")
    got = polyphase.input_gradient(tf.constant(u), tf.constant(kernel), case[3], case[1], _pads(case))
    assert_maps_close(got.numpy(), want, "float64", f"polyphase.input_gradient vs Conv.vjp {case}")


def check_integers_bitwise(case) -> None:
    """Step 6: on integer data, ``polyphase.input_gradient`` equals TensorFlow's gradient bitwise."""
    size, strides, padding, extent, channels = case
    rng = np.random.default_rng(1)
    kernel = rng.integers(-3, 4, (*size, channels, FILTERS)).astype(np.float32)
    x = tf.zeros((2, *extent, channels))
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.nn.conv2d(x, kernel, strides, padding.upper())
    u = rng.integers(-3, 4, y.shape).astype(np.float32)
    got = polyphase.input_gradient(tf.constant(u), tf.constant(kernel), extent, strides, _pads(case))
    np.testing.assert_array_equal(got.numpy(), tape.gradient(y, x, u).numpy(), err_msg=f"{case}")


@pytest.mark.parametrize("case", CASES, ids=str)
def test_phases_are_the_adjoint(case):
    check_phases(case)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_bitwise_on_integers(case):
    check_integers_bitwise(case)


def test_cost_ratio():
    """Step 5: multiplications of the phase form over the direct product."""
    ratio = {k: (-(-k // s)) ** 2 * s * s / k ** 2 for k, s in ((7, 2), (3, 2), (1, 2))}
    assert ratio == pytest.approx({7: 64 / 49, 3: 16 / 9, 1: 4.0})


def test_unreversed_phase_taps_are_not_the_adjoint():
    """The limit: the phase kernels taken in order (a correlation, not a convolution) give another map."""
    case = CASES[0]
    op, kernel, u = draw(case)
    assert_maps_differ(phases_by_hand(kernel, u, case, reverse=False), op.transpose(u, case[3]),
                       context="unreversed phase taps")


if __name__ == "__main__":
    import sys

    sys.exit(pytest.main([__file__, "-q"]))
