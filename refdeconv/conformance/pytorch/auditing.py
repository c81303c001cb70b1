"""Auditing a PyTorch implementation on the user's own module in one call.

:func:`audit` exports the module to ONNX (:func:`refdeconv.conformance.pytorch.export`), runs the candidate on
fresh tensors with the module in eval mode (:func:`candidate_maps`), and compares its maps with the
NumPy reference's on the exported graph (:func:`refdeconv.conformance.map_audit.audit_maps`). The
module is left as it was found.
"""

from __future__ import annotations

import warnings

import numpy as np

from .candidates import resolve
from .exporting import as_arrays, evaluating, export, fresh, module_dtype


class CandidateError(RuntimeError):
    """The candidate raised instead of returning maps; the exception it raised is ``__cause__``."""


def one_hot_targets(module, xs: list[np.ndarray], targets) -> np.ndarray:
    """The targets as one-hot rows (or the given weighting) of the module's output, float64.

    Parameters
    ----------
    module : torch.nn.Module
    xs : list of numpy.ndarray
        The inputs, as :func:`refdeconv.conformance.pytorch.exporting.as_arrays` returns them.
    targets : array_like or None
        Labels ``(N,)`` (integers), a weighting of the output's shape, or ``None`` for the top class
        of each sample in the module's own output (eval mode).

    Returns
    -------
    numpy.ndarray
        float64, of the output's shape.

    Raises
    ------
    TypeError
        ``targets`` is not a real numeric array.
    ValueError
        Labels out of range or of the wrong count, or a weighting of the wrong shape.
    """
    import torch

    with evaluating(module), torch.no_grad():
        output = module(*fresh(module, xs)).detach().cpu().double().numpy()
    if targets is None:
        return np.eye(output.shape[-1])[output.argmax(axis=-1)]
    t = targets.detach().cpu().numpy() if hasattr(targets, "detach") else np.asarray(targets)
    if t.ndim == 1 and np.issubdtype(t.dtype, np.integer):
        if output.ndim != 2 or len(t) != len(output) or (t.min() < 0 or t.max() >= output.shape[1]):
            raise ValueError(f"targets: expected {len(output)} labels in [0, {output.shape[-1]}) for an output of "
                             f"shape {output.shape}, got {t.tolist()}")
        return np.eye(output.shape[1])[t]
    if not (np.issubdtype(t.dtype, np.number) or t.dtype == bool) or np.iscomplexobj(t):
        raise TypeError(f"targets: expected a real numeric array, got dtype {t.dtype}")
    if t.shape != output.shape:
        raise ValueError(f"targets: expected labels ({len(output)},) or a weighting of the output's shape "
                         f"{output.shape}, got shape {t.shape}")
    return t.astype(np.float64)


def candidate_maps(module, xs: list[np.ndarray], targets: np.ndarray, fn) -> list[np.ndarray]:
    """``fn(module, fresh inputs, targets)`` with the module in eval mode: one map per input, as arrays.

    The candidate's warnings (Captum warns that it hooks ReLUs) are not the audit's findings and
    are silenced.

    Raises
    ------
    CandidateError
        ``fn`` raised (its exception is the ``__cause__``).
    TypeError
        ``fn`` returned something other than one map per input.
    """
    import torch

    with evaluating(module):
        y = torch.tensor(targets, dtype=module_dtype(module))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                maps = fn(module, fresh(module, xs), y)
        except Exception as err:  # noqa: BLE001 - whatever the candidate raised is its finding
            raise CandidateError(f"{type(err).__name__}: {err}") from err
    maps = list(maps) if isinstance(maps, (list, tuple)) else [maps]
    if len(maps) != len(xs):
        raise TypeError(f"candidate: returned {len(maps)} maps for a module of {len(xs)} input(s)")
    return [m.detach().cpu().numpy() if hasattr(m, "detach") else np.asarray(m) for m in maps]


def audit(module, inputs, targets, candidate, rule: str = "deconvnet",
          name: str | None = None, dynamo: bool = False):
    """Audit a PyTorch implementation of ``rule`` on ``module`` against the NumPy reference.

    Parameters
    ----------
    module : torch.nn.Module
        The network (left unchanged: its training flags are restored, nothing is written to it).
    inputs : array_like or torch.Tensor, or a list or tuple of them
        ``(N, ...)`` in the module's layout (NCHW for images), one per ``forward`` argument.
    targets : array_like or None
        Labels ``(N,)``, one-hot rows or any real weighting of the output; default: the top class
        of each sample in the module's output.
    candidate : str or callable
        ``"captum.deconvolution"``, ``"captum.guided_backprop"``, ``"zennit.deconvnet"``,
        ``"zennit.guided_backprop"`` (each peer told the score by its own convention, see
        :mod:`refdeconv.conformance.pytorch.candidates`), a ``"MODULE:CALLABLE"`` string, or any
        ``fn(module, inputs, targets) -> maps`` (tensors in, tensors or arrays out).
    rule : {"deconvnet", "gradient", "guided"}
        The rule the candidate should implement.
    name : str, optional
        What the report calls the candidate.
    dynamo : bool
        Export with the ``torch.export``-based exporter instead of the TorchScript one.

    Returns
    -------
    refdeconv.conformance.audit.Report
        ``report.failed == 0`` means the maps match the reference's within the tolerance table;
        ``report.model["relu_rules"]`` says which rule the maps follow at each kind of ReLU.

    Raises
    ------
    refdeconv.conformance.model_audit.UnsupportedModel
        The reference does not model an op of the exported graph (nothing is vouched for).
    ValueError, TypeError
        Bad ``module``, ``inputs``, ``targets``, ``candidate`` or ``rule``; the message names it.
    CandidateError
        The candidate raised (its exception is the ``__cause__``).
    """
    from ..map_audit import audit_maps

    fn, label = resolve(candidate, name)
    xs = as_arrays(inputs)
    model = export(module, xs, dynamo=dynamo)
    y = one_hot_targets(module, xs, targets)
    maps = candidate_maps(module, xs, y, fn)
    return audit_maps(model, xs[0] if len(xs) == 1 else xs, y, maps[0] if len(maps) == 1 else maps, rule,
                      name=label)
