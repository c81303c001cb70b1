"""The tolerance helpers on empty batches (found by the distributed tests: N = 0 maps).

Covers: ``map_error`` of N = 0 maps, or of samples with no element, is an empty or zero error,
and ``assert_maps_close`` passes them; a shape mismatch with an empty side still fails.
"""

import numpy as np
import pytest

from refdeconv.testing import assert_maps_close, map_error


@pytest.mark.parametrize("shape", [(0, 6, 6, 2), (0, 3), (2, 0)])
def test_empty_maps_have_no_error(shape):
    empty = np.zeros(shape)
    assert map_error(empty, empty).shape == (shape[0],) and not map_error(empty, empty).any()
    assert_maps_close(empty, empty, "float32", "empty")


def test_an_empty_map_against_a_full_one_still_fails():
    with pytest.raises(AssertionError, match="map shape"):
        assert_maps_close(np.zeros((0, 3)), np.zeros((2, 3)), "float64")
