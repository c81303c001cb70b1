"""The traced functions behind ``explain``, and the cache that spares a new explainer a re-trace.

One concrete function per (model, output layer, rule, operator, input and
target shapes). The shapes are exact, batch axis included: with a ``None``
batch axis, TensorFlow's convolution gradients read the forward tensors'
shapes at run time, which keeps the whole forward pass alive, whereas with
static shapes TensorFlow prunes the forward work that DeconvNet's backward
pass ignores (measured: about half the cost of a plain gradient on ResNet50).
A last partial batch is traced once, then reused like the full batches. The
cache keeps the most recent :data:`CACHE_SIZE` functions (they hold the model
alive, so the cache is bounded); a new explainer on an already explained
model finds its functions here and pays no trace (Xplique re-clones and
re-traces for every explainer).

A map function is traced once as a graph (``tf.compat.v1.wrap_function``), so
that it can be split at its frontier (:mod:`.frontier`): when a frontier is
worth caching, the trace also returns the frontier signals, and two parts are
pruned from it when first needed, from the function's second ``explain`` call on
(``Traced.calls``): the part below the frontier, fed with cached signals, and the
part above it alone (:mod:`.signals`).
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field

import tensorflow as tf

from . import frontier as frontiers
from . import nonlinear, rules, signals
from . import scores as operator_scores
from .models import cut
from .override import override
from .signature import signature

CACHE_SIZE = 32

_CACHE: OrderedDict = OrderedDict()
_LOCK = threading.RLock()


@dataclass
class Traced:
    """A concrete function and, for maps, the record of which traced op got which rule."""

    function: object
    record: list = field(default_factory=list)
    frontier: frontiers.Frontier | None = None  # maps only: where the computation splits
    full: object = None  # (xs..., y) -> maps + frontier signals, when the frontier is used
    lower: object = None  # (xs..., y, signals...) -> maps
    above: object = None  # (y, folds...) -> signals: the part above the frontier alone
    folds: list = field(default_factory=list)  # the constants ``above`` takes after y
    batch: int = 0  # the traced batch size
    signals_are_maps: bool = False  # the frontier is the maps themselves: nothing below it
    separable: bool | None = None  # signals computed row by row (checked before the first cached map)
    calls: int = 0  # explain calls that used it: its parts around the frontier are pruned from the second on
    unused: int = 0  # rows cached since a cached row was last used

    @property
    def caching(self) -> bool:
        """Whether whole passes cache their rows' signals: until :data:`.signals.GIVE_UP_BATCHES`
        batches' worth went unused."""
        return self.unused < signals.GIVE_UP_BATCHES * self.batch


def _cached(model, key, build) -> Traced:
    """The entry for ``(id(model), *key)``; the entry holds ``model``, so its id stays its own."""
    key = (id(model), *key)
    with _LOCK:  # replicas of a tf.distribute strategy ask from their threads: one trace each
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key][1]
        traced = build()
        _CACHE[key] = (model, traced)
        while len(_CACHE) > CACHE_SIZE:
            signals.forget(traced=_CACHE.popitem(last=False)[1][1])
        return traced


def clear_cache() -> None:
    """Forget every traced function and cached signal (and release the models they hold)."""
    _CACHE.clear()
    signals.forget()


def forward_of(model, output_layer, version: int):
    """The (cached) cut model, so that explainers of one model share it.

    ``version`` is the model's :func:`~refdeconv.explainers.models.fingerprint`: a changed model
    is cut and traced anew.
    """
    return _cached(model, (version, output_layer, "forward"), lambda: Traced(cut(model, output_layer))).function


def _not_a_relu_kind(op_name: str) -> str:
    """``"prelu"`` from ``".../refdeconv_not_a_relu_prelu_1/Relu"`` (TensorFlow numbers repeated scopes)."""
    scope = op_name.split(f"{rules.NOT_A_RELU_SCOPE}_")[1].split("/")[0]
    return re.sub(r"_\d+$", "", scope)


def _record(trace, relus: dict, others: dict) -> list:
    """One entry per traced nonlinearity: what it really got (see :class:`rules.Trace`)."""
    entries = [{"op": name, "type": op.type, "rule": trace.rule if rules.op_key(op) in trace.reached else "not reached"}
               for name, op in relus.items() if rules.NOT_A_RELU_SCOPE not in name]
    not_relus = [{"op": name, "type": kind, "rule": "gradient"} for name, kind in others.items()]
    not_relus += [{"op": name, "type": _not_a_relu_kind(name), "rule": "gradient"}
                  for name in relus if rules.NOT_A_RELU_SCOPE in name]
    return trace.routed + entries + not_relus


