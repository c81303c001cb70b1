"""The explainers: one base with the seed API, one ReLU rule each.

``DeconvNet``, ``Gradient`` and ``GuidedBackprop`` share everything but the
rule (:mod:`refdeconv.explainers.rules`): the same traced function, batching, operator
and record, so the plain gradient is a free control of the other two.
"""

from __future__ import annotations

from .explainer import Explainer

__all__ = ["DeconvNet", "Explainer", "Gradient", "GuidedBackprop"]


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
