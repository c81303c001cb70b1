"""Ties of a model's maxima in the reference's forward pass (:mod:`refdeconv.conformance.maxima`).

Covers the fault CI found: an overlapping max-pool sends one value to two windows, a
``Dense`` layer maps the identical rows, and TensorFlow's kernel rounds them one unit in
the last place apart, so a global max-pool that ties exactly in the reference does not in
TensorFlow; GuidedBackprop's maps then differ by 20 %. Such near ties are reported (per
operation and sample) wherever a non-zero maximum has a rival within the dtype's
tolerance: max-pool windows, global max-pools, ``Maximum``/``Minimum`` merges; exact
zeros after a ReLU are not near ties but are exact ties; the audit of a model says so.
Fixed cases pin what "near" means: relative to the winner's magnitude, in the compared dtype's
tolerance (the audit of a float32 model too), a rival exactly at the bound included, a rival
within rounding but not equal not an exact tie, each merge contested at its own extreme, the
window axis of every pooling rank; ``test_near_tie_faults.py`` plants the faults they catch.
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


def check_duplicated_rows():
    model = _overlap_then_global()
    assert near_ties(model, [PEAKED]) == ["GlobalMaxPool (sample 0)"], f"near ties {near_ties(model, [PEAKED])}"
    assert not max_pool_ties(model, [PEAKED])  # the max-pool windows themselves do not tie


def test_duplicated_rows_before_a_global_max_are_near_ties():
    check_duplicated_rows()


def check_clear_winner():
    model = _overlap_then_global()
    x = np.array([[[0.1], [-0.3], [0.2], [0.4], [-1.0]]])  # windows 0..2 and 2..4: maxima at 2 and 3
    assert near_ties(model, [x]) == [], f"near ties {near_ties(model, [x])} where every maximum is clear"


def test_a_clear_winner_everywhere_is_no_near_tie():
    check_clear_winner()


def check_all_zero_windows():
    inputs = keras.Input((4, 1), dtype="float64")
    outputs = L.Flatten()(L.MaxPooling1D(2, dtype="float64")(L.ReLU(dtype="float64")(inputs)))
    model = keras.Model(inputs, outputs)
    x = np.array([[[-1.0], [-2.0], [3.0], [1.0]]])
    assert max_pool_ties(model, [x]), "the all-zero window after a ReLU is not reported as an exact tie"
    assert near_ties(model, [x]) == [], f"all-zero windows reported as near ties: {near_ties(model, [x])}"


def test_all_zero_windows_after_a_relu_are_exact_ties_not_near_ties():
    check_all_zero_windows()


MERGES = {"Maximum": (L.Maximum, (1.5, 1.5)), "Minimum": (L.Minimum, (-0.7, -0.7 * (1 + 1e-12)))}


def check_merge(name):
    merge, values = MERGES[name]
    a, b = keras.Input((2,), dtype="float64"), keras.Input((2,), dtype="float64")
    model = keras.Model([a, b], merge(dtype="float64")([a, b]))
    xs = [np.array([[values[0], 0.0], [1.0, 2.0]]), np.array([[values[1], 0.0], [2.0, 1.0]])]
    assert near_ties(model, xs) == ["Extremum (sample 0)"], f"{name} of {values}: {near_ties(model, xs)}"


@pytest.mark.parametrize("name", sorted(MERGES))
def test_merges_within_rounding_are_near_ties(name):
    check_merge(name)


def _merge(merge, n):
    """A float64 model: the ``merge`` of ``n`` inputs of one value each."""
    inputs = [keras.Input((1,), dtype="float64") for _ in range(n)]
    return keras.Model(inputs, merge(dtype="float64")(inputs))


def check_own_extreme(name):
    """Samples (1, 1, 5) and (1, 5, 5): a ``Minimum`` is contested in the first, a ``Maximum`` in the second."""
    merge, sample = {"Minimum": (L.Minimum, 0), "Maximum": (L.Maximum, 1)}[name]
    xs = [np.array([[1.0], [1.0]]), np.array([[1.0], [5.0]]), np.array([[5.0], [5.0]])]
    found = near_ties(_merge(merge, 3), xs)
    assert found == [f"Extremum (sample {sample})"], f"{name} of (1, 1, 5) and (1, 5, 5): {found}"


@pytest.mark.parametrize("name", ["Maximum", "Minimum"])
def test_a_merge_is_contested_at_its_own_extreme(name):
    check_own_extreme(name)


def check_relative():
    """Winner 1e6 with a rival 1 below (1e-6 of it), winner 2e-6 with a rival half of it, in float32 (1e-4)."""
    found = near_ties(_merge(L.Maximum, 2), [np.array([[1e6], [2e-6]]), np.array([[1e6 - 1], [1e-6]])], "float32")
    assert found == ["Extremum (sample 0)"], f"1e6 vs 1e6 - 1 and 2e-6 vs 1e-6 in float32: {found}"


def test_near_is_relative_to_the_winners_magnitude():
    check_relative()


def check_bound():
    """1e4 against 9999 (exactly the float32 bound, 1e-4 of it) and against 9998.99 (past it)."""
    found = near_ties(_merge(L.Maximum, 2), [np.array([[1e4], [1e4]]), np.array([[9999.0], [9998.99]])], "float32")
    assert found == ["Extremum (sample 0)"], f"1e4 vs 9999 and vs 9998.99 in float32: {found}"


def test_a_rival_exactly_at_the_bound_is_near():
    check_bound()


def check_near_is_not_exact():
    """A max-pool window of 1 and 1 + 1e-12 is a near tie and not an exact one; 2 and 2 are both."""
    inputs = keras.Input((4, 1), dtype="float64")
    model = keras.Model(inputs, L.Flatten()(L.MaxPooling1D(2, dtype="float64")(inputs)))
    near, exact = np.array([[[1.0], [1.0 + 1e-12], [3.0], [-1.0]]]), np.array([[[2.0], [2.0], [3.0], [-1.0]]])
    assert not max_pool_ties(model, [near]), "1 and 1 + 1e-12 reported as an exact tie"
    assert max_pool_ties(model, [exact]), "2 and 2 not reported as an exact tie"
    assert near_ties(model, [near]) == near_ties(model, [exact]) == ["MaxPool (sample 0)"], (
        f"near ties {near_ties(model, [near])} (1, 1 + 1e-12), {near_ties(model, [exact])} (2, 2)")


def test_a_window_within_rounding_is_a_near_tie_not_an_exact_one():
    check_near_is_not_exact()


def check_compared_dtype():
    inputs = keras.Input((3,), dtype="float64")
    model = keras.Model(inputs, L.Maximum(dtype="float64")([inputs, inputs * (1 + 1e-6)]))
    x = np.array([[1.0, 2.0, 3.0]])
    found = {key: near_ties(model, [x], key) for key in ("float64", "float32")}
    # 1e-6 apart: decided in float64 (tolerance 1e-9), not in float32 (tolerance 1e-4)
    assert found == {"float64": [], "float32": ["Extremum (sample 0)"]}, f"rivals 1e-6 apart: {found}"


def test_near_is_measured_in_the_tolerance_of_the_compared_dtype():
    check_compared_dtype()


def _float32_maximum():
    """A float32 model whose maximum has a rival 1e-6 below it: near in float32, not in float64."""
    inputs = keras.Input((3,))
    return keras.Model(inputs, L.Dense(2)(L.Maximum()([inputs, L.Rescaling(1 + 1e-6)(inputs)])))


AUDITED = {
    "float64, duplicated rows": (_overlap_then_global, PEAKED, "GlobalMaxPool (sample 0)"),
    "float32, a rival 1e-6 below": (_float32_maximum, np.array([[1.0, 2.0, 3.0]], "float32"), "Extremum (sample 0)"),
}


def check_audit(name):
    build, x, where = AUDITED[name]
    report = run_model(build(), x, np.array([0]), None, "guided")
    assert report.model["near_ties"] == [where], f"{name}: the audit names {report.model['near_ties']}"
    assert any(f"near ties at {where}" in line for line in about_model(report)), f"{name}: {about_model(report)}"


@pytest.mark.parametrize("name", sorted(AUDITED))
def test_the_audit_of_a_model_names_its_near_ties(name):
    check_audit(name)


def check_window_axis(rank):
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
    assert max_pool_ties(model, [within]), f"rank {rank}: a tie within a window missed"
    assert not max_pool_ties(model, [across]), f"rank {rank}: maxima of two windows reported as a tie"
    assert near_ties(model, [within]) == ["MaxPool (sample 0)"], f"rank {rank}: near ties {near_ties(model, [within])}"
    assert near_ties(model, [across]) == [], f"rank {rank}: near ties {near_ties(model, [across])} across windows"


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_ties_within_a_window_of_every_rank(rank):
    check_window_axis(rank)
