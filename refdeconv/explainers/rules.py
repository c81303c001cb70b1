"""The three ReLU rules as TensorFlow gradients, and their op-level dispatch.

=========== ============================================ =====================
rule        backward signal at a ReLU (input z, upstream u) installed as
=========== ============================================ =====================
gradient    ``u * 1[z active]``                           TensorFlow's own
                                                          gradient (recorded)
deconvnet   ``relu(u)``                                   the dispatch below
guided      ``relu(u) * 1[z active]``                     the dispatch below
=========== ============================================ =====================

How the rules are installed: :mod:`refdeconv.explainers.override`.

References
----------
.. [1] Zeiler, M. D. & Fergus, R. "Visualizing and Understanding Convolutional
   Networks", ECCV 2014, arXiv:1311.2901.
.. [2] Springenberg, J. T. et al. "Striving for Simplicity: The All
   Convolutional Net", ICLR 2015 workshop, arXiv:1412.6806.
"""

from __future__ import annotations

import collections
import contextlib
import threading
from dataclasses import dataclass, field

import tensorflow as tf
from tensorflow.python.eager.polymorphic_function import concrete_function
from tensorflow.python.framework import ops as tf_ops

#: Rule -> backward signal at a ReLU, ``f(u, active)``; ``active()`` builds the
#: mask only when the rule needs it, so DeconvNet's backward pass does not keep
#: the forward ReLU values alive (TensorFlow prunes them).
SIGNALS = {
    "deconvnet": lambda u, active: tf.nn.relu(u),
    "guided": lambda u, active: tf.nn.relu(u) * tf.cast(active(), u.dtype),
}

_ACTIVE = {  # op type -> mask where the op's derivative is 1, as TensorFlow's own gradient
    "Relu": lambda op: op.outputs[0] > 0,
    "Relu6": lambda op: tf.logical_and(op.inputs[0] > 0, op.inputs[0] < 6),
}
RELU_OPS = tuple(_ACTIVE)

#: Name scope of the forward ops of a capped/thresholded ReLU routed through :func:`family_relu`.
FAMILY_SCOPE = "refdeconv_family_relu"
#: Name scope of a nonlinearity that Keras computes through ``relu6`` but is not a ReLU.
NOT_A_RELU_SCOPE = "refdeconv_not_a_relu"


@dataclass
class Trace:
    """What the override did during one trace: the rule, and which ReLUs' gradients were built.

    ``reached`` holds the :func:`op_key` of the ``Relu``/``Relu6`` ops whose gradient TensorFlow asked for
    (and so got the rule); ``routed`` one entry per capped/thresholded Keras ReLU routed
    through :func:`family_relu`, marked ``reached`` when its backward pass was built;
    ``clones`` the ``tf.function`` objects the forward pass called, each with the fresh copy
    traced in this trace in its place (:mod:`.override`).
    """

    rule: str
    reached: set = field(default_factory=set)
    routed: list = field(default_factory=list)
    clones: dict = field(default_factory=dict)


_STATE = threading.local()  # .trace: the Trace of the trace this thread is running, if any
_LOCK = threading.Lock()
_HOOKED: dict = {}  # op type -> TensorFlow's own gradient function


def current() -> Trace | None:
    """The :class:`Trace` of this thread's refdeconv trace, ``None`` outside one."""
    return getattr(_STATE, "trace", None)


@contextlib.contextmanager
def active(trace: Trace):
    """Make ``trace`` this thread's refdeconv trace inside the block (restored on exit)."""
    previous, _STATE.trace = current(), trace
    try:
        yield trace
    finally:
        _STATE.trace = previous


def _hook(op_type: str, original):
    def gradient(op, u):
        trace, name = current(), getattr(op, "name", None)  # tf.recompute_grad passes a nameless mock op
        if trace is None or (name is not None and NOT_A_RELU_SCOPE in name):
            return original(op, u)
        if name is not None:
            trace.reached.add(op_key(op))
        if trace.rule == "gradient":
            return original(op, u)
        return SIGNALS[trace.rule](u, lambda: _ACTIVE[op_type](op))

    return gradient


def op_attr(op, name: str):
    """The attribute ``name`` of ``op``, bytes decoded to ``str`` (``padding``, ``data_format``)."""
    value = op.get_attr(name)
    return value.decode() if isinstance(value, bytes) else value


def put_in_front(saved: dict, makers: dict) -> None:
    """Replace TensorFlow's registered gradient of each op type of ``makers`` by
    ``makers[op_type](TensorFlow's own)``, keeping TensorFlow's own in ``saved`` (the caller
    installs once per process, under its lock)."""
    registry = tf_ops._gradient_registry._registry  # noqa: SLF001 - see docs/override.md
    for op_type, make in makers.items():
        saved[op_type] = registry[op_type]["type"]
        registry[op_type]["type"] = make(saved[op_type])


