"""Ties in every max-pooling (DESIGN.md §3), pinned in both implementations on fixed cases.

Covers issue 24, item 1 (pooling): ``ReLU -> pool -> Flatten -> Dense(v)`` on integer inputs
whose windows tie, both between equal positive values and between the zeros a ReLU leaves
(where DeconvNet, which ignores the forward sign, feels the switch and the other rules do not):

- ``MaxPooling1D/2D/3D``, ``"valid"`` and ``"same"``, overlapping windows (stride < window):
  each window's signal goes to its first maximum in row-major order over ``(w)``, ``(h, w)`` or
  ``(d, h, w)``; overlapping windows accumulate; ``"same"`` puts half the total padding (rounded
  down) before the data, and padding never wins;
- ``GlobalMaxPooling1D/2D/3D``: ``reduce_max``, whose gradient splits the signal equally among
  the tied maxima (TensorFlow's own, which refdeconv leaves alone and the reference follows).

Per case, the switches are derived by hand in a comment and ``s`` (the signal unpooled to the
ReLU's output) written out; each rule's map follows from ``s`` and the input ReLU's mask
``x > 0`` by DESIGN.md §1's table. The pooled values, the forward output, the TensorFlow
explainer's maps and ``refdeconv.reference.attribution``'s maps must equal them exactly (the
pooled values and the output in Keras and in the reference). The 3-D windowed pools are
float32 (TensorFlow has no float64 kernel for them on CPU): small integers stay exact.
"""

import warnings

import keras
import numpy as np
import pytest

from refdeconv import DeconvNet, Gradient, GuidedBackprop, reference

L = keras.layers
EXPLAINERS = {"gradient": Gradient, "deconvnet": DeconvNet, "guided": GuidedBackprop}
RULES = {
    "gradient": lambda s, mask: s * mask,
    "deconvnet": lambda s, mask: np.maximum(s, 0.0),
    "guided": lambda s, mask: np.maximum(s, 0.0) * mask,
}
X1 = [1, 2, 2, -2, -3, -1, 1]  # relu: [1, 2, 2, 0, 0, 0, 1]
X2 = [[1, 2, -1], [2, -2, -3], [2, -1, -4]]  # relu: [[1, 2, 0], [2, 0, 0], [2, 0, 0]]
#: Global pools: three channels over four positions (columns are channels), reshaped per rank.
XG = np.array([[-1, -1, 2], [3, -2, -1], [-2, -3, 2], [3, -4, 1]])
SG = [[0, 2, 5], [-2, 2, 0], [0, 2, 5], [-2, 2, 0]]

