"""The tolerance table and its helpers (``refdeconv.conformance.tolerances``, ``refdeconv.testing``).

Covers: ``map_error`` of N = 0 maps, or of samples with no element, is an empty or zero error,
and ``assert_maps_close`` passes them; a shape mismatch with an empty side still fails (found by
the distributed tests: N = 0 maps). The table's values are pinned, in the code and in its
docstring's table (issue 24, item 4), and for float32 and float64 a real wrong map (one ReLU deep
in a net with the wrong rule, computed by the reference) lies between the tolerance and ten times
it: the table catches it, a tenfold looser one would not.
"""

import re

import keras
import numpy as np
import pytest

from refdeconv import reference, testing
from refdeconv.conformance import tolerances
from refdeconv.testing import TOLERANCES, assert_maps_close, map_error, tolerance


@pytest.mark.parametrize("shape", [(0, 6, 6, 2), (0, 3), (2, 0)])
def test_empty_maps_have_no_error(shape):
    empty = np.zeros(shape)
    assert map_error(empty, empty).shape == (shape[0],) and not map_error(empty, empty).any()
    assert_maps_close(empty, empty, "float32", "empty")


def test_an_empty_map_against_a_full_one_still_fails():
    with pytest.raises(AssertionError, match="map shape"):
        assert_maps_close(np.zeros((0, 3)), np.zeros((2, 3)), "float64")


#: The table as documented in ``refdeconv.conformance.tolerances``'s docstring: changing a
#: value must change this line too, on purpose.
DOCUMENTED = {"float64": 1e-9, "float32": 1e-4, "float16": 1e-2, "bfloat16": 5e-2, "finite-difference": 1e-6}


def test_the_table_holds_the_documented_values_and_its_docstring_lists_the_same():
    assert TOLERANCES == DOCUMENTED, f"TOLERANCES {TOLERANCES} != documented {DOCUMENTED}"
    assert testing.TOLERANCES is tolerances.TOLERANCES, "refdeconv.testing re-exports another table"
    rows = re.findall(r"^(\S+)\s+(\d(?:\.\d+)?e-\d+)\s", tolerances.__doc__, flags=re.MULTILINE)
    listed = {key: float(value) for key, value in rows}
    assert listed == DOCUMENTED, f"the module docstring's table lists {listed}, the code holds {DOCUMENTED}"


def _branch_model(weight: float):
    """``relu(x + 5)`` summed, plus a branch ``weight * relu(h_0 - 10)`` off that ReLU's output.

    For inputs near 0 the main ReLUs are active with upstream signal 1 (every rule agrees there)
    and the branch's ReLU is inactive (``z = x_0 - 5 < 0``) with upstream ``weight > 0``: DeconvNet
    sends ``weight`` back through it, the plain gradient 0. DeconvNet's map is ``(1 + weight, 1)``.
    """
    inputs = keras.Input((2,), dtype="float64")
    first, main, branch, scale = (keras.layers.Dense(units, dtype="float64") for units in (2, 1, 1, 1))
    h = keras.layers.ReLU(dtype="float64")(first(inputs))
    side = scale(keras.layers.ReLU(dtype="float64")(branch(h)))
    model = keras.Model(inputs, keras.layers.Add(dtype="float64")([main(h), side]))
    for layer, kernel, bias in [(first, np.eye(2), [5.0, 5.0]), (main, [[1.0], [1.0]], [0.0]),
                                (branch, [[1.0], [0.0]], [-10.0]), (scale, [[weight]], [0.0])]:
        layer.set_weights([np.array(kernel), np.array(bias)])
    return model


@pytest.mark.parametrize("key, weight", [("float32", 3e-4), ("float64", 3e-9)])
def test_the_table_catches_one_deep_relu_with_the_wrong_rule_that_a_tenfold_looser_tolerance_misses(key, weight):
    """The wrong map: DeconvNet with the branch's ReLU left at its plain gradient (an override that
    did not reach it), computed by the reference; scaled error ``weight / (1 + weight)``."""
    model, x, target = _branch_model(weight), np.array([[1.0, 2.0]]), np.array([0])
    np.testing.assert_array_equal(model(x).numpy(), [[13.0]], err_msg="forward: relu(x + 5) summed, branch off")
    right, wrong = (reference.attribution(model, x, target, rule) for rule in ("deconvnet", "gradient"))
    assert_maps_close(right, [[1.0 + weight, 1.0]], "float64", f"DeconvNet map of the branch model, weight {weight}")
    error, tol = map_error(wrong, right)[0], tolerance(key)
    assert tol < error < 10 * tol, f"{key}: scaled error {error:.3g} of the wrong rule not in ({tol:g}, {10 * tol:g})"
    with pytest.raises(AssertionError, match="scaled error"):
        assert_maps_close(wrong, right, key, f"{key}: one deep ReLU with the gradient rule")


def test_each_sample_is_held_to_its_own_scale():
    """A sample whose map is a thousand times smaller than its neighbour's, wrong by 1e-3 of its own
    scale, fails at float32's 1e-4: measured against the batch's scale (1000) its error would be 1e-6
    and pass. An all-zero reference sample is measured against the batch's largest scale."""
    right = np.array([[1000.0, -1000.0, 500.0], [1.0, -1.0, 0.5], [0.0, 0.0, 0.0]])
    wrong = right + np.array([[0.0, 0.0, 0.0], [1e-3, 0.0, 0.0], [0.5, 0.0, 0.0]])
    np.testing.assert_allclose(map_error(wrong, right), [0.0, 1e-3, 5e-4], rtol=1e-12,
                               err_msg="per-sample scaled errors (scales 1000, 1, and 1000 for the zero sample)")
    with pytest.raises(AssertionError, match="sample 1 has scaled error 0.001"):
        assert_maps_close(wrong[:2], right[:2], "float32", "a small wrong sample beside a large right one")
