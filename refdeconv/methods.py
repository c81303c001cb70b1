"""The explainers: one base with the seed API, one ReLU rule each.

``DeconvNet``, ``Gradient`` and ``GuidedBackprop`` share everything but the
rule (:mod:`refdeconv.rules`): the same traced function, batching, operator
and record, so the plain gradient is a free control of the other two.
"""

from __future__ import annotations

import warnings

import numpy as np
import tensorflow as tf

from . import rules
from .models import cut, model_dtype
from .operators import classification

#: Op types of nonlinearities that are not ReLUs: they keep their ordinary gradient.
NON_RELU_OPS = frozenset({
    "LeakyRelu", "Elu", "Selu", "Sigmoid", "Tanh", "Softmax", "LogSoftmax",
    "Softplus", "Softsign", "Erf", "Gelu", "Exp", "Log",
})


class Explainer:
    """Attribution maps ``d s_i / d x_i`` of the score ``s_i = operator(f, x_i, y_i)``
    backpropagated with one ReLU rule.

    Parameters
    ----------
    model : keras.Model
        A Keras 3 (or tf-keras) model: Sequential, Functional or subclassed.
        It is never modified.
    output_layer : str, int or None
        Layer name or index (negative counts from the end) of ``model.layers``
        whose output is explained; the model is really cut there. ``None``: the
        model's output.
    batch_size : int or None
        Inputs explained at once; ``None`` for all at once. Maps do not depend on it.
    operator : callable or None
        ``g(f, x, y)`` returning one scalar per sample; default
        ``sum(f(x) * y, -1)`` (:func:`refdeconv.operators.classification`).

    Attributes
    ----------
    rules_applied : list of dict
        After the first ``explain``: one entry per traced nonlinearity, with
        its op name, type and the rule it got (``"gradient"`` for non-ReLUs).
    """

    rule = "gradient"

    def __init__(self, model, output_layer=None, batch_size=32, operator=None):
        if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1):
            raise ValueError(f"batch_size: expected an int >= 1 or None, got {batch_size!r}")
        self.model, self.output_layer, self.batch_size = model, output_layer, batch_size
        self.operator = classification if operator is None else operator
        self._forward = cut(model, output_layer)
        self.dtype = model_dtype(model)
        self.rules_applied: list[dict] = []
        self._warned = False
        self._maps = tf.function(self._batch_maps, reduce_retracing=True, autograph=False)

    def _batch_maps(self, x, y):
        patched: list[dict] = []
        with rules.override(self.rule, patched):
            scores = self.operator(lambda t: self._forward(t, training=False), x, y)
        self._note(patched, tf.compat.v1.get_default_graph())
        maps = tf.gradients(tf.reduce_sum(scores), x)[0]
        return tf.zeros_like(x) if maps is None else maps

    def _note(self, patched: list, graph) -> None:
        """Record which traced op got which rule; warn once about non-ReLUs and ReLU-free models."""
        ops = [
            op for op in graph.get_operations()
            if (op.type in ("Relu", "Relu6") or op.type in NON_RELU_OPS) and f"{rules.FAMILY_SCOPE}/" not in op.name
        ]
        self.rules_applied = patched + [
            {"op": op.name, "type": op.type, "rule": self.rule if op.type in ("Relu", "Relu6") else "gradient"}
            for op in ops
        ]
        if self._warned or self.rule == "gradient":
            return
        self._warned = True
        others = sorted({e["type"] for e in self.rules_applied if e["rule"] == "gradient"})
        if others:
            warnings.warn(
                f"{type(self).__name__}: non-ReLU nonlinearities keep their ordinary gradient: {', '.join(others)}",
                stacklevel=2,
            )
        if not any(e["rule"] == self.rule for e in self.rules_applied):
            warnings.warn(
                f"{type(self).__name__}: the model has no ReLU, so {self.rule} equals the plain gradient here",
                stacklevel=2,
            )

    def explain(self, inputs, targets=None) -> tf.Tensor:
        """Attribution maps of ``inputs`` for ``targets``, of the inputs' shape and the model's dtype.

        Parameters
        ----------
        inputs : numpy.ndarray or tf.Tensor
            ``(N, W)``, ``(N, T, W)`` or ``(N, H, W, C)``.
        targets : array_like
            One-hot ``(N, classes)``.

        Returns
        -------
        tf.Tensor
            The maps, ``inputs.shape``, in the model's dtype.
        """
        x = tf.convert_to_tensor(np.asarray(inputs) if not tf.is_tensor(inputs) else inputs)
        x = tf.cast(x, self.dtype)
        y = tf.cast(tf.convert_to_tensor(targets), self.dtype)
        n = int(x.shape[0])
        step = n if self.batch_size is None else self.batch_size
        maps = [self._maps(x[i : i + step], y[i : i + step]) for i in range(0, n, max(step, 1))]
        return tf.concat(maps, axis=0) if maps else tf.zeros_like(x)


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
