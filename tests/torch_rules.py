"""The three rules written as PyTorch autograd functions, and PyTorch's own maps under a rule.

An independent computation of what :mod:`refdeconv.reference` computes from an ONNX export:
every ReLU-family site of a network of :mod:`tests.torch_nets` is rebuilt as
:class:`RuleReLU` (forward: the site's own forward, ``relu`` or a clamp to ``[0, m]``;
backward: the rule), every other operation keeps PyTorch's autograd, and
:func:`rule_map` differentiates ``sum_i <f(x_i), y_i>``.

========== ========================================================
rule       backward signal at a site with input ``z``, signal ``u``
========== ========================================================
gradient   ``u * active(z)``
deconvnet  ``relu(u)``  (the forward is ignored)
guided     ``relu(u) * active(z)``
========== ========================================================

``active(z)`` is ``z > 0`` for a ReLU and ``0 < z < m`` for a ReLU capped at ``m`` (ONNX
``Clip``): open at both ends, as the ONNX contract of issue 25 says, as ONNX Runtime's
training ``ReluGrad`` (``dY * (X > 0)``) and TensorFlow's ``Relu6Grad`` do.

Measured (PyTorch 2.13 CPU, float64 and float32, ``torch.autograd.grad`` of the sum at
``z = -1, 0, 3, 6, 7``), PyTorch's own derivatives at the boundaries differ by writing:

- ``nn.ReLU``, ``F.relu``, ``torch.relu``, ``F.threshold(x, 0, 0)``: 0 at ``z == 0``;
- ``nn.ReLU6``, ``F.hardtanh(x, 0, 6)``: 0 at ``z == 0`` and at ``z == 6`` (open mask);
- ``torch.clamp(x, min=0)``, ``x.clamp_min(0)``: **1** at ``z == 0``;
  ``torch.clamp(x, min=0, max=m)``: **1** at ``z == 0`` and at ``z == m`` (closed mask,
  like ONNX Runtime's training ``Clip`` gradient: ``X >= min`` and ``X <= max``);
- ``torch.maximum(x, 0)``: **0.5** at ``z == 0`` (ties split).

The exporters write ``nn.ReLU`` (any form), ``F.relu`` and ``torch.relu`` as ``Relu``;
``nn.ReLU6``, ``F.hardtanh(x, 0, 6)`` and ``torch.clamp(x, min=0, max=m)`` as ``Clip``
(``dynamo=True`` merges consecutive clips into one); ``torch.clamp(x, min=0)`` as
``Clip`` (TorchScript) or ``Max(x, 0)`` (``dynamo=True``). The graph no longer says which
writing it came from, so the rule functions use one mask per kind of site (above), not
PyTorch's per-writing boundary values.

Max-pool ties (measured, CPU, float32 and float64, 1-D and 2-D, dilated, ``ceil_mode``):
PyTorch's max-pool backward sends a window's whole signal to its first maximum in
row-major order, and overlapping windows accumulate; ``AdaptiveMaxPool2d(1)`` does the
same, while ``amax`` over the spatial axes splits the signal evenly among tied maxima.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from tests.torch_nets import build

RULES = ("deconvnet", "gradient", "guided")


class _Rule(torch.autograd.Function):
    """``relu`` or ``clamp(z, 0, cap)`` forward; the rule's backward."""

    @staticmethod
    def forward(ctx, z, rule: str, cap: float):
        ctx.save_for_backward(z)
        ctx.rule, ctx.cap = rule, cap
        return torch.relu(z) if math.isinf(cap) else torch.clamp(z, min=0.0, max=cap)

    @staticmethod
    def backward(ctx, u):
        (z,) = ctx.saved_tensors
        active = ((z > 0) & (z < ctx.cap)).to(u.dtype)
        signal = {"gradient": u * active, "deconvnet": torch.relu(u), "guided": torch.relu(u) * active}[ctx.rule]
        return signal, None, None


class RuleReLU(nn.Module):
    """A ReLU-family site (capped at ``cap``, ``inf`` for none) whose backward is ``rule``."""

    def __init__(self, rule: str, cap: float | None = None):
        super().__init__()
        self.rule, self.cap = rule, math.inf if cap is None else cap

    def forward(self, z):
        return _Rule.apply(z, self.rule, self.cap)


def rule_act(rule: str):
    """The ``act`` hook of :func:`tests.torch_nets.build` that makes every ReLU-family site a
    :class:`RuleReLU` of ``rule`` (one module for the sites that share one)."""
    return lambda site: RuleReLU(rule, site.get("cap"))


def rule_map(spec, x: np.ndarray, targets: np.ndarray, rule: str) -> tuple[np.ndarray, np.ndarray]:
    """PyTorch's output and map ``d(sum_i <f(x_i), y_i>)/dx`` of ``spec`` under ``rule``.

    Parameters
    ----------
    spec : tests.torch_nets.TorchSpec
        The network (built with :func:`rule_act`, in its own dtype).
    x : ndarray
        Inputs, batch first, in the network's layout.
    targets : ndarray
        One-hot (or weighting) targets of the output's shape.
    rule : {"deconvnet", "gradient", "guided"}

    Returns
    -------
    output, map : ndarray
        In the network's dtype.
    """
    net = build(spec, rule_act(rule))
    xt = torch.tensor(x, requires_grad=True)
    out = net(xt)
    (grad,) = torch.autograd.grad((out * torch.as_tensor(targets, dtype=out.dtype)).sum(), xt)
    return out.detach().numpy(), grad.numpy()
