"""P9. Layer order matters: conv->ReLU->pool and conv->pool->ReLU compute the same forward, not the same map.

Statement
---------
Let `A = dense . flatten . maxpool . relu . conv` and
`B = dense . flatten . relu . maxpool . conv`, with the same weights. Then

1. `A(x) = B(x)` for every `x`, exactly (bitwise in floating point);
2. with **overlapping** pooling windows (stride < pool size) their DeconvNet
   maps differ in general (a seeded example below);
3. with non-overlapping windows the maps are equal whenever every pooling
   window has a positive maximum; without that condition they differ too,
   through tied all-zero windows.

So a DeconvNet map is a property of the written network, not of the function
it computes.

Assumptions
-----------
- Windowed max-pooling with the switch rule of P3; plain ReLU; default operator.

Derivation
----------
1. Forward: `relu` is nondecreasing, so for any window `W`,
   `max_{p in W} relu(z_p) = relu(max_{p in W} z_p)`: if the maximum `M` is
   positive both sides are `M`, otherwise both are `0`. No rounding is
   involved (`max` and `relu` return one of their inputs or 0), so the outputs
   are bitwise equal.
2. Backward of `A` from the pooled signal `u` (one value per window):
   unpool first, then the ReLU rule: `relu(sum_{w: S_A(w) = p} u_w)`, with
   `S_A` the switches of `relu(z)`. Backward of `B`: the ReLU rule first,
   then unpool: `sum_{w: S_B(w) = p} relu(u_w)`, with `S_B` the switches of `z`.
3. Two sources of difference:
   a. *Overlap.* A position `p` that is the switch of two windows with signals
      of opposite signs gets `relu(u_1 + u_2)` in `A` but
      `relu(u_1) + relu(u_2)` in `B`. Example: `u_1 = 1`, `u_2 = -1`:
      `0` versus `1`. Only overlapping windows can share a switch.
   b. *Ties.* In a window whose `z` are all negative, `relu(z)` is all zero,
      so `S_A` is the window's first position (P3) while `S_B` is the
      argmax of `z`.
4. If windows do not overlap and every window maximum is positive, `S_A = S_B`
   (the positive maximum of `z` is the maximum of `relu(z)`) and each position
   receives at most one signal, so `relu(unpool(u)) = unpool(relu(u))`:
   the maps are equal. Both conditions are needed (counterexamples 3a, 3b).

References
----------
- M. D. Zeiler, R. Fergus, "Visualizing and Understanding Convolutional
  Networks", ECCV 2014, arXiv:1311.2901, sec. 2.1 (their layer order:
  filtering, rectification, pooling) and fig. 3 (their net: overlapping 3x3
  max-pooling with stride 2).
- DESIGN.md section 3 (switches and ties).
"""

from __future__ import annotations

import tensorflow as tf
from _common import (IMPLEMENTATIONS, assert_maps_close, assert_maps_differ, keras, layer, maps, np,
                     pytest, randomize, reference, sequential)

L = keras.layers
CLASSES, SHAPE = 3, (9, 9, 2)


def pair(seed: int, pool: int, stride: int, positive_windows: bool = False):
    """Models ``A`` (conv->ReLU->pool) and ``B`` (conv->pool->ReLU) sharing their weights.

    With ``positive_windows`` the convolution's bias is raised so that every
    pre-activation, hence every window maximum, is positive on the inputs of :func:`draw`.
    """
    def build(order):
        return sequential(SHAPE, layer(L.Conv2D, 4, 3, name="conv"), *order, layer(L.Flatten), layer(L.Dense, CLASSES))

    a = build([layer(L.ReLU), layer(L.MaxPooling2D, pool, strides=stride)])
    b = build([layer(L.MaxPooling2D, pool, strides=stride), layer(L.ReLU)])
    randomize(a, seed)
    if positive_windows:
        kernel, bias = a.get_layer("conv").get_weights()
        z = reference.forward(a, draw(seed), "conv") - bias
        a.get_layer("conv").set_weights([kernel, 1.0 - z.min(axis=(0, 1, 2))])
    b.set_weights(a.get_weights())
    return a, b


def draw(seed: int, n: int = 3) -> np.ndarray:
    """A seeded batch of inputs."""
    return np.random.default_rng([seed, 12]).normal(size=(n, *SHAPE))


def targets(n: int) -> np.ndarray:
    """Real-valued targets of both signs (the pooled signal then has both signs)."""
    return np.tile(np.array([[1.0, -1.0, 0.5]]), (n, 1))


def check_same_forward(seed: int, pool: int, stride: int) -> None:
    """Derivation step 1: bitwise equal outputs, in TensorFlow and in the reference."""
    a, b = pair(seed, pool, stride)
    x = draw(seed)
    np.testing.assert_array_equal(a(tf.constant(x)).numpy(), b(tf.constant(x)).numpy())
    np.testing.assert_array_equal(reference.forward(a, x), reference.forward(b, x))
    np.testing.assert_array_equal(reference.forward(a, x, 2), reference.forward(b, x, 2))  # pooled, rectified


def check_overlap_changes_the_map(impl: str, seed: int = 0, positive_windows: bool = False) -> None:
    """Step 3a (and, with ``positive_windows``, 3a alone): overlapping 3x3 windows, stride 2."""
    a, b = pair(seed, 3, 2, positive_windows)
    x = draw(seed)
    ma, mb = maps(a, x, targets(len(x)), "deconvnet", impl), maps(b, x, targets(len(x)), "deconvnet", impl)
    assert np.abs(ma).max() > 0 and np.abs(mb).max() > 0
    assert_maps_differ(ma, mb, context=f"{impl} overlapping pooling, positive windows={positive_windows}")


def check_no_overlap_positive_windows(impl: str, seed: int = 0) -> None:
    """Step 4: non-overlapping 2x2 windows, every window maximum positive: equal maps."""
    a, b = pair(seed, 2, 2, positive_windows=True)
    x = draw(seed)
    assert (reference.forward(a, x, "conv") > 0).all()
    ma, mb = maps(a, x, targets(len(x)), "deconvnet", impl), maps(b, x, targets(len(x)), "deconvnet", impl)
    assert_maps_close(ma, mb, "float64", f"{impl} non-overlapping pooling, positive windows")


def check_no_overlap_tied_windows(impl: str, seed: int = 0) -> None:
    """Step 3b: non-overlapping windows, some all-negative (tied after the ReLU): different maps."""
    a, b = pair(seed, 2, 2)
    x = draw(seed)
    pooled = reference.forward(b, x, 1)  # layers: conv, pool, relu, flatten, dense
    assert (pooled < 0).any(), "the example needs a window whose maximum is negative"
    ma, mb = maps(a, x, targets(len(x)), "deconvnet", impl), maps(b, x, targets(len(x)), "deconvnet", impl)
    assert_maps_differ(ma, mb, context=f"{impl} non-overlapping pooling, tied windows")


@pytest.mark.parametrize("pool, stride", [(3, 2), (3, 1), (2, 2)])
@pytest.mark.parametrize("seed", [0, 1])
def test_same_forward(seed, pool, stride):
    check_same_forward(seed, pool, stride)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize("positive_windows", [False, True])
def test_overlapping_pooling_changes_the_map(positive_windows, impl):
    check_overlap_changes_the_map(impl, 0, positive_windows)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_no_overlap_positive_windows_same_map(impl):
    check_no_overlap_positive_windows(impl)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_no_overlap_tied_windows_change_the_map(impl):
    check_no_overlap_tied_windows(impl)


if __name__ == "__main__":
    import sys

    sys.exit(pytest.main([__file__, "-q"]))
