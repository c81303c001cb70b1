"""The projection checks are not vacuous: an off-by-one planted in the position handling, or in the
receptive-field arithmetic, makes them fail; on the intact code they pass.

========================================== ========================================== ==================
fault                                      where                                      caught by
========================================== ========================================== ==================
the seed one position before the unit      ``selection.seeds``                        ``check_maps``
the recorded position one before the unit  ``selection.top_units``                    ``check_units``
``same`` padding one pixel more on the left ``fields._through``                       ``check_patches``
========================================== ========================================== ==================

One before, not one after: at index 0 it wraps round to the last index (NumPy's negative
indexing), a fault that raises nothing by itself.
"""

from __future__ import annotations

import numpy as np
import pytest

from refdeconv.projections import fields, selection

from ..planting import fails, plant
from . import nets
from .checks import check_maps, check_patches, check_units

FAULTS = {  # name -> (function, old, new)
    "seed position - 1": (selection.seeds, "*positions.T, features", "*(positions.T - 1), features"),
    "recorded position - 1": (selection.top_units, "np.stack(where, axis=-1)", "np.stack(where, axis=-1) - 1"),
    "same padding + 1": (fields._through, "+ span + 1 - n, 0) // 2", "+ span + 1 - n, 0) // 2 + 1"),
}


def _checks():
    """Every check on a 2-D and a 1-D net (the 2-D one with ``same`` padding at the projected layer)."""
    image, x = nets.image_net(), np.random.default_rng(0).normal(size=(4, 10, 10, 2))
    sequence, t = nets.sequence_net(), np.random.default_rng(0).normal(size=(4, 24, 3))
    field, layer = nets.field_net("same, strided, odd")
    x0 = np.random.default_rng(1).uniform(0.0, 1.0, (9, 9, 1))
    return {
        "maps, 2-D": lambda: check_maps(image, x, "conv2", "deconvnet", [0, 3], top_k=3),
        "maps, 1-D": lambda: check_maps(sequence, t, "conv2", "guided", [1], top_k=3),
        "units, 2-D": lambda: check_units(image, x, "conv2", [0, 3], top_k=3),
        "units, 1-D": lambda: check_units(sequence, t, "conv2", [1], top_k=3),
        "patches": lambda: check_patches(field, layer, x0),
    }


CAUGHT_BY = {"seed position - 1": ("maps, 2-D", "maps, 1-D"), "recorded position - 1": ("units, 2-D", "units, 1-D"),
             "same padding + 1": ("patches",)}


def test_checks_pass_on_intact_code():
    for name, check in _checks().items():
        assert not fails(check), name


@pytest.mark.parametrize("fault", list(FAULTS))
def test_planted_off_by_one_is_caught(monkeypatch, fault):
    checks = _checks()
    plant(monkeypatch, *FAULTS[fault])
    for name in CAUGHT_BY[fault]:
        assert fails(checks[name]), f"{name} did not catch the planted fault {fault!r}"
