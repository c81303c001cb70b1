"""The explainers: one base with the seed API, one ReLU rule each.

``DeconvNet``, ``Gradient`` and ``GuidedBackprop`` share everything but the
rule (:mod:`refdeconv.explainers.rules`): the same traced function, batching, operator
and record, so the plain gradient is a free control of the other two.
"""

from __future__ import annotations

import warnings

import numpy as np
import tensorflow as tf

from . import inputs as io
from . import operators, traced
from .outputs import Collector, aligned_empty, to_tensor
from .models import graph_shapes, model_dtype


class Explainer:
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

    Attributes
    ----------
    rules_applied : list of dict
        After the first ``explain``: one entry per traced nonlinearity, with
        its op name (Keras name scope included), its type and the rule it really
        got: ``"gradient"`` for non-ReLUs, ``"not reached"`` for a ReLU whose own
        gradient TensorFlow never built (e.g. under a user's ``tf.custom_gradient``).
    """

    rule = "gradient"

    def __init__(self, model, output_layer=None, batch_size=32, operator=None):
        self.dtype = model_dtype(model)  # raises TypeError for a non-Keras model
        self.model, self.output_layer = model, output_layer
        self.batch_size = io.check_batch_size(batch_size)
        self.operator = operators.resolve(operator)
        forward = traced.forward_of(model, output_layer)  # raises for a bad output_layer
        self._input_shape, self._output_shape = graph_shapes(forward)
        self.rules_applied: list[dict] = []
        self._warned = False

    def explain(self, inputs, targets=None) -> tf.Tensor:
        """Attribution maps of ``inputs`` for ``targets``.

        Parameters
        ----------
        inputs : numpy.ndarray, tf.Tensor or tf.data.Dataset
            ``(N, W)``, ``(N, T, W)`` or ``(N, H, W, C)``, cast to the model's
            dtype; or a Dataset of ``(x, y)`` (or ``x``), batched or not.
        targets : array_like or None
            One-hot ``(N, classes)`` (the output's shape), integer labels
            ``(N,)``, or ``None`` for each input's top class. Must be ``None``
            with a Dataset.

        Returns
        -------
        tf.Tensor
            The maps: raw and signed, of the inputs' shape, in the model's dtype.
        """
        if isinstance(inputs, tf.data.Dataset):
            if targets is not None:
                raise ValueError("targets: must be None when inputs is a tf.data.Dataset, which yields its own targets")
            return self._explain_stream(inputs)
        x, y = self._checked(inputs, targets)
        n = int(x.shape[0])
        out = aligned_empty(tuple(x.shape), tf.as_dtype(self.dtype).as_numpy_dtype)
        step = n if self.batch_size is None else self.batch_size
        for start in range(0, n, max(step, 1)):
            stop = min(start + step, n)
            out[start:stop] = self._batch(x[start:stop], None if y is None else y[start:stop])
        return to_tensor(out)

    def _explain_stream(self, dataset) -> tf.Tensor:
        rank = None if self._input_shape is None else len(self._input_shape)
        batches, pair = io.batched_dataset(dataset, self.batch_size, rank)
        maps, seen = Collector(), 0
        for element in batches:  # streamed: one batch in memory at a time, plus the maps so far
            xb, yb = self._checked(*(element if pair else (element, None)), offset=seen)
            maps.add(self._batch(xb, yb))
            seen += int(xb.shape[0])
        if not seen:
            sample = (batches.element_spec[0] if pair else batches.element_spec).shape[1:]
            return tf.zeros([0, *[d or 0 for d in sample]], self.dtype)
        return maps.tensor()

    def _checked(self, inputs, targets, offset: int = 0):
        """``(x, y)`` validated: inputs against the model, targets against the output (``y`` may be None).

        ``offset`` numbers the samples of a streamed batch in error messages.
        """
        x = io.as_array(inputs, "inputs")
        io.check_inputs(x, self._input_shape)
        io.check_finite(x, "inputs", offset)
        if targets is None:
            return x, None
        strict = operators.is_builtin(self.operator)
        return x, io.targets_for(targets, int(x.shape[0]), self._output(x), strict, offset)

    def _output(self, x):
        """The output shape, from the graph, or (subclassed) from a one-sample forward pass."""
        if self._output_shape is None and x.shape[0]:
            forward = traced.forward_of(self.model, self.output_layer)
            self._output_shape = (None, *forward(tf.cast(x[:1], self.dtype), training=False).shape[1:])
        return self._output_shape

    def _batch(self, x, y) -> np.ndarray:
        """Maps of one batch, as a NumPy array of the model's dtype."""
        x = tf.cast(x, self.dtype)
        x_spec = tf.TensorSpec(x.shape, self.dtype)  # exact: see refdeconv.explainers.traced on pruning
        if y is None:
            y = traced.top_class_function(self.model, self.output_layer, x_spec).function(x)
        y = tf.cast(y, self.dtype)
        fn = traced.maps_function(self.model, self.output_layer, self.rule, self.operator, x_spec,
                                  tf.TensorSpec(y.shape, self.dtype))
        self._note(fn.record)
        try:
            if not fn.checked:  # the operator's first call: one scalar per sample?
                scores = fn.scores(x, y)
                if scores.shape[0] != x.shape[0]:
                    raise ValueError(f"operator: must return one scalar per sample, shape ({x.shape[0]},), "
                                     f"got shape {tuple(scores.shape)}")
                fn.checked = True
            return fn.function(x, y).numpy()
        except tf.errors.InvalidArgumentError as err:
            lines = [line for line in err.message.splitlines() if line.strip() and "Graph execution" not in line]
            raise ValueError(f"inputs: the model failed on inputs of shape {tuple(x.shape)}: {lines[0]}") from None

    def _note(self, record: list) -> None:
        """Keep the record; warn once about non-ReLUs, ReLUs the rule did not reach, ReLU-free models."""
        self.rules_applied = list(record)
        if self._warned or self.rule == "gradient":
            return
        self._warned = True
        name = type(self).__name__
        others = sorted({e["type"] for e in record if e["rule"] == "gradient"})
        if others:
            warnings.warn(f"{name}: non-ReLU nonlinearities keep their ordinary gradient: {', '.join(others)}", stacklevel=4)
        missed = [e["op"] for e in record if e["rule"] == "not reached"]
        if missed:
            warnings.warn(f"{name}: {len(missed)} ReLU(s) whose own gradient TensorFlow never builds (e.g. under a "
                          f"tf.custom_gradient) did not get the {self.rule} rule: {', '.join(missed)}", stacklevel=4)
        if not any(e["rule"] == self.rule for e in record):
            warnings.warn(f"{name}: the model has no ReLU, so {self.rule} equals the plain gradient here", stacklevel=4)


class DeconvNet(Explainer):
    """DeconvNet (Zeiler & Fergus): at every ReLU only positive backward signal passes.

    The map is the reverse-mode pass of the score to the input in which each
    ReLU with forward input ``z`` sends back ``relu(u)`` for an upstream signal
    ``u``, whatever the sign of ``z`` (the plain gradient sends ``u * 1[z > 0]``).
    Every other operation keeps its exact vector-Jacobian product: convolutions
    are undone by their transposed filters, max-pooling by its switches.

    Notes
    -----
    With the default operator, ``D(x, y) = d/dx sum_k f(x)_k y_k`` under the
    rule ``dL/dz = relu(dL/da)``. Capped and thresholded ReLUs (``max_value``,
    ``relu6``, ``threshold``) get ``relu(u)`` too; other nonlinearities (leaky
    ReLU, ELU, sigmoid, tanh, softmax, GELU, swish) keep their ordinary
    gradient, with a warning. Maps are raw and signed, of the inputs' shape.

    References
    ----------
    .. [1] Zeiler, M. D. & Fergus, R. "Visualizing and Understanding
       Convolutional Networks", ECCV 2014, arXiv:1311.2901.
    """

    rule = "deconvnet"


class GuidedBackprop(Explainer):
    """Guided Backpropagation: a ReLU sends back ``relu(u) * 1[z > 0]``.

    References
    ----------
    .. [1] Springenberg, J. T. et al. "Striving for Simplicity: The All
       Convolutional Net", ICLR 2015 workshop, arXiv:1412.6806.
    """

    rule = "guided"


class Gradient(Explainer):
    """The plain gradient (saliency), signed: a ReLU sends back ``u * 1[z > 0]``.

    The control of the other two rules: TensorFlow's own gradient, through the
    same machinery.

    References
    ----------
    .. [1] Simonyan, K., Vedaldi, A. & Zisserman, A. "Deep Inside Convolutional
       Networks", ICLR 2014 workshop, arXiv:1312.6034.
    """

    rule = "gradient"
