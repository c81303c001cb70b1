"""Ties of a model's maxima in the reference's forward pass (:mod:`refdeconv.conformance.maxima`).

Covers the fault CI found: an overlapping max-pool sends one value to two windows, a
``Dense`` layer maps the identical rows, and TensorFlow's kernel rounds them one unit in
the last place apart, so a global max-pool that ties exactly in the reference does not in
TensorFlow; GuidedBackprop's maps then differ by 20 %. Such near ties are reported (per
operation and sample) wherever a non-zero maximum has a rival within the dtype's
tolerance: max-pool windows, global max-pools, ``Maximum``/``Minimum`` merges; exact
zeros after a ReLU are not near ties but are exact ties; the audit of a model says so.
"""

import keras
import numpy as np
import pytest

from refdeconv.conformance.maxima import max_pool_ties, near_ties
from refdeconv.conformance.model_audit import run_model
from refdeconv.conformance.report import about_model

L = keras.layers


def _overlap_then_global(units=3):
    """MaxPool1D(3, 2) over 5 steps -> the value at step 2 wins both windows -> Dense -> global max."""
    keras.utils.set_random_seed(3)
    inputs = keras.Input((5, 1), dtype="float64")
    h = L.MaxPooling1D(3, 2, dtype="float64")(inputs)
    h = L.Dense(units, dtype="float64")(h)
    outputs = L.Dense(2, dtype="float64")(L.GlobalMaxPooling1D(dtype="float64")(h))
    return keras.Model(inputs, outputs)


PEAKED = np.array([[[0.1], [-0.3], [2.0], [0.4], [-1.0]]])  # step 2 is the max of windows 0..2 and 2..4


def test_duplicated_rows_before_a_global_max_are_near_ties():
    model = _overlap_then_global()
    assert near_ties(model, [PEAKED]) == ["GlobalMaxPool (sample 0)"]
    assert not max_pool_ties(model, [PEAKED])  # the max-pool windows themselves do not tie


def test_a_clear_winner_everywhere_is_no_near_tie():
    model = _overlap_then_global()
    x = np.array([[[0.1], [-0.3], [0.2], [0.4], [-1.0]]])  # windows 0..2 and 2..4: maxima at 2 and 3
    assert near_ties(model, [x]) == []


def test_all_zero_windows_after_a_relu_are_exact_ties_not_near_ties():
    inputs = keras.Input((4, 1), dtype="float64")
    outputs = L.Flatten()(L.MaxPooling1D(2, dtype="float64")(L.ReLU(dtype="float64")(inputs)))
    model = keras.Model(inputs, outputs)
    x = np.array([[[-1.0], [-2.0], [3.0], [1.0]]])
    assert max_pool_ties(model, [x])
    assert near_ties(model, [x]) == []


@pytest.mark.parametrize("merge,values", [(L.Maximum, (1.5, 1.5)), (L.Minimum, (-0.7, -0.7 * (1 + 1e-12)))])
def test_merges_within_rounding_are_near_ties(merge, values):
    a, b = keras.Input((2,), dtype="float64"), keras.Input((2,), dtype="float64")
    model = keras.Model([a, b], merge(dtype="float64")([a, b]))
    xs = [np.array([[values[0], 0.0], [1.0, 2.0]]), np.array([[values[1], 0.0], [2.0, 1.0]])]
    assert near_ties(model, xs) == ["Extremum (sample 0)"]


def test_near_is_measured_in_the_tolerance_of_the_compared_dtype():
    inputs = keras.Input((3,), dtype="float64")
    model = keras.Model(inputs, L.Maximum(dtype="float64")([inputs, inputs * (1 + 1e-6)]))
    x = np.array([[1.0, 2.0, 3.0]])
    assert near_ties(model, [x], "float64") == []  # 1e-6 apart: decided in float64 (tolerance 1e-9)
    assert near_ties(model, [x], "float32") == ["Extremum (sample 0)"]  # not in float32 (tolerance 1e-4)


def test_the_audit_of_a_model_names_its_near_ties():
    report = run_model(_overlap_then_global(), PEAKED, np.array([0]), None, "guided")
    assert report.model["near_ties"] == ["GlobalMaxPool (sample 0)"]
    assert any("near ties at GlobalMaxPool (sample 0)" in line for line in about_model(report))


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_ties_within_a_window_of_every_rank(rank):
    """A tie inside one window is a tie, one across two windows is not, for 1-, 2- and 3-D pools
    (the window axis is found for every rank; measured before: 3-D pools read another axis)."""
    pool = {1: L.MaxPooling1D, 2: L.MaxPooling2D, 3: L.MaxPooling3D}[rank]
    shape = (4,) * rank + (1,)
    inputs = keras.Input(shape)
    model = keras.Model(inputs, L.Flatten()(pool(2)(inputs)))
    within, across = np.zeros((1, *shape)), np.zeros((1, *shape))
    within[(0, *[0] * rank, 0)] = within[(0, *[0] * (rank - 1), 1, 0)] = 5.0  # two maxima in the first window
    across[(0, *[0] * rank, 0)] = across[(0, *[0] * (rank - 1), 2, 0)] = 5.0  # one maximum in each of two windows
    within += np.arange(within.size).reshape(within.shape) * 1e-3 * (within == 0)  # every other window untied
    across += np.arange(across.size).reshape(across.shape) * 1e-3 * (across == 0)
    assert max_pool_ties(model, [within])
    assert not max_pool_ties(model, [across])
