"""The frontier cache serves each row its own target's signal, whatever the order of the rows.

Covers, deterministically, against ``refdeconv.reference.attribution`` (float64 models, the
frontier forced on with ``WORTH = 0``, a model with a max-pool below its frontier and one whose
maps are the signals themselves, the three rules, a batch size that does not divide N): a second
call whose batches reuse the first call's targets in other orders and other batch positions; a
call whose batches mix cached and new target rows (new first, cached first, interleaved, one new
class twice, a cached row last in the partial batch); then a call whose every batch is served from
the cache; and signals computed up front (``signals.prefetch``) for several new targets, over more
than one chunk with a partial last one. Each call's forward output is checked before its maps.
"""

import numpy as np
import pytest

from refdeconv import reference
from refdeconv.explainers import frontier as frontiers
from refdeconv.explainers import signals, traced
from refdeconv.testing import assert_maps_close
from tests.explainers.test_frontier import EXPLAINERS, _early_pool, _no_pool

MODELS = {"a max-pool below the frontier": _early_pool(), "maps are the signals": _no_pool()}

#: Target rows, named by their index in the calls below: integer-valued, pairwise distinct.
ROWS = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, -1, 0], [0, 2, 1], [-1, 0, 1], [2, 1, -1],
                 [1, 1, 1], [0, -1, 2], [3, 0, -1]], dtype="float64")

#: Four calls with batch size 3 over N = 8 (batches of 3, 3, 2), as target indices per batch.
ORDERS = [
    ("fill", [0, 1, 2, 0, 1, 2, 0, 1]),
    ("the same targets, other orders and positions", [2, 0, 1, 1, 2, 0, 1, 0]),
    ("cached and new rows mixed", [3, 0, 4, 1, 5, 5, 0, 6]),  # new first; cached first; a cached row then a new one
    ("every batch from the cache", [5, 3, 0, 4, 1, 2, 6, 0]),  # the cached row 0 last in the partial batch
]


def _counting_lookups(patch, hits: list) -> None:
    """Wrap ``signals._lookup`` (the one installed now) to count the batches it finds whole in the cache."""
    lookup = signals._lookup

    def counted(*args, **kwargs):
        found = lookup(*args, **kwargs)
        hits[-1] += found is not None
        return found

    patch.setattr(signals, "_lookup", counted)


def check_calls(model, rule: str, batch_size: int, calls: list, seed: int = 0) -> list:
    """Explain each ``(name, target indices)`` of ``calls`` with one explainer, on new inputs each
    time: the forward output, then the maps, equal the reference. The batches found whole in the
    cache, per call. From a cold start: no traced function kept from before."""
    traced.clear_cache()
    rng, hits = np.random.default_rng(seed), []
    explainer = EXPLAINERS[rule](model, batch_size=batch_size)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(frontiers, "WORTH", 0.0)
        _counting_lookups(patch, hits)
        for name, indices in calls:
            x, targets = rng.normal(size=(len(indices), 8, 8, 2)), ROWS[indices]
            hits.append(0)
            context = f"{rule}, call '{name}', targets {indices}, batch size {batch_size}"
            assert_maps_close(model(x).numpy(), reference.forward(model, x), "float64", f"forward, {context}")
            assert explainer.frontier == {} or explainer.frontier["used"], f"{context}: {explainer.frontier}"
            assert_maps_close(explainer.explain(x, targets).numpy(), reference.attribution(model, x, targets, rule),
                              "float64", context)
    return hits


def check_orders(model, rule: str) -> None:
    """The four calls of :data:`ORDERS`; the last one's three batches all served from the cache."""
    hits = check_calls(model, rule, 3, ORDERS)
    assert hits[-1] == 3, f"{rule}: batches found whole in the cache per call {hits}, the last call all 3"


def check_prefetch(model, rule: str) -> None:
    """A first call of targets 0-3, then 26 rows in batches of 4 (the last of 2) whose six new targets
    (a quarter of 26 at most) are computed up front in chunks of 4 and 2, then served: the rows of
    the partial chunk (6, 7) sit in another batch and other positions than their chunk's."""
    second = [0, 1, 2, 3] * 3 + [1, 4, 2, 5, 9, 0, 3, 8, 6, 2, 7, 1, 8, 9]
    fetched = []
    prefetch = signals.prefetch

    def watched(model, traced, rows):
        prefetch(model, traced, rows)
        if traced.calls >= 2:
            fetched.append(all(signals._key(model, traced, row) in signals._ROWS for row in rows))

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(signals, "prefetch", watched)
        hits = check_calls(model, rule, 4, [("fill", [0, 1, 2, 3]), ("six new targets", second)], seed=1)
    assert fetched == [True], f"{rule}: prefetch filled the cache with every target of the call: {fetched}"
    assert hits[-1] == 6, f"{rule}: batches found whole in the cache per call {hits}, the second's six full ones"


CASES = [(name, rule) for name in MODELS for rule in sorted(EXPLAINERS)]


@pytest.mark.parametrize("name,rule", CASES)
def test_each_row_gets_its_own_targets_signal_in_any_order_of_cached_and_new_rows(name, rule):
    check_orders(MODELS[name], rule)


@pytest.mark.parametrize("name,rule", [(name, "deconvnet") for name in MODELS] + [(next(iter(MODELS)), "guided")])
def test_signals_computed_up_front_in_chunks_serve_their_own_rows(name, rule):
    check_prefetch(MODELS[name], rule)
