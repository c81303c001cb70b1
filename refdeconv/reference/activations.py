"""Activations: the ReLU family, which takes the rule, and every other
nonlinearity, which keeps its ordinary derivative under all three rules.

The ReLU family is every ReLU however Keras writes it, plain, capped
(``max_value``, ``relu6``) or thresholded (``threshold``): its backward signal
is :func:`~refdeconv.reference.rules.relu_backward`. Other nonlinearities
(sigmoid, tanh, softmax, log-softmax, ELU, SELU, CELU, GELU, Mish, softplus,
SiLU, leaky and parametric ReLU, the hard and sparse variants...) are not ReLUs,
so DeconvNet leaves their gradient alone (Xplique's and Captum's convention).
``hard_sigmoid`` and ``hard_silu`` are among them, although Keras computes them
through ``relu6`` (DESIGN.md §3): here they are :class:`Elementwise` functions
with their ordinary derivative, under every rule.
"""

from __future__ import annotations

import numpy as np
from scipy.special import erfc, expit, logsumexp

from .rules import relu_backward


class ReLU:
    """``f(z) = min(max_value, z * 1[z > threshold])``, whose backward signal is the rule's.

    Parameters
    ----------
    threshold : float
        Values at or below it are set to zero (Keras ``ReLU(threshold=...)``).
    max_value : float or None
        Cap of the output (Keras ``ReLU(max_value=...)``, ``relu6``).
    kind : str, optional
        The kind of ReLU, as a model writes it (``"ReLU"``, ``"ReLU6"``, ``"capped ReLU"``,
        ``"thresholded ReLU"`` for Keras; the op type for ONNX: ``"Relu"``, ``"Clip"``,
        ``"Max"``): a rule given per kind (a dict) applies to it. Default: from the parameters.
    cap_active : bool, optional
        Whether ``z = max_value`` is active. Default: as the TensorFlow op Keras emits (below).

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

    def __init__(self, threshold: float = 0.0, max_value: float | None = None, kind: str | None = None,
                 cap_active: bool | None = None):
        self.threshold, self.max_value = float(threshold), max_value
        fused_relu6 = max_value == 6 and threshold == 0
        self.cap_active = not fused_relu6 if cap_active is None else cap_active
        self.kind = kind or ("thresholded ReLU" if threshold else "ReLU6" if fused_relu6
                             else "ReLU" if max_value is None else "capped ReLU")

    def forward(self, z):
        """``min(max_value, z * 1[z > threshold])``."""
        y = np.where(z > self.threshold, z, 0.0)
        return y if self.max_value is None else np.minimum(y, self.max_value)

    def active(self, z):
        """Where the unit is active: ``threshold < z < max_value`` (boundaries: see the class notes)."""
        on = z > self.threshold
        if self.max_value is not None:
            on &= (z <= self.max_value) if self.cap_active else (z < self.max_value)
        return on

    def vjp(self, u, inputs, output, rule):
        """The rule's signal: ``relu_backward(u, active(z), rule)``; ``rule`` may be a dict giving
        each :attr:`kind` its own rule."""
        return (relu_backward(u, self.active(inputs[0]), rule[self.kind] if isinstance(rule, dict) else rule),)


def _silu_derivative(z):
    s = expit(z)
    return s * (1.0 + z * (1.0 - s))


# keras.activations.selu (tf.nn.selu): Eigen's constants; the derivative at 0 is ``scale``
# (SeluGrad takes the ``z < 0`` branch only strictly below 0).
_SELU_SCALE, _SELU_ALPHA = 1.0507009873554804934193349852946, 1.6732632423543772848170429916717
# tf.nn.gelu: ``0.5 z erfc(-c z)`` with ``c = 1 / sqrt(2)``, or (approximate) ``0.5 z (1 +
# tanh(k (z + a z^3)))``. It builds ``c`` and ``a`` as float32 constants cast to the input's
# dtype (measured: 4e-9 off the exact constants in float64), and ``k`` in the input's dtype.
_GELU_C, _GELU_A = float(np.float32(0.7071067811865476)), float(np.float32(0.044715))
_GELU_K = 0.7978845608028654


def _relu6_active(z):
    """``hard_sigmoid``'s inner ``Relu6(z + 3)`` is on its slope: ``0 < z + 3 < 6`` (``Relu6Grad``, strict)."""
    return (z + 3.0 > 0.0) & (z + 3.0 < 6.0)


