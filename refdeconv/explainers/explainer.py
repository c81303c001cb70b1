"""The explainer base class: the seed API (``explain``), batching, targets, operators, records.

Every rule (:mod:`refdeconv.explainers.methods`) is this class with one ``rule`` name; the rule
itself is applied in the traced function (:mod:`.traced`, :mod:`.rules`).
"""

from __future__ import annotations

import threading

import numpy as np
import tensorflow as tf

from . import inputs as io
from . import datasets, distributed, operators, signals, traced
from .checks import Checks
from .models import fingerprint, model_dtype
from .outputs import Collector, aligned_empty, to_tensor
from .signature import flatten, signature


_CALLS = threading.Lock()  # guards Traced.calls


class Explainer(Checks):
    """Attribution maps ``d s_i / d x_i`` of the score ``s_i = operator(f, x_i, y_i)``
    backpropagated with one ReLU rule.

    Parameters
    ----------
    model : keras.Model
        A Keras 3 (or tf-keras) model: Sequential, Functional or subclassed.
        It is never modified.
    output_layer : str, int or None
        Name or index (negative counts from the end) in ``model.layers`` of the
        layer whose output is explained; the model is really cut there (a model
        ending in a softmax layer explained at ``-2`` is its logits model).
        ``None``: the model's output. Subclassed models cannot be cut.
    batch_size : int or None
        Inputs explained at once; ``None`` for all at once. Maps do not depend on it.
    operator : callable, str or None
        ``g(f, x, y)`` returning one scalar per sample, or the name of a
        built-in one (:mod:`refdeconv.explainers.operators`); default
        ``"classification"``, ``sum(f(x) * y, -1)``.
    strategy : tf.distribute.Strategy or None
        Split each batch over the replicas of a ``OneDeviceStrategy``,
        ``MirroredStrategy`` or ``MultiWorkerMirroredStrategy``
        (:mod:`refdeconv.explainers.distributed`); ``None``: the strategy the
        model's variables were created under, if any, else one device.

    Attributes
    ----------
    rules_applied : list of dict
        After the first ``explain``: one entry per traced nonlinearity, with
        its op name (Keras name scope included), its type and the rule it really
        got: ``"gradient"`` for non-ReLUs, ``"not reached"`` for a ReLU whose own
        gradient TensorFlow never built (e.g. under a user's ``tf.custom_gradient``).
    frontier : dict
        After an ``explain``, for its first batch: where the map computation splits
        (:meth:`refdeconv.explainers.frontier.Frontier.describe`): ``used``,
        ``reason`` (why not), the frontier ``tensors`` and their per-sample
        ``shapes``, ``bytes_per_target`` cached, and the work above it and in all.

    Raises
    ------
    RuntimeError
        Before anything else, where ``tf.compat.v1.disable_eager_execution()`` was
        called in this process: refdeconv needs eager execution (run it in a
        separate process).
    """

    rule = "gradient"

    def __init__(self, model, output_layer=None, batch_size=32, operator=None, strategy=None):
        _require_eager()
        self.dtype = model_dtype(model)  # raises TypeError for a non-Keras model
        self.strategy = distributed.resolve(strategy, model)
        self.model, self.output_layer = model, output_layer
        self.batch_size = io.check_batch_size(batch_size)
        self.operator = operators.resolve(operator)
        self._version = None
        self._refresh()  # raises for a bad output_layer, or several outputs
        self.rules_applied: list[dict] = []
        self.frontier: dict = {}
        self._recorded = self._pending = None
        self._used: set = set()  # ids of the traced functions this call has used (Traced.calls)
        self._warned = False

    def _refresh(self) -> None:
        """Read the model anew if it changed since the last look (an activation, a layer's config,
        a sub-model): traced functions are keyed by its fingerprint, so a changed model is traced
        anew and an unchanged one finds its traces."""
        version = fingerprint(self.model)
        if version != self._version:
            self.dtype = model_dtype(self.model)
            self._sig = signature(traced.forward_of(self.model, self.output_layer, version), self.model)
            self._check_operator()
            self._version = version

    def explain(self, inputs, targets=None):
        """Attribution maps of ``inputs`` for ``targets``.

        Parameters
        ----------
        inputs : numpy.ndarray, tf.Tensor, list, tuple, dict or tf.data.Dataset
            ``(N, W)``, ``(N, T, W)`` or ``(N, H, W, C)``, cast to the model's
            dtype; for a model with several inputs, a list or tuple (in the
            model's order) or a dict (keyed by input name) of them, as Keras
            takes them (a model built on a dict written out of key order takes
            a dict only: Keras sorts its inputs by key, so a list would be
            ambiguous); or a Dataset of ``(x, y)`` (or ``x``), batched or not,
            whose samples may differ in shape (images of several sizes,
            ``padded_batch`` lengths): consecutive samples of the same shape
            are explained together, at most ``batch_size`` at once.
        targets : array_like or None
            One-hot ``(N, classes)`` (the output's shape), integer labels
            ``(N,)``, or ``None`` for each input's top class. Must be ``None``
            with a Dataset.

        Returns
        -------
        tf.Tensor, or a list, tuple or dict of them
            The maps: raw and signed, of the inputs' shapes and dtypes, in the
            structure the inputs came in. From a Dataset whose samples differ
            in shape, a model input's maps are a list of ``tf.Tensor`` instead,
            one map per sample in that sample's own shape, in the Dataset's
            order (per input for a model with several: a list only where that
            input's shapes differ); iterating gives one map per sample either way.

        Raises
        ------
        TypeError, ValueError
            Naming the argument (``inputs``, ``targets``, ``model``, ``operator``)
            and what was expected (for a Dataset sample of a shape the model does
            not take: its index, when it is reached); the model is left as it was.
        RuntimeError
            Eager execution was turned off in this process (see the class).
        """
        _require_eager()
        self._refresh()
        signals.check_weights(self.model)
        self._recorded = None
        self._used, self._nonfinite = set(), 0
        if isinstance(inputs, tf.data.Dataset):
            if targets is not None:
                raise ValueError("targets: must be None when inputs is a tf.data.Dataset, which yields its own targets")
            return self._explain_stream(inputs)
        xs, pack = flatten(inputs, self._sig)
        xs, y = self._checked(xs, targets)
        n = int(xs[0].shape[0])
        outs = [aligned_empty(tuple(x.shape), tf.as_dtype(self._dtype_of(i)).as_numpy_dtype) for i, x in enumerate(xs)]
        step = n if self.batch_size is None else self.batch_size
        self._pending = y  # all the call's targets: their frontier signals are computed up front
        for start in range(0, n, max(step, 1)):
            stop = min(start + step, n)
            self._batch([x[start:stop] for x in xs], None if y is None else y[start:stop],
                        [out[start:stop] for out in outs])
        self._warn_nonfinite(n)
        return pack([to_tensor(out) for out in outs])

    def _dtype_of(self, i: int) -> str:
        """The dtype input ``i`` is cast to (its own in a graph with several inputs, else the model's)."""
        return self._sig.dtypes[i] if self._sig.several else self.dtype

    def _explain_stream(self, dataset):
        batches, pair, pack, specs = datasets.batched_dataset(dataset, self.batch_size, lambda: self._sig)
        collectors, seen = None, 0
        for element in batches:  # streamed: one batch in memory at a time, plus the maps so far
            x, y = element if pair else (element, None)
            xs, y = self._checked(flatten(x, self._sig)[0], y, offset=seen)
            maps = self._batch(xs, y)
            collectors = collectors or [Collector() for _ in maps]
            for collector, part in zip(collectors, maps):
                collector.add(part)
            seen += int(xs[0].shape[0])
        self._warn_nonfinite(seen)
        if not seen:
            return pack([tf.zeros([0, *[d or 0 for d in (spec.shape if spec.shape.rank is not None else [])]],
                                  self._dtype_of(i)) for i, spec in enumerate(specs)])
        return pack([collector.result() for collector in collectors])

    def _batch(self, xs: list, y, into: list | None = None) -> list:
        """Maps of one batch, one NumPy array per input, each in its input's dtype (written to ``into``,
        the batch's slices of the output, when given, and returned)."""
        if self.strategy is None:
            maps = self._maps(xs, y, into)
        else:
            maps = _written(distributed.run(self.strategy, self._maps, xs, y), into)
        self._count_nonfinite(maps)
        return maps

    def _maps(self, xs: list, y, into: list | None = None) -> list:
        """Maps of one batch on one device (see :meth:`_batch`)."""
        x_specs = [tf.TensorSpec(x.shape, self._dtype_of(i)) for i, x in enumerate(xs)]  # exact: see .traced on pruning
        xs = _Cast(xs, x_specs)  # cast when a traced function reads them: maps served whole from the cache do not
        if y is None:
            y = traced.top_class_function(self.model, self.output_layer, self._version, x_specs).function(xs())
        y = tf.cast(y, self.dtype if not self._sig.several else self._sig.output_dtype)
        try:
            fn = traced.maps_function(self.model, self.output_layer, self._version, self.rule, self.operator, x_specs,
                                      tf.TensorSpec(y.shape, y.dtype))
        except (TypeError, ValueError) as err:
            raise self._small_batch(err, int(x_specs[0].shape[0])) from err.__cause__
        self._note(fn.record)
        if self._recorded is None:  # the first batch's: a last, smaller batch has a function of its own
            self.frontier, self._recorded = fn.frontier.describe(), fn
        with _CALLS:  # the replicas of a strategy run batches from their threads
            if id(fn) not in self._used:
                self._used.add(id(fn))
                fn.calls += 1
        if self._pending is not None and fn.frontier.used and self.strategy is None:
            signals.prefetch(self.model, fn, tf.cast(self._pending, y.dtype).numpy())
        self._pending = None
        try:
            maps = signals.maps(self.model, fn, xs, y, into) if fn.frontier.used else fn.function(xs(), y)
            if fn is self._recorded:  # a failed row-by-row check has just turned the frontier off
                self.frontier = fn.frontier.describe()
            return _written(maps, into)
        except tf.errors.InvalidArgumentError as err:
            raise self._failed(err, x_specs) from None


