"""The independent oracle: a NumPy float64 backward pass written by hand.

``refdeconv.reference`` reads the architecture and weights of a Keras 3
``Sequential`` or ``Functional`` model, or of an ONNX model (PyTorch's exports,
Keras's, tf2onnx's), and recomputes, without TensorFlow, its forward pass and
the attribution map under one of three ReLU rules. One reference, two readers
(:mod:`~refdeconv.reference.graph` for Keras, :mod:`~refdeconv.reference.onnx`
for ONNX): each turns a model into the same compiled program of the reference's
operations (:mod:`~refdeconv.reference.program`), read once by :func:`compile`.
Every operation has its forward and its vector-Jacobian product side by side;
the rules differ in one function (:mod:`refdeconv.reference.rules`).

Supported layers include: ``InputLayer``, ``Dense``, ``Conv1D/2D/3D`` (valid/same,
strides, dilation, groups; causal for ``Conv1D``), ``DepthwiseConv1D/2D``,
``SeparableConv1D/2D``, ``Conv1DTranspose/2DTranspose/3DTranspose`` (no dilation),
``PReLU``, ``MaxPooling1D/2D/3D``, ``AveragePooling1D/2D/3D``,
``GlobalAveragePooling1D/2D/3D``, ``GlobalMaxPooling1D/2D/3D``,
``ZeroPadding1D/2D/3D``, ``Cropping1D/2D/3D``, ``UpSampling1D/2D/3D``, ``Flatten``,
``Reshape``, ``Dropout`` and the other inference-time identities,
``BatchNormalization`` (inference), ``Add``, ``Concatenate``, ``ReLU``
(``max_value``, ``threshold``), ``Activation``, ``LeakyReLU``, ``ELU``,
``Softmax``, and nested Sequential/Functional models; ONNX's ``Conv``,
``ConvTranspose``, ``Gemm``, ``MatMul``, the arithmetic, the activations, the
pools and reductions, the normalisations, the reshaping ops and ``Resize``, in
the model's own layout; the coverage table of ``docs/verification.md`` lists
them all. Anything else raises ``NotImplementedError`` naming the layer or node.
"""

from __future__ import annotations

import numpy as np

from .oracle import Oracle, compile
from .rules import RULES

__all__ = ["RULES", "Oracle", "attribution", "compile", "forward"]


def forward(model, inputs, output_layer=None) -> np.ndarray:
    """The model's output (cut at ``output_layer``) computed by the reference in float64.

    Parameters
    ----------
    model : keras.Model, onnx.ModelProto, str or os.PathLike
        A built Keras 3 ``Sequential`` or ``Functional`` model (one or several inputs, one
        output), an ONNX model, or the path of a ``.onnx`` file.
    inputs : array_like, or a list, tuple or dict of them
        Batch of inputs, ``(N, ...)`` matching the model's input shape, in the model's own
        layout (channels first for PyTorch's ONNX exports); for a model with several inputs,
        one per input (in order, or keyed by name).
    output_layer : str, int or None
        Keras: layer name or index into ``model.layers`` whose output is the model's output;
        ONNX: the name of a value of the graph; ``None`` for the model's own output.

    Returns
    -------
    numpy.ndarray
        float64 output, ``(N, ...)``.

    Raises
    ------
    NotImplementedError
        A layer or node the reference does not model (named, with its type).
    ValueError, TypeError
        Bad ``model``, ``inputs`` or ``output_layer`` (the message starts with its name).
    """
    return compile(model, output_layer).forward(inputs)


def attribution(model, inputs, targets, rule: str = "deconvnet", output_layer=None) -> np.ndarray:
    """Attribution map of ``inputs`` for ``targets`` under a ReLU ``rule``, in float64.

    Parameters
    ----------
    model : keras.Model, onnx.ModelProto, str or os.PathLike
        A Keras 3 ``Sequential`` or ``Functional`` model, an ONNX model, or the path of a
        ``.onnx`` file (see :func:`forward`).
    inputs : array_like, or a list, tuple or dict of them
        Batch of inputs, ``(N, W)``, ``(N, T, W)`` or ``(N, H, W, C)`` (``(N, C, ...)`` for a
        channels-first ONNX model); for a model with several inputs, one per input (in order,
        or keyed by name).
    targets : array_like
        One-hot (or any real weighting) of the output, of the output's shape;
        or integer class labels ``(N,)`` standing for their one-hot vectors.
    rule : {"deconvnet", "gradient", "guided"} or dict
        Backward rule at every ReLU (see :mod:`refdeconv.reference.rules`), or a dict giving
        each kind of ReLU of the model (:attr:`Oracle.relu_kinds`) its own rule.
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
    return compile(model, output_layer).attribution(inputs, targets, rule)