#: case -> (pool layer class, its arguments, dtype, x (spatial, or spatial x channels), v, pooled y, unpooled s).
CASES = {
    # windows [0:3] [1:4] [2:5] [3:6] [4:7] of [1,2,2,0,0,0,1] -> switches 1 (tie 2,2), 1, 2, 3 (zero tie), 6;
    # s[1] = 1 - 2, s[2] = 3, s[3] = 4, s[6] = -5.
    "MaxPooling1D(3, 1, valid)": (L.MaxPooling1D, (3, 1, "valid"), "float64", X1,
                                  [1, -2, 3, 4, -5], [2, 2, 2, 0, 1], [0, -1, 3, 4, 0, 0, -5]),
    # total padding 2 -> 1 before: windows [-1:2] [1:4] [3:6] [5:8] -> switches 1, 1 (tie), 3 (zero tie), 6.
    "MaxPooling1D(3, 2, same)": (L.MaxPooling1D, (3, 2, "same"), "float64", X1,
                                 [1, -2, 3, 4], [2, 2, 0, 1], [0, -1, 0, 3, 0, 0, 4]),
    # windows (0,0): [[1,2],[2,0]] -> (0,1) (tie with (1,0)); (0,1): [[2,0],[0,0]] -> (0,1);
    # (1,0): [[2,0],[2,0]] -> (1,0) (tie with (2,0)); (1,1): zeros -> (1,1). s(0,1) = 1 + 3.
    "MaxPooling2D(2, 1, valid)": (L.MaxPooling2D, (2, 1, "valid"), "float64", X2,
                                  [1, 3, -2, 4], [[2, 2], [2, 0]], [[0, 4, 0], [-2, 4, 0], [0, 0, 0]]),
    # padding after (total 1, 0 before): window (i, j) covers rows i:i+2, cols j:j+2 of the data;
    # switches (0,1) (0,1) (0,2) / (1,0) (1,1) (1,2) / (2,0) (2,1) (2,2): zero ties on their first position.
    "MaxPooling2D(2, 1, same)": (L.MaxPooling2D, (2, 1, "same"), "float64", X2,
                                 [1, 3, -2, -4, 5, -1, 2, -3, 6], [[2, 2, 0], [2, 0, 0], [2, 0, 0]],
                                 [[0, 4, -2], [-4, 5, -1], [2, -3, 6]]),
    # (d, h, w) = (2, 2, 4): columns w = 1, 2 negative. Window w 0:2 -> 2 at (0,1,0) and (1,0,0):
    # first in (d, h, w) order (0,1,0) ((w, h, d) order would pick (1,0,0)); w 1:3 zeros -> (0,0,1);
    # w 2:4 -> 3 at (0,1,3) and (1,0,3) -> (0,1,3).
    "MaxPooling3D(2, 1, valid)": (L.MaxPooling3D, (2, 1, "valid"), "float32",
                                  [[[1, -1, -5, -1], [2, -2, -6, 3]], [[2, -3, -7, 3], [-1, -4, -8, 1]]],
                                  [-3, 5, 4], [[[2, 0, 3]]],
                                  [[[0, 5, 0, 0], [-3, 0, 0, 4]], [[0, 0, 0, 0], [0, 0, 0, 0]]]),
    # (2, 2, 2), padding after: window (0,0,0) holds 2 at (0,0,1), (0,1,0), (1,0,0) -> (0,0,1);
    # every other window's switch is its own first position. s(0,0,1) = 1 - 2.
    "MaxPooling3D(2, 1, same)": (L.MaxPooling3D, (2, 1, "same"), "float32",
                                 [[[1, 2], [2, -1]], [[2, -2], [-3, -4]]],
                                 [1, -2, 3, 4, -5, 6, -7, 8], [[[2, 2], [2, 0]], [[2, 0], [0, 0]]],
                                 [[[0, -1], [3, 4]], [[-5, 6], [-7, 8]]]),
    # channel 0: 3 tied at positions 1, 3 -> -4 / 2 each; channel 1: all zeros after the ReLU ->
    # 8 / 4 each; channel 2: 2 tied at positions 0, 2 -> 10 / 2 each.
    **{f"GlobalMaxPooling{rank}D": (getattr(L, f"GlobalMaxPooling{rank}D"), (), "float64",
                                    XG.reshape(shape), [-4, 8, 10], [3, 0, 2], np.reshape(SG, shape))
       for rank, shape in [(1, (4, 3)), (2, (2, 2, 3)), (3, (1, 2, 2, 3))]},
}


def pool_model(case: str):
    """``Activation("relu") -> pool -> Flatten -> Dense(1, kernel v, no bias)`` of ``case``."""
    pool, args, dtype, x, v, _, _ = CASES[case]
    x = np.asarray(x)
    shape = x.shape if case.startswith("Global") else (*x.shape, 1)
    inputs = keras.Input(shape, dtype=dtype)
    dense = L.Dense(1, use_bias=False, dtype=dtype)
    pooled = pool(*args, dtype=dtype)(L.Activation("relu", dtype=dtype)(inputs))
    model = keras.Model(inputs, dense(L.Flatten(dtype=dtype)(pooled)))
    dense.set_weights([np.array(v, dtype).reshape(-1, 1)])
    return model, x.reshape(1, *shape).astype(dtype)


def check_pool_ties(case: str, rules=tuple(EXPLAINERS)) -> None:
    """The forward output, then each rule's TensorFlow and reference maps, against the hand values."""
    *_, v, y, s = CASES[case]
    model, x = pool_model(case)
    pooled, forward = np.reshape(y, (1, *np.shape(y), *([] if case.startswith("Global") else [1]))), [[np.dot(np.ravel(y), v)]]
    np.testing.assert_array_equal(keras.Model(model.input, model.layers[2].output)(x).numpy(), pooled,
                                  err_msg=f"{case}: Keras pooled x = {x.ravel()}")
    np.testing.assert_array_equal(reference.forward(model, x, output_layer=2), pooled, err_msg=f"{case}: reference pooled")
    np.testing.assert_array_equal(model(x).numpy(), forward, err_msg=f"{case}: Keras forward, pooled {y}")
    np.testing.assert_array_equal(reference.forward(model, x), forward, err_msg=f"{case}: reference forward, pooled {y}")
    s = np.reshape(s, x.shape)
    for rule in rules:
        expected = RULES[rule](s, x > 0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # no warning is under test here
            got = EXPLAINERS[rule](model).explain(x, np.array([0])).numpy()
        np.testing.assert_array_equal(got, expected, err_msg=f"{case}, {rule}, TensorFlow: x = {x.ravel()}, s = {s.ravel()}")
        ref = reference.attribution(model, x, np.array([0]), rule)
        np.testing.assert_array_equal(ref, expected, err_msg=f"{case}, {rule}, reference: x = {x.ravel()}, s = {s.ravel()}")


@pytest.mark.parametrize("case", CASES)
def test_ties_go_to_the_first_maximum_or_split_in_a_global_pool_in_both_implementations(case):
    check_pool_ties(case)
