"""The three ReLU backward rules: the only place where DeconvNet, Guided Backprop
and the plain gradient differ.

Every other operation of the reference has one vector-Jacobian product, used by
all three rules. A ReLU with forward input ``z`` and upstream signal ``u``
sends back

========== ============================ =========================================
rule       signal sent to ``z``          origin
========== ============================ =========================================
gradient   ``u * 1[z active]``           the chain rule
deconvnet  ``relu(u)``                   Zeiler & Fergus (2014): the forward sign
                                         is ignored, the reconstruction is
                                         rectified as in the forward pass
guided     ``relu(u) * 1[z active]``     Springenberg et al. (2015): both masks
========== ============================ =========================================

``1[z active]`` is the ReLU's own derivative: ``1[z > 0]`` for a plain ReLU,
``1[threshold < z < max_value]`` (up to TensorFlow's convention at the two
boundary points, see :class:`~refdeconv.reference.activations.ReLU`) for a
capped or thresholded one.

References
----------
.. [1] Zeiler, M. D. & Fergus, R. "Visualizing and Understanding Convolutional
   Networks", ECCV 2014, arXiv:1311.2901.
.. [2] Springenberg, J. T., Dosovitskiy, A., Brox, T. & Riedmiller, M.
   "Striving for Simplicity: The All Convolutional Net", ICLR 2015 workshop,
   arXiv:1412.6806.
"""

from __future__ import annotations

import numpy as np


def _gradient(u: np.ndarray, active: np.ndarray) -> np.ndarray:
    return u * active


def _deconvnet(u: np.ndarray, active: np.ndarray) -> np.ndarray:
    return np.maximum(u, 0.0)


def _guided(u: np.ndarray, active: np.ndarray) -> np.ndarray:
    return np.maximum(u, 0.0) * active


#: Rule name -> backward signal at a ReLU, ``f(u, active)``.
RULES = {"gradient": _gradient, "deconvnet": _deconvnet, "guided": _guided}


def check_rule(rule: object) -> str:
    """Return ``rule`` if it names one of :data:`RULES`, else raise ``ValueError``."""
    if not isinstance(rule, str) or rule not in RULES:
        raise ValueError(f"rule: expected one of {sorted(RULES)}, got {rule!r}")
    return rule


def relu_backward(u: np.ndarray, active: np.ndarray, rule: str) -> np.ndarray:
    """Backward signal at a ReLU under ``rule`` (looked up in :data:`RULES` at call time)."""
    return RULES[rule](u, active)