def _require_eager() -> None:
    """``RuntimeError`` where ``tf.compat.v1.disable_eager_execution()`` was called in this process.

    ``executing_eagerly_outside_functions``, not ``executing_eagerly`` (which is False inside any
    ``tf.function``, e.g. when an explainer is built inside a user's traced code).
    """
    if not tf.compat.v1.executing_eagerly_outside_functions():
        raise RuntimeError(
            "refdeconv needs TensorFlow 2's eager execution, which tf.compat.v1.disable_eager_execution() has "
            "turned off in this process (iNNvestigate and some SHAP explainers do so), and Keras 3 does not run in "
            "graph mode. Eager execution cannot be turned back on in a process: run refdeconv in a separate "
            "process, e.g. multiprocessing with the 'spawn' start method (multiprocessing.get_context('spawn')) "
            "or a subprocess.")


def _written(maps: list, into: list | None) -> list:
    """``maps`` as NumPy arrays, written to ``into`` when given (cached maps gathered there already are not copied)."""
    if into is None:
        return [np.asarray(m) for m in maps]
    for out, part in zip(into, maps):
        if part is not out:
            out[...] = part
    return into


class _Cast:
    """A batch's inputs cast to their specs' dtypes on the first call, once (``tf.cast``: a copy)."""

    def __init__(self, xs: list, specs: list):
        self.xs, self.specs, self.cast = xs, specs, None

    def __call__(self) -> list:
        if self.cast is None:
            self.cast = [tf.cast(x, spec.dtype) for x, spec in zip(self.xs, self.specs)]
        return self.cast
