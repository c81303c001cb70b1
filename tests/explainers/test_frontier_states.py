"""The frontier cache and the traced-function cache as a state machine driven the way users drive them.

Covers: a Hypothesis ``RuleBasedStateMachine`` over three small float64 models built once (a
max-pool below the frontier, maps that are the signals themselves, and a softmax head with no
frontier unless cut), the frontier forced on (``WORTH = 0``), both caches made small so that they evict
(``signals.CACHE_BYTES`` 256 bytes, 1 or 64 KiB, ``traced.CACHE_SIZE`` 8). A run draws its model, rule
(DeconvNet, GuidedBackprop, Gradient) and batch size (2 or 3), then its steps: a call with a drawn
N (1 to 8), a cut or none, inputs and targets drawn from a small pool (labels, real-valued rows
or ``None``), so that targets repeat or are new in any order within and across batches and calls;
a weight update (``set_weights`` or ``assign``); new explainers on the same model. Every call's
forward output, then its maps, equal the reference; after every step both caches are within their
bounds and the frontier cache's byte count is the sum of the rows it holds. Every patched global
and every model's weights are restored in ``teardown``.
"""

import numpy as np
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from refdeconv import reference
from refdeconv.explainers import frontier as frontiers
from refdeconv.explainers import signals, traced
from refdeconv.testing import assert_maps_close
from tests.explainers.test_frontier import EXPLAINERS, _early_pool, _no_pool

MODELS = {"max-pool": _early_pool(), "no max-pool": _no_pool(), "softmax head": _early_pool(head="softmax")}
ORIGINAL = {name: model.get_weights() for name, model in MODELS.items()}


def _pool(width: int) -> np.ndarray:
    """Target rows of an output of ``width``: its one-hot rows, then three integer-valued ones."""
    return np.vstack([np.eye(width), np.random.default_rng(width).integers(-2, 3, size=(3, width))])


def check_bounds() -> None:
    """The frontier cache holds at most ``CACHE_BYTES``, counted right; the traced cache at most ``CACHE_SIZE``."""
    held = sum(p.nbytes for _, parts in signals._ROWS.values() for p in parts)
    assert signals.cached_bytes() == held, f"cached_bytes() {signals.cached_bytes()} != {held} bytes of rows held"
    assert held <= signals.CACHE_BYTES, f"{held} bytes of signals held > CACHE_BYTES {signals.CACHE_BYTES}"
    assert len(traced._CACHE) <= traced.CACHE_SIZE, f"{len(traced._CACHE)} traced functions > {traced.CACHE_SIZE}"


class FrontierStates(RuleBasedStateMachine):
    """Calls, weight updates and new explainers on one model a run, with both caches small."""

    def __init__(self):
        super().__init__()
        self.patch = pytest.MonkeyPatch()
        self.patch.setattr(frontiers, "WORTH", 0.0)
        self.patch.setattr(traced, "CACHE_SIZE", 8)
        traced.clear_cache()
        self.explainers = {}

    @initialize(name=st.sampled_from(sorted(MODELS)), rule_name=st.sampled_from(sorted(EXPLAINERS)),
                batch_size=st.sampled_from([2, 3]), cache_bytes=st.sampled_from([2**8, 2**10, 2**16]))
    def choose(self, name, rule_name, batch_size, cache_bytes):
        """One model, rule, batch size and bound of the frontier cache a run: its calls then share
        traced functions and targets (256 bytes hold no signal of most frontiers: every row is evicted at once)."""
        self.name, self.rule_name, self.batch_size = name, rule_name, batch_size
        self.patch.setattr(signals, "CACHE_BYTES", cache_bytes)

    @rule(cut=st.sampled_from([False, False, True]), n=st.integers(1, 8),
          form=st.sampled_from(["labels", "rows", "None"]), seed=st.integers(0, 3), data=st.data())
    def explain(self, cut, n, form, seed, data):
        name, rule_name, batch_size = self.name, self.rule_name, self.batch_size
        model = MODELS[name]
        output_layer = model.layers[-2].name if cut else None
        pool = _pool(model.layers[-2].output.shape[-1] if cut else model.output.shape[-1])
        picks = data.draw(st.lists(st.integers(0, len(pool) - 1), min_size=n, max_size=n), label="targets")
        targets = {"labels": np.array(picks) % pool.shape[1], "rows": pool[picks], "None": None}[form]
        x = np.random.default_rng(seed).normal(size=(n, 8, 8, 2))
        context = f"{rule_name} on the {name} model cut at {output_layer}, batch size {batch_size}, {form} {picks}"
        assert_maps_close(model(x).numpy(), reference.forward(model, x), "float64", f"forward, {context}")
        key = (name, rule_name, output_layer, batch_size)
        if key not in self.explainers:
            self.explainers[key] = EXPLAINERS[rule_name](model, output_layer, batch_size)
        maps = self.explainers[key].explain(x, targets).numpy()
        if targets is None:
            targets = reference.forward(model, x, output_layer).argmax(axis=-1)
        assert_maps_close(maps, reference.attribution(model, x, targets, rule_name, output_layer), "float64", context)

    @rule(how=st.sampled_from(["set_weights", "assign", "new explainers"]), seed=st.integers(0, 3))
    def change(self, how, seed):
        """New weights (from the model's first ones and ``seed``), or new explainers on the same model."""
        if how == "new explainers":
            self.explainers.clear()
            return
        rng = np.random.default_rng(seed)
        new = [w * rng.uniform(0.5, 1.5, w.shape) for w in ORIGINAL[self.name]]  # positive: variances stay positive
        if how == "set_weights":
            MODELS[self.name].set_weights(new)
        else:
            for variable, value in zip(MODELS[self.name].weights, new):
                variable.assign(value)

    @invariant()
    def caches_within_their_bounds(self):
        check_bounds()

    def teardown(self):
        self.patch.undo()
        traced.clear_cache()
        for name, model in MODELS.items():
            model.set_weights(ORIGINAL[name])


FrontierStates.TestCase.settings = settings(stateful_step_count=8)
test_the_caches_serve_every_call_right_and_stay_bounded = pytest.mark.filterwarnings("ignore::UserWarning")(
    FrontierStates.TestCase)