def install_op_hooks() -> None:
    """Put a per-thread dispatch in front of TensorFlow's registered ``Relu``/``Relu6`` gradients.

    Installed once per process. Outside a refdeconv trace (any other thread, any other code)
    it calls TensorFlow's own gradient function, unchanged. Being in the registry, not in one
    graph's ``gradient_override_map``, it reaches ReLUs in every function graph that
    ``tf.gradients`` differentiates: ``while`` loop bodies (recurrent layers with
    ``unroll=False``), ``cond`` branches, nested ``tf.function`` calls.

    Nested ``tf.function`` calls need one more dispatch: TensorFlow builds the backward function
    of a called concrete function once and caches it on that function, whichever gradient
    functions were in force then. So inside a refdeconv trace the pair is built anew and not
    cached, and outside one TensorFlow's cache is used as ever: a backward pass built under one
    rule never serves another rule, or the user's own ``tf.gradients`` (measured before this
    dispatch: a ``Gradient`` explainer after a ``DeconvNet`` one got DeconvNet's maps, and so did
    the user's ``tf.gradients`` of the model).
    """
    with _LOCK:
        if _HOOKED:
            return
        put_in_front(_HOOKED, {op_type: lambda original, t=op_type: _hook(t, original) for op_type in RELU_OPS})
        pairs = concrete_function._DelayedRewriteGradientFunctions  # noqa: SLF001
        _HOOKED["forward_backward"] = pairs.forward_backward
        pairs.forward_backward = _forward_backward


def _forward_backward(self, num_doutputs=None):
    """A called function's forward and backward pair: TensorFlow's cached one outside a refdeconv
    trace, one built for this trace inside it (its gradients under the trace's rule, its ReLUs
    recorded as reached)."""
    if current() is None:
        return _HOOKED["forward_backward"](self, num_doutputs)
    return self._construct_forward_backward(self._num_inference_outputs if num_doutputs is None else num_doutputs)


def called_graphs(op, library: dict) -> list:
    """The function graphs ``op`` calls (loop bodies and conditions, branches, function calls)."""
    names = []
    for value in op.node_def.attr.values():
        if value.HasField("func"):
            names.append(value.func.name)
        names.extend(f.name for f in value.list.func)
    return [library[name].graph for name in names if name in library]


def descendants(sources) -> set:
    """The ops computed from the tensors ``sources`` (their own ops included), through data edges."""
    above, stack = set(), [s.op for s in sources]
    while stack:
        op = stack.pop()
        if op not in above:
            above.add(op)
            stack.extend(c for t in op.outputs for c in t.consumers())
    return above


def between(graph, sources, target) -> list:
    """Ops of ``graph`` on a path from one of the tensors ``sources`` to tensor ``target``."""
    below, stack = set(), [target.op]
    while stack:
        op = stack.pop()
        if op not in below:
            below.add(op)
            stack.extend(t.op for t in op.inputs)
    above = descendants(sources)
    return [op for op in graph.get_operations() if op in below and op in above]


def op_key(op) -> tuple:
    """``(id of its graph, op name)``: an op's identity across the function graphs of one trace
    (two nested functions may each hold a ``dense/Relu``, and their graphs' names need not differ:
    two ``tf.function`` of lambdas are both ``<lambda>``). The graphs live as long as the trace."""
    return id(op.graph), op.name


def forward_walk(graph, sources, target):
    """``(op, name)`` for each op on a path from a tensor of ``sources`` to tensor ``target``.

    Function graphs called by an op on the path (a ``while`` body, a ``cond`` branch, a nested
    ``tf.function``) count whole; their ops' names are qualified by the calling op's
    (``model/block/StatefulPartitionedCall/re_lu/Relu``), so that the ops of two nested
    functions never share a name. Taken before ``tf.gradients`` runs, it walks the forward pass
    only.
    """
    library = dict(getattr(graph, "_functions", {}))
    queue, seen = collections.deque((op, op.name) for op in between(graph, sources, target)), set()
    while queue:
        op, name = queue.popleft()
        if id(op) in seen:
            continue
        seen.add(id(op))
        yield op, name
        for called in called_graphs(op, library):
            library.update(getattr(called, "_functions", {}))
            queue.extend((inner, f"{name}/{inner.name}") for inner in called.get_operations())


def forward_ops(walked: list, types) -> dict:
    """``name -> op`` of the ops of ``types`` among ``walked`` (:func:`forward_walk`'s pairs).

    A ReLU off the path (Keras's recurrent layers, say, run their first step once outside the
    loop to learn its shapes) has no bearing on the map and is not listed; ops of a routed
    capped ReLU's own forward (:data:`FAMILY_SCOPE`) neither.
    """
    return {name: op for op, name in walked
            if op.type in types and f"{FAMILY_SCOPE}/" not in op.name}
