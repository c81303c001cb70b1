"""The cache tests have teeth: faults planted in copies of the two caches make their checks fail.

Covers issue 24's meta-tests of the frontier cache and the traced-function cache (after HIPS/autograd's
``test_tests.py``): each fault is one line changed in a copy of the mechanism, compiled at run time
with its module's globals and installed with ``monkeypatch`` (the installed code is never edited);
the check of its kind from :mod:`tests.explainers.test_frontier_rows`,
:mod:`tests.explainers.test_traced_cache` or :mod:`tests.explainers.test_frontier_states` must
raise ``AssertionError``, and the same check without a fault passes.
"""

import inspect

import pytest

from refdeconv.explainers import signals, traced
from tests.explainers.test_frontier_rows import MODELS, ORDERS, check_calls, check_orders, check_prefetch
from tests.explainers.test_frontier_states import check_bounds
from tests.explainers.test_traced_cache import check_least_recently_used_dropped

POOL, NO_POOL = MODELS["a max-pool below the frontier"], MODELS["maps are the signals"]


def _bounded():
    """One call of :data:`ORDERS` with room for two of its five signals, then the bounds."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(signals, "CACHE_BYTES", 2**10)
        check_calls(POOL, "deconvnet", 3, ORDERS[:1])
        check_bounds()


#: check: (the function, what its message says when it catches a fault)
CHECKS = {
    "orders": (lambda: check_orders(POOL, "deconvnet"), "differs from the reference"),
    "prefetch": (lambda: check_prefetch(POOL, "deconvnet"), "differs from the reference"),
    "least recently used": (lambda: check_least_recently_used_dropped(NO_POOL), "held after|> CACHE_SIZE|still cached"),
    "bounds": (_bounded, "bytes"),
}

#: fault: (module, function, the line as it is, the line planted, the check that must catch it)
FAULTS = {
    "a new row stored with the signal at its index among the new rows": (
        signals, "_store", "parts = [np.array(s[i]) for s in signals]", "parts = [np.array(s[added]) for s in signals]",
        "orders"),
    "cached rows served rolled by one": (
        signals, "_lookup", "for k in keys))", "for k in keys[1:] + keys[:1]))", "orders"),
    "cached rows served in the order of their bytes": (
        signals, "_lookup", "for k in keys))", "for k in sorted(keys)))", "orders"),
    "the partial last chunk padded from the rows before it": (
        signals, "prefetch", "padded = chunk[np.minimum(np.arange(size), len(chunk) - 1)]",
        "padded = np.stack(missing[-size:]) if len(chunk) < size else chunk", "prefetch"),
    "the partial last chunk stored from the end of its padding": (
        signals, "prefetch", "[np.asarray(s)[:len(chunk)] for s in out]", "[np.asarray(s)[-len(chunk):] for s in out]",
        "prefetch"),
    "the frontier cache's bound not enforced": (
        signals, "_store", "while _SIZE[0] > CACHE_BYTES and _ROWS:", "while _SIZE[0] > 2 * CACHE_BYTES and _ROWS:",
        "bounds"),
    "evicted signals still counted": (
        signals, "_store", "_SIZE[0] -= sum(p.nbytes for p in parts)", "pass", "bounds"),
    "the most recent traced function evicted": (
        traced, "_cached", "_CACHE.popitem(last=False)", "_CACHE.popitem(last=True)", "least recently used"),
    "a traced function not refreshed when used (first in, first out)": (
        traced, "_cached", "_CACHE.move_to_end(key)", "pass", "least recently used"),
    "the traced cache's bound not enforced": (
        traced, "_cached", "while len(_CACHE) > CACHE_SIZE:", "while len(_CACHE) > 2 * CACHE_SIZE:",
        "least recently used"),
    "an evicted traced function's signals kept": (
        traced, "_cached", "signals.forget(traced=_CACHE.popitem(last=False)[1][1])", "_CACHE.popitem(last=False)",
        "least recently used"),
}


def planted(module, name: str, line: str, fault: str):
    """A copy of ``module.name`` with ``line`` (found exactly once) replaced by ``fault``, compiled
    with the module's globals: the installed function is left as it is."""
    source = inspect.getsource(getattr(module, name))
    assert source.count(line) == 1, f"{module.__name__}.{name}: {line!r} occurs {source.count(line)} times, not once"
    defined: dict = {}
    exec(compile(source.replace(line, fault), f"<{name} with a planted fault>", "exec"), vars(module), defined)
    return defined[name]


#: One fault of each check's kind runs by default; the others, and the controls that the default
#: tier runs already as the real tests (the same check, the same model and rule), in the heavy tier.
DEFAULT = {"a new row stored with the signal at its index among the new rows",
           "the partial last chunk stored from the end of its padding", "the most recent traced function evicted",
           "the frontier cache's bound not enforced"}


def _tier(names, default):
    return [pytest.param(name, marks=() if name in default else pytest.mark.heavy) for name in sorted(names)]


@pytest.mark.parametrize("fault", _tier(FAULTS, DEFAULT))
def test_a_planted_fault_in_a_cache_is_caught(fault, monkeypatch):
    module, name, line, planted_line, check = FAULTS[fault]
    traced.clear_cache()
    monkeypatch.setattr(signals, "_SIZE", [0])  # a byte count the fault may corrupt, dropped afterwards
    monkeypatch.setattr(module, name, planted(module, name, line, planted_line))
    run, message = CHECKS[check]
    try:
        with pytest.raises(AssertionError, match=message):
            run()
    finally:
        traced.clear_cache()


@pytest.mark.parametrize("check", _tier(CHECKS, {"bounds"}))
def test_each_check_passes_without_a_fault(check):
    traced.clear_cache()
    CHECKS[check][0]()
