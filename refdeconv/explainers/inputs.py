"""Inputs and targets as the explainers take them: types, shapes, dtypes, batching, messages.

``explain(inputs, targets)`` accepts

- ``inputs``: a ``numpy.ndarray`` or ``tf.Tensor`` of shape ``(N, ...)`` matching
  the model's input (``(N, W)``, ``(N, T, W)``, ``(N, H, W, C)``), of any real
  dtype (cast to the model's, as Keras does); for a model with several inputs a
  list, tuple or dict of them (:mod:`~refdeconv.explainers.signature`); or a
  ``tf.data.Dataset`` yielding ``(x, y)`` pairs (or ``x`` alone: top class),
  batched or not, whose samples may differ in shape; it is streamed batch by
  batch (:mod:`~refdeconv.explainers.datasets`).
- ``targets``: one-hot (or any real weighting of the outputs) of the output's
  shape ``(N, classes)``; integer class labels ``(N,)``; or ``None``, which
  explains each input's top class ``argmax f(x)``.

Every malformed argument raises ``TypeError`` (wrong kind) or ``ValueError``
(wrong value) naming the argument, what was expected and what came, before
the model is called.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

_FLOATS = ("float16", "bfloat16", "float32", "float64")


def check_batch_size(batch_size):
    """``batch_size`` if it is an int >= 1 or ``None``."""
    if batch_size is None:
        return None
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size: expected an int >= 1 or None, got {batch_size!r}")
    return int(batch_size)


def _dtype_name(value) -> str:
    return tf.as_dtype(value.dtype).name if tf.is_tensor(value) else np.asarray(value).dtype.name


def as_array(value, name: str):
    """``value`` as an ndarray or tensor of real numbers; ``TypeError`` otherwise."""
    if tf.is_tensor(value):
        if isinstance(value, tf.SparseTensor | tf.RaggedTensor):
            raise TypeError(f"{name}: expected a dense array, got {type(value).__name__}")
        dtype = tf.as_dtype(value.dtype)
        ok = dtype.is_floating or dtype.is_integer or dtype.is_bool
    else:
        try:
            value = np.asarray(value)
        except (ValueError, TypeError) as err:  # ragged nested lists
            raise TypeError(f"{name}: expected a rectangular numeric array, got {type(value).__name__}: {err}") from None
        ok = value.dtype.kind in "biuf" or value.dtype.name == "bfloat16"
    if not ok:
        raise TypeError(f"{name}: expected real numbers, got dtype {_dtype_name(value)}")
    return value


def check_finite(value, name: str, offset: int = 0) -> None:
    """``ValueError`` naming the first sample with NaN or Inf (integers are always finite)."""
    if _dtype_name(value) not in _FLOATS or value.shape[0] == 0:
        return
    if tf.is_tensor(value):
        ok = tf.reduce_all(tf.reshape(tf.math.is_finite(value), (value.shape[0], -1)), axis=1).numpy()
    else:
        ok = np.isfinite(value).reshape(len(value), -1).all(axis=1)
    if not ok.all():
        raise ValueError(f"{name}: sample {offset + int(np.argmin(ok))} contains NaN or Inf")


def fits(sample: tuple, expected: tuple) -> bool:
    """Whether a sample of shape ``sample`` is one the model takes (``expected``, per sample; ``None``
    on either side: any extent)."""
    return len(sample) == len(expected) and all(e is None or s is None or e == s for e, s in zip(expected, sample))


def check_inputs(x, input_shape, name: str = "inputs") -> None:
    """Rank and per-sample shape of a batch against the model's input shape (``None`` = any)."""
    shape = tuple(x.shape)
    if len(shape) < 2:
        raise ValueError(f"{name}: expected a batch of shape (N, ...) with at least 2 axes, got shape {shape}")
    if input_shape is None:
        return
    if not fits(shape[1:], tuple(input_shape[1:])):
        raise ValueError(f"{name}: expected shape {tuple(input_shape)} (None = any) for this model, got {shape}")


def targets_for(y, n: int, output_shape, strict: bool, offset: int = 0):
    """Targets of a batch as a float array of the output's shape.

    Parameters
    ----------
    y : array or tensor
        One-hot/weights ``(n, *output)`` or integer labels ``(n,)``.
    n : int
        Number of inputs in the batch.
    output_shape : tuple or None
        The model's output shape (batch axis first).
    strict : bool
        Whether the operator is a built-in one, so the targets must have the
        output's shape; a custom operator only needs ``n`` rows.
    """
    y = as_array(y, "targets")
    shape = tuple(y.shape)
    if not shape or shape[0] != n:
        raise ValueError(f"targets: expected {n} rows, one per input, got shape {shape}")
    integer = tf.as_dtype(y.dtype).is_integer
    if len(shape) == 1 and integer:
        if output_shape is None or len(output_shape) != 2:
            raise ValueError(f"targets: class labels need a model output of shape (N, classes), got {output_shape}")
        classes = output_shape[1]
        labels = np.asarray(y)
        if labels.size and (labels.min() < 0 or labels.max() >= classes):
            i = int(np.flatnonzero((labels < 0) | (labels >= classes))[0])
            raise ValueError(f"targets: class labels must lie in [0, {classes}), got {labels[i]} at sample {offset + i}")
        return np.eye(classes, dtype=np.float32)[labels]
    if strict and output_shape is not None:
        expected = (n, *output_shape[1:])
        if len(shape) != len(expected) or any(e is not None and e != s for e, s in zip(expected, shape)):
            labels = (f", or integer class labels of shape ({n},): these have dtype {np.asarray(y).dtype}, "
                      "cast them to an integer dtype") if len(shape) == 1 else ""
            raise ValueError(f"targets: expected one-hot targets of shape {expected} (the model output){labels}, "
                             f"got {shape}")
    check_finite(y, "targets", offset)
    return y