def _hard_sigmoid(z):
    return np.clip(z + 3.0, 0.0, 6.0) / 6.0  # relu6(x + 3) / 6, as Keras's TensorFlow backend


def _gelu(z, approximate=False):
    if approximate:
        return 0.5 * z * (1.0 + np.tanh(_GELU_K * (z + _GELU_A * z**3)))
    return 0.5 * z * erfc(-z * _GELU_C)


def _gelu_derivative(z, approximate=False):
    if approximate:
        t = np.tanh(_GELU_K * (z + _GELU_A * z**3))
        return 0.5 * (1.0 + t) + 0.5 * z * (1.0 - t**2) * _GELU_K * (1.0 + 3.0 * _GELU_A * z**2)
    return 0.5 * erfc(-z * _GELU_C) + z * _GELU_C * np.exp(-((z * _GELU_C) ** 2)) / np.sqrt(np.pi)


def _mish_derivative(z):
    t = np.tanh(np.logaddexp(0.0, z))
    return t + z * (1.0 - t**2) * expit(z)


#: Name -> (function, derivative) of the element-wise non-ReLU activations, named and
#: parametrised as ``keras.activations`` (keyword parameters with Keras's defaults; ``prelu``
#: takes the ``PReLU`` layer's ``alpha`` weights). At a kink the derivative is the one
#: TensorFlow's gradient gives for the ops Keras emits (measured with ``GradientTape`` in
#: float64, pinned in ``tests/reference/test_activations.py``): ``hard_sigmoid`` 0 at -3 and 3;
#: ``hard_silu`` 0 at -3, 1 at 3; ``hard_tanh`` 1 at -1 and 1 (``clip_by_value``);
#: ``sparse_plus`` 0 at -1, 1 at 1; ``soft_shrink``/``hard_shrink`` 0 at +-threshold;
#: ``sparse_sigmoid`` 0 at -1 and 1; ``celu`` 2 at 0 (``Maximum`` and ``Minimum`` both pass
#: the gradient on equality); ``selu`` ``scale`` at 0; ``prelu`` 0 at 0 (two ``Relu``s).
ELEMENTWISE = {
    "sigmoid": (expit, lambda z: expit(z) * (1.0 - expit(z))),
    "tanh": (np.tanh, lambda z: 1.0 - np.tanh(z) ** 2),
    "softplus": (lambda z: np.logaddexp(0.0, z), expit),
    "silu": (lambda z: z * expit(z), _silu_derivative),
    "leaky_relu": (
        lambda z, negative_slope=0.2: np.where(z > 0, z, negative_slope * z),
        lambda z, negative_slope=0.2: np.where(z > 0, 1.0, negative_slope),
    ),
    "elu": (
        lambda z, alpha=1.0: np.where(z > 0, z, alpha * np.expm1(np.minimum(z, 0.0))),
        lambda z, alpha=1.0: np.where(z > 0, 1.0, alpha * np.exp(np.minimum(z, 0.0))),
    ),
    "hard_sigmoid": (_hard_sigmoid, lambda z: np.where(_relu6_active(z), 1.0 / 6.0, 0.0)),
    "hard_silu": (
        lambda z: z * _hard_sigmoid(z),
        lambda z: _hard_sigmoid(z) + z * np.where(_relu6_active(z), 1.0 / 6.0, 0.0),
    ),
    "gelu": (_gelu, _gelu_derivative),
    "mish": (lambda z: z * np.tanh(np.logaddexp(0.0, z)), _mish_derivative),
    "selu": (
        lambda z: _SELU_SCALE * np.where(z > 0, z, _SELU_ALPHA * np.expm1(np.minimum(z, 0.0))),
        lambda z: _SELU_SCALE * np.where(z < 0, _SELU_ALPHA * np.exp(np.minimum(z, 0.0)), 1.0),
    ),
    "softsign": (lambda z: z / (1.0 + np.abs(z)), lambda z: 1.0 / (1.0 + np.abs(z)) ** 2),
    "exponential": (np.exp, np.exp),
    "celu": (
        lambda z, alpha=1.0: np.maximum(z, 0.0) + alpha * np.expm1(np.minimum(z, 0.0) / alpha),
        lambda z, alpha=1.0: (z >= 0) + (z <= 0) * np.exp(np.minimum(z, 0.0) / alpha),
    ),
    "hard_tanh": (lambda z: np.clip(z, -1.0, 1.0), lambda z: ((z >= -1.0) & (z <= 1.0)).astype(float)),
    "sparse_plus": (
        lambda z: np.where(z <= -1.0, 0.0, np.where(z < 1.0, 0.25 * (z + 1.0) ** 2, z)),
        lambda z: np.where(z <= -1.0, 0.0, np.where(z < 1.0, 0.5 * (z + 1.0), 1.0)),
    ),
    "squareplus": (
        lambda z, b=4.0: 0.5 * (z + np.sqrt(z**2 + b)),
        lambda z, b=4.0: 0.5 * (1.0 + z / np.sqrt(z**2 + b)),
    ),
    "tanh_shrink": (lambda z: z - np.tanh(z), lambda z: np.tanh(z) ** 2),
    "soft_shrink": (
        lambda z, threshold=0.5: np.where(z > threshold, z - threshold, np.where(z < -threshold, z + threshold, 0.0)),
        lambda z, threshold=0.5: (np.abs(z) > threshold).astype(float),
    ),
    "hard_shrink": (
        lambda z, threshold=0.5: np.where(np.abs(z) > threshold, z, 0.0),
        lambda z, threshold=0.5: (np.abs(z) > threshold).astype(float),
    ),
    "log_sigmoid": (lambda z: -np.logaddexp(0.0, -z), lambda z: expit(-z)),
    "sparse_sigmoid": (
        lambda z: np.clip(0.5 * (z + 1.0), 0.0, 1.0),
        lambda z: np.where((z > -1.0) & (z < 1.0), 0.5, 0.0),
    ),
    "prelu": (  # Keras PReLU: relu(z) - alpha * relu(-z)
        lambda z, alpha: np.maximum(z, 0.0) - alpha * np.maximum(-z, 0.0),
        lambda z, alpha: (z > 0) + alpha * (z < 0),
    ),
}


