"""The independent oracle: a NumPy float64 backward pass written by hand.

``refdeconv.reference`` reads the architecture and weights of a Keras 3
``Sequential`` or ``Functional`` model and recomputes, without TensorFlow, its
forward pass and the attribution map under one of three ReLU rules. Every
operation has its forward and its vector-Jacobian product side by side; the
rules differ in one function (:mod:`refdeconv.reference.rules`).

Supported layers include: ``InputLayer``, ``Dense``, ``Conv1D/2D/3D`` (valid/same,
strides, dilation, groups; causal for ``Conv1D``), ``DepthwiseConv1D/2D``,
``SeparableConv1D/2D``, ``Conv1DTranspose/2DTranspose/3DTranspose`` (no dilation),
``PReLU``, ``MaxPooling1D/2D/3D``, ``AveragePooling1D/2D/3D``,
``GlobalAveragePooling1D/2D/3D``, ``GlobalMaxPooling1D/2D/3D``,
``ZeroPadding1D/2D/3D``, ``Cropping1D/2D/3D``, ``UpSampling1D/2D/3D``, ``Flatten``,
``Reshape``, ``Dropout`` and the other inference-time identities,
``BatchNormalization`` (inference), ``Add``, ``Concatenate``, ``ReLU``
(``max_value``, ``threshold``), ``Activation``, ``LeakyReLU``, ``ELU``,
``Softmax``, and nested Sequential/Functional models; the coverage table of
``docs/verification.md`` lists them all. Anything else raises
``NotImplementedError`` naming the layer.
"""

from __future__ import annotations

import numpy as np

from ..keras_model import split_inputs, written_order
from .graph import compile_model
from .rules import RULES, check_rule

__all__ = ["RULES", "attribution", "forward"]


def _one_input(x, expected, name: str) -> np.ndarray:
    x = np.asarray(x)
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == bool) or np.iscomplexobj(x):
        raise TypeError(f"{name}: expected a real numeric array, got dtype {x.dtype}")
    x = x.astype(np.float64)
    if x.ndim != len(expected) or any(e is not None and e != s for e, s in zip(expected[1:], x.shape[1:])):
        raise ValueError(f"{name}: expected shape {expected} (None = any), got {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError(f"{name}: contains NaN or Inf")
    return x


def _inputs(program, model, inputs):
    """``(xs, pack)``: one float64 array per model input, and ``pack(maps)`` -> the structure given."""
    shapes = program.input_shapes
    if len(shapes) == 1:
        return [_one_input(inputs, shapes[0], "inputs")], lambda maps: maps[0]
    names = [t.name for t in model.inputs]
    xs, pack = split_inputs(inputs, names, written_order(model))
    xs = [_one_input(x, shape, f"inputs[{name!r}]") for x, shape, name in zip(xs, shapes, names)]
    if len({len(x) for x in xs}) > 1:
        raise ValueError(f"inputs: every input must have the same number of samples, got {[len(x) for x in xs]}")
    return xs, pack


def _seed(targets, output: np.ndarray) -> np.ndarray:
    t = np.asarray(targets)
    if t.ndim == 1 and np.issubdtype(t.dtype, np.integer):
        classes = output.shape[-1]
        if output.ndim != 2:
            raise ValueError(f"targets: class labels need an output of shape (N, classes), got {output.shape}")
        if t.size and (t.min() < 0 or t.max() >= classes):
            raise ValueError(f"targets: labels must lie in [0, {classes}), got range [{t.min()}, {t.max()}]")
        t = np.eye(classes)[t]
    if not np.issubdtype(t.dtype, np.number) or np.iscomplexobj(t):
        raise TypeError(f"targets: expected a real numeric array, got dtype {t.dtype}")
    if t.shape != output.shape:
        raise ValueError(f"targets: expected shape {output.shape} (the model output), got {t.shape}")
    t = t.astype(np.float64)
    if not np.isfinite(t).all():
        raise ValueError("targets: contains NaN or Inf")
    return t


def forward(model, inputs, output_layer=None) -> np.ndarray:
    """The model's output (cut at ``output_layer``) computed by the reference in float64.

    Parameters
    ----------
    model : keras.Model
        A built Keras 3 ``Sequential`` or ``Functional`` model (one or several inputs, one output).
    inputs : array_like, or a list, tuple or dict of them
        Batch of inputs, ``(N, ...)`` matching the model's input shape; for a
        model with several inputs, one per input (in order, or keyed by name).
    output_layer : str, int or None
        Layer name or index into ``model.layers`` whose output is the model's
        output; ``None`` for the model's own output.

    Returns
    -------
    numpy.ndarray
        float64 output, ``(N, ...)``.
    """
    program = compile_model(model, output_layer)
    return program.forward(_inputs(program, model, inputs)[0])[program.output]


def attribution(model, inputs, targets, rule: str = "deconvnet", output_layer=None) -> np.ndarray:
    """Attribution map of ``inputs`` for ``targets`` under a ReLU ``rule``, in float64.

    Parameters
    ----------
    model : keras.Model
        A built Keras 3 ``Sequential`` or ``Functional`` model (one or several inputs, one output).
    inputs : array_like, or a list, tuple or dict of them
        Batch of inputs, ``(N, W)``, ``(N, T, W)`` or ``(N, H, W, C)``; for a
        model with several inputs, one per input (in order, or keyed by name).
    targets : array_like
        One-hot (or any real weighting) of the output, of the output's shape;
        or integer class labels ``(N,)`` standing for their one-hot vectors.
    rule : {"deconvnet", "gradient", "guided"}
        Backward rule at every ReLU (see :mod:`refdeconv.reference.rules`).
    output_layer : str, int or None
        Where the model is cut (see :func:`forward`).

    Returns
    -------
    numpy.ndarray, or a list, tuple or dict of them
        float64 maps of the inputs' shapes, in the structure the inputs came in.

    Notes
    -----
    The score of sample ``i`` is ``s_i = sum_k f(x_i)_k y_ik`` (the default
    operator); the map is the reverse-mode pass of ``s_i`` to ``x_i`` in which
    every ReLU sends back ``rule(u, 1[z active])`` and every other operation its
    exact vector-Jacobian product. Samples are independent, so one reverse pass
    of ``sum_i s_i`` gives all maps at once.

    References
    ----------
    .. [1] Zeiler, M. D. & Fergus, R. "Visualizing and Understanding
       Convolutional Networks", ECCV 2014, arXiv:1311.2901.
    """
    rule = check_rule(rule)
    program = compile_model(model, output_layer)
    xs, pack = _inputs(program, model, inputs)
    values = program.forward(xs)
    return pack(program.backward(values, _seed(targets, values[program.output]), rule))
