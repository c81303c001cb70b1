"""The frontier cache: maps from cached per-target signals equal the reference, and are never served
for another model, weights, cut, rule, operator, dtype or target.

Covers: drawn networks of every kind, style, ReLU writing and rule, with the frontier forced on
wherever one exists (``WORTH = 0``), with the default operator and a custom one: the first call (whole computation, filling the cache), the
second (checked row by row) and the next two (from the cache) equal the reference, the last two
bitwise; a softmax head and the
gradient rule move the frontier by themselves; a custom operator that mixes the samples of a
batch is refused its frontier, a row-by-row one keeps it; two models that differ only in their
weights, weights changed by ``set_weights`` after a first call, a float32 twin and another cut
get their own maps; a planted finder that puts the frontier one op too high (above an
input-dependent op) is caught.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from refdeconv import DeconvNet, Gradient, GuidedBackprop, reference
from refdeconv.explainers import frontier as frontiers
from refdeconv.explainers import signals, traced
from refdeconv.testing import assert_maps_close
from tests.builders import STYLES, WRITINGS, build, written
from tests.strategies import cases

EXPLAINERS = {cls.rule: cls for cls in (DeconvNet, Gradient, GuidedBackprop)}
L = keras.layers


def _scaled(f, x, y):
    """A custom operator, row by row: ``sum(f(x) * 2y)``, whose map is the reference's for ``2y``."""
    return tf.reduce_sum(f(x) * (2.0 * y), axis=-1)


def check_cached(case, style, writing, rule, operator=None):
    """Four calls on the same inputs (fill, check row by row, then from the cache): all equal the
    reference, the last two bitwise."""
    net, x, targets = case
    model, oracle = build(net, style, relu=written(writing)), build(net, "sequential")
    want = reference.attribution(oracle, x, targets * (2.0 if operator is _scaled else 1.0), rule)
    explainer = EXPLAINERS[rule](model, batch_size=2, operator=operator)
    calls = [explainer.explain(x, targets).numpy() for _ in range(4)]
    context = f"{rule} through the frontier {explainer.frontier['tensors']} of a {style} model, {net}"
    for i, maps in enumerate(calls):
        assert_maps_close(maps, want, "float64", f"call {i + 1}: {context}")
    assert np.array_equal(calls[2], calls[3]), f"{context}: two calls from the cache differ"
    return explainer


@pytest.mark.filterwarnings("ignore::UserWarning")
@settings(suppress_health_check=[HealthCheck.too_slow])
@given(case=cases(), style=st.sampled_from(STYLES), writing=st.sampled_from(WRITINGS),
       rule=st.sampled_from(sorted(EXPLAINERS)), operator=st.sampled_from([None, _scaled]))
def test_maps_through_the_frontier_equal_the_reference(case, style, writing, rule, operator):
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(frontiers, "WORTH", 0.0)
        check_cached(case, style, writing, rule, operator)


def _early_pool(dtype="float64", head=None, seed=0):
    """A conv/ReLU stem and its max-pool, then convolutions, batch norm and a dense head (logits or ``head``)."""
    keras.utils.set_random_seed(seed)
    inp = keras.Input((8, 8, 2), dtype=dtype)
    h = L.MaxPooling2D(2, dtype=dtype)(L.Conv2D(3, 3, padding="same", activation="relu", dtype=dtype)(inp))
    h = L.Conv2D(8, 3, padding="same", activation="relu", dtype=dtype)(h)
    h = L.Conv2D(8, 3, padding="same", dtype=dtype)(L.BatchNormalization(dtype=dtype)(h))
    h = L.Dense(6, activation="relu", dtype=dtype)(L.Flatten(dtype=dtype)(L.ReLU(dtype=dtype)(h)))
    return keras.Model(inp, L.Dense(3, activation=head, dtype=dtype)(h))