class LeakyCapped:
    """Keras's ``ReLU(negative_slope=a, max_value=m, threshold=t)`` with ``a != 0`` and a cap or a
    threshold: ``relu_part(z) - a * max(t - z, 0)``. A leaky ReLU, not a ReLU: its ordinary
    derivative under every rule.

    Notes
    -----
    ``relu_part`` is :class:`ReLU` ``(t, m)`` (the same ops, hence the same boundary
    conventions); the negative part is Keras's ``relu(-z + t)``, whose derivative at ``z = t`` is
    0 (TensorFlow's ``Relu`` gradient at 0).
    """

    def __init__(self, slope: float, threshold: float, max_value: float | None):
        self.slope, self.threshold, self.positive = slope, threshold, ReLU(threshold, max_value)

    def forward(self, z):
        """``relu_part(z) - slope * max(threshold - z, 0)``."""
        return self.positive.forward(z) - self.slope * np.maximum(self.threshold - z, 0.0)

    def vjp(self, u, inputs, output, rule):
        """``u * (1[active] + slope * 1[z < threshold])`` whatever the rule."""
        z = inputs[0]
        return (u * (self.positive.active(z) + self.slope * (z < self.threshold)),)


class Elementwise:
    """A non-ReLU element-wise activation: ordinary derivative under every rule.

    Parameters
    ----------
    name : str
        Key of :data:`ELEMENTWISE`.
    *params, **options
        The activation's parameters, positional or by their Keras name.
    """

    def __init__(self, name: str, *params, **options):
        self.name, self.params, self.options = name, params, options
        self.function, self.derivative = ELEMENTWISE[name]

    def forward(self, z):
        """``f(z)``."""
        return self.function(z, *self.params, **self.options)

    def vjp(self, u, inputs, output, rule):
        """``u * f'(z)`` whatever the rule."""
        return (u * self.derivative(inputs[0], *self.params, **self.options),)


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


class LogSoftmax:
    """Log-softmax along ``axis`` (``keras.activations.log_softmax``); vector-Jacobian
    product ``u - softmax(z) * sum(u)``."""

    def __init__(self, axis: int = -1):
        self.axis = axis

    def forward(self, z):
        """``z - logsumexp(z)`` along ``axis``."""
        return z - logsumexp(z, axis=self.axis, keepdims=True)

    def vjp(self, u, inputs, output, rule):
        """``u - exp(y) * sum(u)`` along ``axis``, with ``exp(y)`` the softmax."""
        return (u - np.exp(output) * u.sum(axis=self.axis, keepdims=True),)
