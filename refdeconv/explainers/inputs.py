"""Inputs and targets as the explainers take them: types, shapes, dtypes, batching, messages.

``explain(inputs, targets)`` accepts

- ``inputs``: a ``numpy.ndarray`` or ``tf.Tensor`` of shape ``(N, ...)`` matching
  the model's input (``(N, W)``, ``(N, T, W)``, ``(N, H, W, C)``), of any real
  dtype (cast to the model's, as Keras does); for a model with several inputs a
  list, tuple or dict of them (:mod:`~refdeconv.explainers.signature`); or a
  ``tf.data.Dataset`` yielding ``(x, y)`` pairs (or ``x`` alone: top class),
  batched or not, after any ``map``/``prefetch``/``cache``; it is streamed batch
  by batch.
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


def check_inputs(x, input_shape, name: str = "inputs") -> None:
    """Rank and per-sample shape of a batch against the model's input shape (``None`` = any)."""
    shape = tuple(x.shape)
    if len(shape) < 2:
        raise ValueError(f"{name}: expected a batch of shape (N, ...) with at least 2 axes, got shape {shape}")
    if input_shape is None:
        return
    if len(shape) != len(input_shape) or any(e is not None and e != s for e, s in zip(input_shape[1:], shape[1:])):
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


def _is_inputs_structure(spec, sig) -> bool:
    """Whether a Dataset element's part ``spec`` holds the model's several inputs (a tuple, list or dict)."""
    return sig.several and isinstance(spec, (tuple, list, dict)) and len(spec) == len(sig.names)


def _split(spec, sig):
    """``(x spec, pair)`` of a Dataset element: ``(x, y)`` pairs, or ``x`` alone."""
    if sig.several:
        if isinstance(spec, tuple) and len(spec) == 2 and _is_inputs_structure(spec[0], sig):
            return spec[0], True
        if _is_inputs_structure(spec, sig):
            return spec, False
        raise TypeError(f"inputs: for a model with inputs {sig.names}, a Dataset must yield ((x1, x2, ...), y), "
                        f"({{name: x, ...}}, y) or the inputs alone, got elements {spec}")
    pair = isinstance(spec, tuple)
    if pair and len(spec) != 2:
        raise TypeError(f"inputs: a Dataset must yield (x, y) pairs or x alone, got elements of {len(spec)} parts")
    return (spec[0] if pair else spec), pair


_BATCHING = {"_BatchDataset": True, "_ParallelBatchDataset": True, "_PaddedBatchDataset": True,
             "_RebatchDataset": True, "_UnbatchDataset": False}


def _was_batched(dataset) -> bool:
    """Whether a Dataset's elements come from a ``batch`` (the last batching step of its pipeline,
    through ``map``, ``prefetch``, ``cache``...); a ``drop_remainder`` batch has a static batch axis."""
    while dataset is not None:
        if type(dataset).__name__ in _BATCHING:
            return _BATCHING[type(dataset).__name__]
        dataset = getattr(dataset, "_input_dataset", None)
    return False


def _first_rank(dataset, pair: bool, sig) -> int | None:
    """The rank of the first model input in a Dataset's first element (``None`` for an empty Dataset)."""
    for element in elements(dataset.take(1)):
        x = element[0] if pair else element
        if sig.several:
            x = x[sig.names[0]] if isinstance(x, dict) else x[0]
        return len(x.shape)
    return None


def elements(dataset):
    """The elements of ``dataset``, one at a time.

    Raises
    ------
    ValueError
        The pipeline itself failed (tensors of different shapes batched together, components of
        different batch sizes, a ``py_function`` that raised): naming ``inputs`` and TensorFlow's reason.
    """
    iterator = iter(dataset)
    while True:
        try:
            element = next(iterator)
        except StopIteration:
            return
        except tf.errors.OpError as err:
            reason = next((line for line in err.message.splitlines() if line.strip()), type(err).__name__)
            raise ValueError(f"inputs: the Dataset failed to yield its next element: {reason}") from None
        yield element


def input_specs(dataset, pair: bool, sig) -> list:
    """The ``TensorSpec`` of each model input in a Dataset's elements, in the model's order."""
    x_spec = dataset.element_spec[0] if pair else dataset.element_spec
    if not sig.several:
        return [x_spec]
    return [x_spec[name] for name in sig.names] if isinstance(x_spec, dict) else list(x_spec)


def batched_dataset(dataset, batch_size, sig):
    """``(batched dataset, pair, pack)`` from a ``tf.data.Dataset`` of ``(x, y)`` (``pair``) or ``x``.

    ``x`` is one tensor, or for a model with several inputs a tuple, list or dict of them;
    ``pack`` puts the maps back into that structure. A batched input (of the model input's
    rank) is unbatched first, so that ``batch_size`` alone decides what is explained at once.
    Where the model's input rank is unknown (an unbuilt or subclassed model), the pipeline
    tells: elements made by ``batch`` (``drop_remainder`` or not) are batches, others samples.
    """
    x_spec, pair = _split(dataset.element_spec, sig)
    specs = input_specs(dataset, pair, sig)
    if not all(isinstance(s, tf.TensorSpec) for s in specs) or (pair and not isinstance(dataset.element_spec[1], tf.TensorSpec)):
        raise TypeError(f"inputs: a Dataset must yield dense tensors, got {dataset.element_spec}")
    rank = None if sig.shapes[0] is None else len(sig.shapes[0])
    if rank is None:
        batched = _was_batched(dataset)
    else:  # elements of unknown rank (a generator's, a py_function's): the first one tells
        element_rank = specs[0].shape.rank if specs[0].shape.rank is not None else _first_rank(dataset, pair, sig)
        batched = element_rank == rank
    if batched:
        dataset = dataset.unbatch()
    pack = (lambda maps: dict(zip(sig.names, maps))) if isinstance(x_spec, dict) else (
        (lambda maps: type(x_spec)(maps)) if sig.several else (lambda maps: maps[0]))
    return dataset.batch(batch_size if batch_size is not None else 2**31 - 1), pair, pack
