"""A PyTorch module to ONNX for the reference, and the module's inputs and targets as tensors.

:func:`export` runs ``torch.onnx.export`` (the TorchScript exporter, or ``dynamo=True``) in eval
mode with a dynamic batch axis and leaves the user's module as it found it: every submodule's
training flag is restored and no parameter or buffer is written (eval mode keeps batch
normalisation's running statistics as they are). Torch is imported here, never by
``refdeconv.explainers`` or ``refdeconv.reference``.
"""

from __future__ import annotations

import contextlib
import io
import os
import warnings

import numpy as np


def as_arrays(inputs) -> list[np.ndarray]:
    """``inputs`` as a list of arrays, one per module input.

    Parameters
    ----------
    inputs : array_like or torch.Tensor, or a list or tuple of them
        ``(N, ...)`` in the module's own layout (NCHW for images); a list or tuple for a module
        that takes several inputs, in the order of its ``forward`` arguments.

    Returns
    -------
    list of numpy.ndarray

    Raises
    ------
    TypeError
        An input is not a real numeric array.
    ValueError
        An input has no batch axis or an empty batch.
    """
    given = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
    out = []
    for i, x in enumerate(given):
        x = x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)
        if not np.issubdtype(x.dtype, np.floating):
            raise TypeError(f"inputs: expected a real floating-point array for input {i}, got dtype {x.dtype}")
        if x.ndim == 0 or len(x) == 0:
            raise ValueError(f"inputs: expected a batch (N, ...) with N >= 1 for input {i}, got shape {x.shape}")
        out.append(x)
    return out


def module_dtype(module):
    """The dtype of the module's first floating-point parameter or buffer (else torch's default)."""
    import torch

    for t in (*module.parameters(), *module.buffers()):
        if t.is_floating_point():
            return t.dtype
    return torch.get_default_dtype()


def fresh(module, xs: list[np.ndarray]) -> tuple:
    """New tensors (copies, in the module's dtype and device) of ``xs``: one per call, never reused.

    Captum's ``GuidedBackprop`` changes its map when the same tensor went through an earlier
    attribution (docs/method.md), so every candidate call gets tensors of its own.
    """
    import torch

    device = next((p.device for p in module.parameters()), torch.device("cpu"))
    return tuple(torch.tensor(x, dtype=module_dtype(module), device=device) for x in xs)


@contextlib.contextmanager
def evaluating(module):
    """Run the block with ``module`` in eval mode; every submodule's training flag restored after."""
    flags = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        yield module
    finally:
        for m, training in flags:
            m.training = training


def input_names(count: int) -> list[str]:
    """The ONNX graph's input names: ``input`` for one input, ``input_0``, ``input_1``, ... for several."""
    return ["input"] if count == 1 else [f"input_{i}" for i in range(count)]


def export(module, inputs, path=None, dynamo: bool = False):
    """Export ``module`` to ONNX as the reference reads it: eval mode, a dynamic batch axis.

    Parameters
    ----------
    module : torch.nn.Module
        The network; it is not changed (training flags restored, parameters and buffers untouched).
    inputs : array_like or torch.Tensor, or a list or tuple of them
        Example inputs ``(N, ...)`` in the module's layout, one per ``forward`` argument; cast to the
        module's dtype. Any batch size works afterwards (the batch axis is dynamic).
    path : str or os.PathLike, optional
        Where to write the ``.onnx`` file as well.
    dynamo : bool
        ``False``: the TorchScript exporter; ``True``: ``torch.export``-based exporter.

    Returns
    -------
    onnx.ModelProto
        Graph inputs ``input`` (or ``input_0``, ``input_1``, ...), outputs ``output`` (or
        ``output_0``, ...), batch axis named ``N``, weights in float as the module holds them.

    Raises
    ------
    TypeError
        ``module`` is not a ``torch.nn.Module``, or an input is not a real array.
    ValueError
        An input has no batch axis or an empty batch.
    """
    import onnx
    import torch

    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"module: expected a torch.nn.Module, got {type(module).__name__}")
    xs = as_arrays(inputs)
    args = fresh(module, xs)
    names = input_names(len(args))
    with evaluating(module), torch.no_grad():
        outputs = module(*args)
        count = len(outputs) if isinstance(outputs, (list, tuple)) else 1
        output_names = ["output"] if count == 1 else [f"output_{i}" for i in range(count)]
        if dynamo:
            batch = torch.export.Dim.DYNAMIC
            program = torch.onnx.export(module, args, dynamo=True, input_names=names, output_names=output_names,
                                        dynamic_shapes=tuple({0: batch} for _ in args), verbose=False)
            proto = program.model_proto
        else:
            buffer = io.BytesIO()
            with warnings.catch_warnings():  # the TorchScript exporter's deprecation notice is not the user's
                warnings.simplefilter("ignore", DeprecationWarning)
                torch.onnx.export(module, args, buffer, dynamo=False, input_names=names, output_names=output_names,
                                  dynamic_axes={name: {0: "N"} for name in names + output_names})
            proto = onnx.load_from_string(buffer.getvalue())
    if path is not None:
        onnx.save(proto, os.fspath(path))
    return proto