def _no_pool(dtype="float64", seed=0):
    keras.utils.set_random_seed(seed)
    inp = keras.Input((8, 8, 2), dtype=dtype)
    h = L.Conv2D(3, 3, activation="relu", dtype=dtype)(inp)
    h = L.GlobalAveragePooling2D(dtype=dtype)(L.Conv2D(4, 3, activation="relu", dtype=dtype)(h))
    return keras.Model(inp, L.Dense(3, dtype=dtype)(h))


X = np.random.default_rng(1).normal(size=(5, 8, 8, 2))
T = np.array([0, 2, 1, 2, 0])


def _explain(model, rule="deconvnet", x=X, targets=T, **options):
    explainer = EXPLAINERS[rule](model, batch_size=2, **options)
    return explainer, explainer.explain(x, targets).numpy()


def _want(model, rule="deconvnet", x=X, targets=T, output_layer=None):
    return reference.attribution(model, x, np.eye(3)[targets] if output_layer is None else targets, rule,
                                 output_layer)


@pytest.mark.parametrize("make", [_early_pool, _no_pool])
def test_deconvnet_caches_above_the_last_switch(make):
    model = make()
    explainer, maps = _explain(model)
    assert explainer.frontier["used"], explainer.frontier["reason"]
    assert explainer.frontier["bytes_per_target"] == sum(8 * np.prod(s) for s in explainer.frontier["shapes"])
    assert_maps_close(maps, _want(model), "float64", "DeconvNet through its frontier")
    again = DeconvNet(model, batch_size=2).explain(X[::-1], T[::-1]).numpy()  # other inputs, cached targets
    assert_maps_close(again, _want(model, x=X[::-1], targets=T[::-1]), "float64", "from cached signals")


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("model,rule", [(_early_pool(head="softmax"), "deconvnet"), (_early_pool(), "gradient"),
                                        (_early_pool(), "guided")])
def test_a_softmax_head_and_the_mask_rules_move_the_frontier_by_themselves(model, rule):
    explainer, maps = _explain(model, rule)
    assert not explainer.frontier["used"] and explainer.frontier["reason"]
    assert_maps_close(maps, _want(model, rule), "float64", f"{rule}, uncached")


def test_an_operator_that_mixes_the_batch_is_refused_its_frontier():
    model = _no_pool()

    def batch_normalised(f, x, y):  # each target divided by the batch's total: not one signal per row
        return tf.reduce_sum(f(x) * y / tf.reduce_sum(y), axis=-1)

    explainer, maps = _explain(model, operator=batch_normalised)
    assert explainer.frontier["used"], "nothing served from the cache yet: not checked"
    maps = explainer.explain(X, T).numpy()  # the first batch the cache would serve is checked first
    assert not explainer.frontier["used"] and "other samples of its batch" in explainer.frontier["reason"]
    want = DeconvNet(model, batch_size=2, operator=batch_normalised)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(frontiers, "WORTH", float("inf"))
        traced.clear_cache()
        assert_maps_close(maps, want.explain(X, T).numpy(), "float64", "refused: computed uncached")
    traced.clear_cache()
    per_row, _ = _explain(model, operator=lambda f, x, y: tf.reduce_sum(2.0 * f(x) * y, axis=-1))
    assert per_row.frontier["used"]


def test_signals_are_never_served_for_other_weights_dtype_or_cut():
    first, second = _no_pool(seed=0), _no_pool(seed=1)  # same fingerprint, other weights
    for model in (first, second, first):
        assert_maps_close(_explain(model)[1], _want(model), "float64", "a model with its own weights")
    model = _no_pool()
    _explain(model)
    model.set_weights([w * 1.5 + 0.1 for w in model.get_weights()])
    assert_maps_close(_explain(model)[1], _want(model), "float64", "after set_weights")
    single = _no_pool("float32")
    single.set_weights([w.astype("float32") for w in model.get_weights()])
    assert_maps_close(_explain(single, x=X.astype("float32"))[1], _want(model), "float32", "the float32 twin")
    cut = model.layers[-2].name
    _, maps = _explain(model, targets=np.ones((5, 4)), output_layer=cut)
    assert_maps_close(maps, _want(model, targets=np.ones((5, 4)), output_layer=cut), "float64", "cut model")


