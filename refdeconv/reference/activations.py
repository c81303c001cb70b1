"""Activations: the ReLU family, which takes the rule, and every other
nonlinearity, which keeps its ordinary derivative under all three rules.

The ReLU family is every ReLU however Keras writes it, plain, capped
(``max_value``, ``relu6``) or thresholded (``threshold``): its backward signal
is :func:`~refdeconv.reference.rules.relu_backward`. Other nonlinearities
(sigmoid, tanh, softmax, ELU, softplus, SiLU, leaky ReLU) are not ReLUs, so
DeconvNet leaves their gradient alone (Xplique's and Captum's convention).
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit

from .rules import relu_backward


class ReLU:
    """``f(z) = min(max_value, z * 1[z > threshold])``, whose backward signal is the rule's.

    Parameters
    ----------
    threshold : float
        Values at or below it are set to zero (Keras ``ReLU(threshold=...)``).
    max_value : float or None
        Cap of the output (Keras ``ReLU(max_value=...)``, ``relu6``).

    Notes
    -----
    The unit is *active* where ``f'(z) = 1``: ``threshold < z < max_value``.
    At the two boundary points the derivative is a convention; the reference
    follows the TensorFlow ops Keras emits. ``z = threshold`` is never active
    (``Relu``, ``Greater``). ``z = max_value`` is active when Keras clips with
    ``clip_by_value`` (whose ``Minimum`` passes the gradient on equality) and
    inactive for the fused ``Relu6`` op, which Keras uses for ``max_value = 6``
    without threshold.
    """

    def __init__(self, threshold: float = 0.0, max_value: float | None = None):
        self.threshold, self.max_value = float(threshold), max_value
        self.fused_relu6 = max_value == 6 and threshold == 0

    def forward(self, z):
        """``min(max_value, z * 1[z > threshold])``."""
        y = np.where(z > self.threshold, z, 0.0)
        return y if self.max_value is None else np.minimum(y, self.max_value)

    def active(self, z):
        """Where the unit is active: ``threshold < z < max_value`` (boundaries: see the class notes)."""
        on = z > self.threshold
        if self.max_value is not None:
            on &= (z < self.max_value) if self.fused_relu6 else (z <= self.max_value)
        return on

    def vjp(self, u, inputs, output, rule):
        """The rule's signal: ``relu_backward(u, active(z), rule)``."""
        return (relu_backward(u, self.active(inputs[0]), rule),)


def _silu_derivative(z):
    s = expit(z)
    return s * (1.0 + z * (1.0 - s))


#: Name -> (function, derivative) of the element-wise non-ReLU activations;
#: ``leaky_relu`` and ``elu`` take their Keras parameter (``negative_slope``, ``alpha``).
ELEMENTWISE = {
    "sigmoid": (expit, lambda z: expit(z) * (1.0 - expit(z))),
    "tanh": (np.tanh, lambda z: 1.0 - np.tanh(z) ** 2),
    "softplus": (lambda z: np.logaddexp(0.0, z), expit),
    "silu": (lambda z: z * expit(z), _silu_derivative),
    "leaky_relu": (
        lambda z, a=0.2: np.where(z > 0, z, a * z),
        lambda z, a=0.2: np.where(z > 0, 1.0, a),
    ),
    "elu": (
        lambda z, a=1.0: np.where(z > 0, z, a * np.expm1(np.minimum(z, 0.0))),
        lambda z, a=1.0: np.where(z > 0, 1.0, a * np.exp(np.minimum(z, 0.0))),
    ),
}


class Elementwise:
    """A non-ReLU element-wise activation: ordinary derivative under every rule."""

    def __init__(self, name: str, *params: float):
        self.name, self.params = name, params
        self.function, self.derivative = ELEMENTWISE[name]

    def forward(self, z):
        """``f(z)``."""
        return self.function(z, *self.params)

    def vjp(self, u, inputs, output, rule):
        """``u * f'(z)`` whatever the rule."""
        return (u * self.derivative(inputs[0], *self.params),)


class Softmax:
    """Softmax along ``axis``; vector-Jacobian product ``y * (u - sum(u * y))``."""

    def __init__(self, axis: int = -1):
        self.axis = axis

    def forward(self, z):
        """``exp(z) / sum(exp(z))`` along ``axis`` (shifted by the maximum for stability)."""
        e = np.exp(z - z.max(axis=self.axis, keepdims=True))
        return e / e.sum(axis=self.axis, keepdims=True)

    def vjp(self, u, inputs, output, rule):
        """``y * (u - sum(u * y))`` along ``axis``."""
        return (output * (u - (u * output).sum(axis=self.axis, keepdims=True)),)
