"""Small PyTorch modules the ``refdeconv.conformance.pytorch`` tests audit, importable by ``refdeconv audit-torch --module``."""

import importlib.util

import numpy as np
import pytest
import torch
from torch import nn


def small_net() -> nn.Module:
    """Conv, in-place ReLU (reused), max-pool, BN, linear: the ReLU writing Captum and zennit hook; seeded."""
    torch.manual_seed(0)
    relu = nn.ReLU(inplace=True)
    return nn.Sequential(nn.Conv2d(2, 4, 3), nn.BatchNorm2d(4), relu, nn.MaxPool2d(2), nn.Conv2d(4, 5, 3, padding=1),
                         relu, nn.Flatten(), nn.Linear(5 * 3 * 3, 6), nn.ReLU(), nn.Linear(6, 3))


class CumSum(nn.Module):
    """A ``CumSum`` op, which the reference does not model (``audit-torch`` exits 3)."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(4, 3)

    def forward(self, x):
        return self.linear(torch.relu(torch.cumsum(x, dim=1)))


def inputs(n: int = 3) -> np.ndarray:
    """``(n, 2, 8, 8)`` float32 inputs from N(0, 1), seed 0."""
    return np.random.default_rng(0).standard_normal((n, 2, 8, 8)).astype(np.float32)


def plain_gradient(module, inputs, targets):
    """A planted wrong DeconvNet: the plain gradient of the score."""
    x = inputs[0].requires_grad_()
    return torch.autograd.grad(module(x), x, grad_outputs=targets)[0]


def raising(module, inputs, targets):
    """A candidate that raises instead of returning maps."""
    raise RuntimeError("planted failure")


def skip_without(package: str) -> None:
    """Skip the test when ``package`` is not installed (found, not imported: zennit's import needs torchvision,
    which :func:`refdeconv.conformance.pytorch.candidates.zennit_composites` stands in for)."""
    if importlib.util.find_spec(package) is None:
        pytest.skip(f"{package} is not installed")