def maps_function(model, output_layer, version, rule, operator, x_specs, y_spec) -> Traced:
    """The traced map function ``(xs, y) -> [d sum(operator(f, x, y)) / dx_i]`` under ``rule``.

    ``xs`` is one tensor per model input, in the model's order (:mod:`.signature`).

    Raises
    ------
    ValueError
        The operator does not return one score per sample, or the scores are not
        differentiable with respect to an input (integer inputs, a disconnected input).
    """
    forward = forward_of(model, output_layer, version)

    def build():
        sig = signature(forward)  # read once per trace, not per batch
        traced = Traced(None)

        def maps(xs, y):
            graph = tf.compat.v1.get_default_graph()
            with override(rule) as trace:
                scores, called = operator_scores.call(operator, forward, sig.model_inputs(xs), y)
                scores = operator_scores.dense(scores)
                known = operator_scores.static_length_checked(scores.shape, xs[0].shape[0])  # static: checked now
                walked = list(rules.forward_walk(graph, xs, scores))  # the forward pass, walked once
                relus = rules.forward_ops(walked, rules.RELU_OPS)
                others = nonlinear.find(graph, xs, walked)
                grads = tf.gradients(tf.reduce_sum(scores), xs)
            if not known:
                # A length known only at run time (a mask of the data, say) is checked by every
                # batch. Only then: the check makes the whole forward pass a dependency and stops
                # TensorFlow from pruning what DeconvNet's backward pass ignores.
                grads = operator_scores.checked_per_batch(grads, scores, xs[0].shape[0])
            grads = operator_scores.stateful_ops_run(grads, graph)  # its assertions, its prints
            traced.record = _record(trace, relus, others)
            missing = [name for name, g in zip(sig.names, grads) if g is None]
            if missing and not called:
                raise ValueError("operator: its scores do not depend on the model: it never calls f (the model "
                                 "cut at output_layer) on x, so there is no map to compute")
            if missing:
                which = "inputs" if not sig.several else f"inputs {missing}"
                raise ValueError(_NOT_DIFFERENTIABLE.format(which=which, dtypes=[x.dtype.name for x in xs]))
            traced.frontier = _frontier(graph, xs, y, grads)
            traced.signals_are_maps = [g.ref() for g in grads] == [t.ref() for t in traced.frontier.tensors]
            return grads + (traced.frontier.tensors if traced.frontier.used else [])

        k = len(x_specs)  # a flat signature: the pruned part takes flat tensors too
        wrapped = tf.compat.v1.wrap_function(lambda *flat: maps(list(flat[:k]), flat[k]), [*x_specs, y_spec])
        traced.function = lambda xs, y: wrapped(*xs, y)[:k]
        if traced.frontier.used:
            _split(traced, wrapped, k)
        return traced

    return _cached(model, (version, output_layer, rule, operator, tuple(x_specs), y_spec), build)


def _frontier(graph, xs, y, grads) -> frontiers.Frontier:
    """The frontier of the map computation being traced, checked independently of the finder."""
    frontier = frontiers.find(graph, xs, y, grads)
    if frontier.used and frontiers.reads_inputs(frontier, xs):
        frontier.reason = "a frontier tensor is computed from the inputs: refused (the finder is wrong)"
    return frontier


def _split(traced: Traced, wrapped, k: int) -> None:
    """The parts of ``wrapped`` (``k`` inputs and the target -> maps and frontier signals) around its
    frontier: ``full`` is ``wrapped`` itself; the parts below and above it are pruned when first needed."""
    traced.full, traced.batch = wrapped, int(wrapped.graph.inputs[k].shape[0])
    folds = [t for t, _ in traced.frontier.folds]
    above = [wrapped.graph.inputs[k], *folds]
    traced.folds = [tf.constant(v) for _, v in traced.frontier.folds]
    traced.above = _Lazy(lambda: _flat(wrapped.prune(feeds=above, fetches=traced.frontier.tensors), above))
    if traced.signals_are_maps:  # no switch at all: no part below the frontier to run
        return
    outputs, feeds = wrapped.outputs[:k], [*wrapped.graph.inputs[:k + 1], *traced.frontier.tensors]
    traced.lower = _Lazy(lambda: _flat(wrapped.prune(feeds=feeds, fetches=outputs), feeds))


def _flat(pruned, feeds):
    """``pruned`` with a flat signature of the ``feeds``' specs: a pruned function has no signature of
    its own, and each call would first fail to bind one (about 40 ms of error formatting a call)."""
    specs = [tf.TensorSpec(t.shape, t.dtype) for t in feeds]
    return tf.compat.v1.wrap_function(lambda *args: pruned(*args), specs)


class _Lazy:
    """A pruned function built on its first call (pruning a large graph takes seconds)."""

    def __init__(self, make):
        self.make, self.function = make, None

    def __call__(self, *args):
        with _LOCK:
            self.function = self.function or self.make()
        return self.function(*args)


_NOT_DIFFERENTIABLE = (
    "{which}: the score is not differentiable with respect to them (dtypes {dtypes}): no gradient path "
    "leads from the output back to them, as with integer token ids fed to an Embedding, or an operator whose "
    "score does not depend on f(x) (a tf.stop_gradient). Explain from the "
    "first differentiable tensor instead: e.g. the embedding's output, with a model that starts there "
    "(see docs/models.md, 'Inputs with no gradient')"
)


def top_class_function(model, output_layer, version, x_specs) -> Traced:
    """The traced ``xs -> one_hot(argmax f(xs))`` for ``targets=None``."""
    forward = forward_of(model, output_layer, version)

    def build():
        sig = signature(forward)

        def top(xs):
            out = forward(sig.model_inputs(xs), training=False)
            return tf.one_hot(tf.argmax(out, axis=-1), tf.shape(out)[-1], dtype=out.dtype)

        return Traced(tf.function(top, autograph=False).get_concrete_function(x_specs))

    return _cached(model, (version, output_layer, "top", tuple(x_specs)), build)
