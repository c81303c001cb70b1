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
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass, field

import tensorflow as tf

from . import rules
from .models import cut
from .override import override
from .signature import signature

CACHE_SIZE = 32

#: Op types of nonlinearities that are not ReLUs: they keep their ordinary gradient.
NON_RELU_OPS = frozenset({
    "LeakyRelu", "Elu", "Selu", "Sigmoid", "Tanh", "Softmax", "LogSoftmax",
    "Softplus", "Softsign", "Erf", "Gelu",
})

_CACHE: OrderedDict = OrderedDict()


@dataclass
class Traced:
    """A concrete function and, for maps, the record of which traced op got which rule."""

    function: object
    record: list = field(default_factory=list)
    scores: object = None  # the operator's scores, run once to check their length
    checked: bool = False


def _cached(model, key, build) -> Traced:
    """The entry for ``(id(model), *key)``; the entry holds ``model``, so its id stays its own."""
    key = (id(model), *key)
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key][1]
    traced = build()
    _CACHE[key] = (model, traced)
    while len(_CACHE) > CACHE_SIZE:
        _CACHE.popitem(last=False)
    return traced


def clear_cache() -> None:
    """Forget every traced function (and release the models they hold)."""
    _CACHE.clear()


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
    entries = [{"op": name, "type": kind, "rule": trace.rule if name in trace.reached else "not reached"}
               for name, kind in relus.items() if rules.NOT_A_RELU_SCOPE not in name]
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
                scores = tf.convert_to_tensor(operator(_call(forward), sig.model_inputs(xs), y))
                if scores.shape.rank != 1:
                    raise ValueError(
                        f"operator: must return one scalar per sample, shape (N,), got shape {tuple(scores.shape)}"
                    )
                relus = rules.forward_ops(graph, rules.RELU_OPS, xs, scores)
                others = rules.forward_ops(graph, NON_RELU_OPS, xs, scores)
                # No run-time check on the scores here: it would make the whole forward pass a
                # dependency and stop TensorFlow from pruning what DeconvNet's backward pass ignores.
                grads = tf.gradients(tf.reduce_sum(scores), xs)
            traced.record = _record(trace, relus, others)
            missing = [name for name, g in zip(sig.names, grads) if g is None]
            if missing:
                which = "inputs" if not sig.several else f"inputs {missing}"
                raise ValueError(_NOT_DIFFERENTIABLE.format(which=which, dtypes=[x.dtype.name for x in xs]))
            return grads

        traced.function = tf.function(maps, autograph=False).get_concrete_function(x_specs, y_spec)
        traced.scores = tf.function(lambda xs, y: operator(_call(forward), sig.model_inputs(xs), y),
                                    autograph=False).get_concrete_function(x_specs, y_spec)
        return traced

    return _cached(model, (version, output_layer, rule, operator, tuple(x_specs), y_spec), build)


def _call(forward):
    """The model as the operator calls it: ``f(x)`` at inference."""
    return lambda t: forward(t, training=False)


_NOT_DIFFERENTIABLE = (
    "{which}: the score is not differentiable with respect to them (dtypes {dtypes}): no gradient path "
    "leads from the output back to them, as with integer token ids fed to an Embedding. Explain from the "
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