def test_the_cache_is_bounded(monkeypatch):
    model = _no_pool()
    explainer, _ = _explain(model)
    per_target = explainer.frontier["bytes_per_target"]
    signals.forget()
    monkeypatch.setattr(signals, "CACHE_BYTES", 3 * per_target)
    _explain(model, targets=np.array([0, 1, 2, 0, 1]))
    assert 0 < signals.cached_bytes() <= 3 * per_target


def _one_op_too_high(graph, xs, y, outputs):
    """The planted fault: each frontier tensor replaced by the output of the input-dependent op reading it."""
    found = FIND(graph, xs, y, outputs)
    on_x = frontiers._dependents(graph, xs, frontiers._ancestors(outputs))
    higher = [next((o for c in t.consumers() if c in on_x for o in c.outputs
                    if o.shape.rank and o.shape[0] == t.shape[0]), t) for t in found.tensors]
    found.tensors = list({t.ref(): t for t in higher}.values())
    return found


FIND = frontiers.find


@settings(max_examples=60, phases=[Phase.generate], derandomize=True, database=None)
@given(case=cases(kind="image"), style=st.sampled_from(STYLES))
def cached_maps_equal_the_reference(case, style):
    """Maps of new inputs for targets already cached equal the reference."""
    net, x, targets = case
    model, oracle = build(net, style), build(net, "sequential")
    explainer = DeconvNet(model, batch_size=len(x))
    explainer.explain(x, targets)  # fills the cache
    other = x[::-1] * 0.5 + 0.3  # new inputs, the same targets: served from the cache
    explainer.explain(other, targets)  # the first batch served is checked row by row, and computed whole
    assert_maps_close(explainer.explain(other, targets).numpy(),
                      reference.attribution(oracle, other, targets, "deconvnet"), "float64", str(net))


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_a_frontier_one_op_too_high_is_caught():
    """Planted in the finder, the fault is refused by the independent check (``reads_inputs``) and
    the maps stay right; planted past that check and the row-by-row check too, the property fails."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(frontiers, "WORTH", 0.0)
        patch.setattr(frontiers, "find", _one_op_too_high)
        traced.clear_cache()
        try:
            explainer, maps = _explain(_early_pool())
            assert not explainer.frontier["used"] and "computed from the inputs" in explainer.frontier["reason"]
            assert_maps_close(maps, _want(_early_pool()), "float64", "a refused frontier")
            patch.setattr(frontiers, "reads_inputs", lambda frontier, xs: False)
            patch.setattr(signals, "_separable", lambda traced, xs, rows, signals: True)
            traced.clear_cache()
            with pytest.raises(AssertionError, match="differs from the reference"):
                cached_maps_equal_the_reference()
        finally:
            traced.clear_cache()


@pytest.mark.parametrize("make", [_early_pool, _no_pool])
def test_a_single_call_prunes_nothing_and_the_second_prunes_what_pays(make):
    """One call runs the whole computation (caching as it goes; maps that are the signals
    themselves are served after the row-by-row check): no part around the frontier is pruned,
    since a prune costs as much as a trace. From the second call on, a call's few new targets get
    their signals up front from the part above the frontier, and every batch is served."""
    model, x = make(), np.random.default_rng(2).normal(size=(8, 8, 8, 2))
    targets = np.array([1, 2, 2, 1, 1, 2, 1, 1])
    explainer = DeconvNet(model, batch_size=4)
    maps = explainer.explain(x, targets).numpy()
    fn = explainer._recorded
    assert fn.above.function is None and (fn.lower is None or fn.lower.function is None), "a single call pruned"
    assert_maps_close(maps, _want(model, x=x, targets=targets), "float64", "one call")
    new = np.where(targets == 1, 0, targets)  # class 0 never seen: computed up front by the part above
    again = explainer.explain(x[::-1], new).numpy()
    assert fn.above.function is not None, "the part above the frontier ran"
    assert fn.signals_are_maps or fn.lower.function is not None, "the part below the frontier served"
    assert_maps_close(again, _want(model, x=x[::-1], targets=new), "float64", "signals computed up front")
    third = explainer.explain(x[::-1], new).numpy()
    assert np.array_equal(third, again), "two calls from the cache differ"


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_maps_served_whole_from_the_cache_keep_each_inputs_place_and_dtype(dtype):
    """A two-input model with no switch: its maps are the cached signals themselves, gathered
    straight into the output. Each input gets its own map, in its dtype, equal to the reference."""
    keras.utils.set_random_seed(3)
    a, b = keras.Input((5,), name="a", dtype=dtype), keras.Input((3,), name="b", dtype=dtype)
    h = L.Dense(6, activation="relu", dtype=dtype)(L.Concatenate(dtype=dtype)([a, L.Dense(4, dtype=dtype)(b)]))
    model = keras.Model([a, b], L.Dense(3, dtype=dtype)(h))
    rng = np.random.default_rng(4)
    xs, targets = [rng.normal(size=(6, 5)), rng.normal(size=(6, 3))], np.array([0, 2, 2, 0, 0, 2])
    explainer = DeconvNet(model, batch_size=2)
    calls = [explainer.explain(xs, targets) for _ in range(4)]
    assert explainer.frontier["used"] and explainer._recorded.signals_are_maps, explainer.frontier
    want = reference.attribution(model, [x.astype(dtype) for x in xs], targets)
    for i, maps in enumerate(calls):
        for name, got, expected in zip("ab", maps, want):
            assert got.dtype == dtype and got.shape == expected.shape, f"call {i + 1}, input {name}"
            assert_maps_close(got.numpy(), expected, dtype, f"call {i + 1}, input {name}")
    for got, again in zip(calls[2], calls[3]):
        assert np.array_equal(got.numpy(), again.numpy()), "two calls from the cache differ"


def test_targets_that_never_repeat_stop_the_caching_and_repeating_ones_resume_it():
    """Whole passes cache their rows' signals until GIVE_UP_BATCHES batches' worth went unused:
    then the function's signals (and the model's weight snapshot) are dropped and later distinct
    targets cost today's path. A call whose targets repeat caches and serves again. Maps stay right."""
    model, rng = _early_pool(), np.random.default_rng(5)
    x = rng.normal(size=(8, 8, 8, 2))
    explainer = DeconvNet(model, batch_size=2)
    explainer.explain(x[:2], np.eye(3)[:2])
    explainer.explain(x[:2], np.eye(3)[:2])  # a hit: the count of unused rows starts again
    fn = explainer._recorded
    for call in range(2):
        distinct = rng.normal(size=(8, 3))  # four batches of rows no batch uses again
        maps = explainer.explain(x, distinct).numpy()
        assert_maps_close(maps, reference.attribution(model, x, distinct), "float64", f"distinct targets, call {call}")
        assert not fn.caching, f"call {call}: still caching after {fn.unused} unused rows"
    rows = lambda: sum(key[0] == id(model) for key in signals._ROWS)  # noqa: E731 - the model's cached rows
    assert not fn.caching and rows() == 0 and model not in signals._SNAPSHOTS
    targets = np.array([0, 1, 0, 1, 1, 0, 0, 1])  # two targets over eight rows: shared
    maps = explainer.explain(x, targets).numpy()
    assert fn.caching and rows() > 0 and model in signals._SNAPSHOTS
    assert_maps_close(maps, _want(model, x=x, targets=targets), "float64", "caching again")
    again = explainer.explain(x[::-1], targets).numpy()
    assert_maps_close(again, _want(model, x=x[::-1], targets=targets), "float64", "served again")
