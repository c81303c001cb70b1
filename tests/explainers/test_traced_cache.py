"""The traced-function cache keeps at most ``CACHE_SIZE`` functions and drops the least recently used.

Covers the promise of ``docs/performance.md`` ("Why a new explainer is cheap") and of
``refdeconv.explainers.traced``, deterministically, with ``CACHE_SIZE`` patched small: map
functions of three batch sizes fill the cache, the oldest is touched again, a fourth is added,
and exactly the least recently used one is dropped; the dropped function's frontier signals are
forgotten with it; a new explainer of the dropped configuration traces anew and its maps equal the
reference; the cache never holds more than ``CACHE_SIZE`` entries.
"""

import numpy as np
import pytest

from refdeconv import DeconvNet, reference
from refdeconv.explainers import frontier as frontiers
from refdeconv.explainers import signals, traced
from refdeconv.testing import assert_maps_close
from tests.explainers.test_frontier import _no_pool

X = np.random.default_rng(7).normal(size=(6, 8, 8, 2))
T = np.array([0, 1, 2, 1, 0, 2])


def _held(model) -> dict:
    """The map functions of ``model`` in the cache, by batch size, least recently used first."""
    return {key[5][0].shape[0]: entry[1] for key, entry in traced._CACHE.items()
            if key[0] == id(model) and len(key) == 7}


def _explain(model, batch_size: int) -> traced.Traced:
    """Explain :data:`X` in batches of ``batch_size`` (it divides 6: one map function); the maps equal
    the reference and the cache stays within its bound. The function used."""
    explainer = DeconvNet(model, batch_size=batch_size)
    maps = explainer.explain(X, T).numpy()
    assert_maps_close(maps, reference.attribution(model, X, T), "float64", f"batch size {batch_size}")
    assert len(traced._CACHE) <= traced.CACHE_SIZE, f"{len(traced._CACHE)} entries > CACHE_SIZE {traced.CACHE_SIZE}"
    return explainer._recorded


def check_least_recently_used_dropped(model) -> None:
    """Room for the model's forward function and three map functions: batch sizes 1, 2 and 3 fill
    it, 1 is used again, 6 comes in, and 2 (the least recently used) alone is dropped, its cached
    signals with it; an explainer with batch size 2 afterwards traces anew and gives the reference."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(traced, "CACHE_SIZE", 4)
        patch.setattr(frontiers, "WORTH", 0.0)
        traced.clear_cache()
        try:
            first = {b: _explain(model, b) for b in (1, 2, 3)}
            assert list(_held(model)) == [1, 2, 3], f"held after batch sizes 1, 2, 3: {list(_held(model))}"
            assert any(t is first[2] for t, _ in signals._ROWS.values()), "batch size 2 cached no signal"
            _explain(model, 1)
            assert list(_held(model)) == [2, 3, 1], f"held after using batch size 1 again: {list(_held(model))}"
            _explain(model, 6)
            assert list(_held(model)) == [3, 1, 6], f"held after batch size 6 came in: {list(_held(model))}"
            assert all(_held(model)[b] is first[b] for b in (1, 3)), "a function kept was traced anew"
            left = sum(t is first[2] for t, _ in signals._ROWS.values())
            assert left == 0, f"the dropped function's signals are still cached: {left} rows"
            assert _explain(model, 2) is not first[2], "batch size 2 was not traced anew"
            assert list(_held(model)) == [1, 6, 2], f"held after batch size 2 came back: {list(_held(model))}"
        finally:
            traced.clear_cache()


def test_the_least_recently_used_function_alone_is_dropped_and_its_signals_with_it():
    check_least_recently_used_dropped(_no_pool())
