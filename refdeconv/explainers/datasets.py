"""A ``tf.data.Dataset`` as the explainers stream it: its structure, its batches, its samples' shapes.

A Dataset yields ``(x, y)`` pairs or ``x`` alone (``x``: one tensor, or for a model with several
inputs a tuple, list or dict of them), batched or not, after any ``map``/``prefetch``/``cache``;
:func:`batched_dataset` unbatches it, so that ``batch_size`` alone decides what is explained at
once, and regroups its samples:

- where the Dataset's ``element_spec`` fixes every sample's shape, with ``Dataset.batch``;
- where it does not (images of several sizes, ``padded_batch`` batches of different lengths, a
  generator's samples), in runs of consecutive samples of the same shapes, at most ``batch_size``
  each (:func:`runs`): any shapes the model accepts are explained whatever ``batch_size``, where
  ``Dataset.batch`` would fail at the first two samples of different shapes.

A sample whose shape the model does not take raises ``ValueError`` naming ``inputs`` and the
sample's index, as soon as it is reached (up front where the ``element_spec`` tells).
"""

from __future__ import annotations

import tensorflow as tf

from . import inputs as io
from .signature import flatten


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


def check_samples(shapes: list, sig, which: str) -> None:
    """``ValueError`` naming the input where a sample's shape (one per model input; ``None`` dims and
    unknown ranks pass) is not one the model takes; ``which`` names the samples in the message."""
    names = [f"inputs[{name!r}]" for name in sig.names] if sig.several else ["inputs"]
    for shape, name, model_shape in zip(shapes, names, sig.shapes):
        shape = tf.TensorShape(shape)
        if model_shape is None or shape.rank is None:
            continue
        expected = tuple(model_shape[1:])
        if not io.fits(tuple(shape.as_list()), expected):
            raise ValueError(f"{name}: {which} shape {tuple(shape.as_list())}, but this model takes samples of "
                             f"shape {expected} (None = any)")


def batched_dataset(dataset, batch_size, signature_of):
    """``(batches, pair, pack, specs)`` from a ``tf.data.Dataset`` of ``(x, y)`` (``pair``) or ``x``.

    Parameters
    ----------
    dataset : tf.data.Dataset
        The user's. A batched one (of the model input's rank) is unbatched first. Where the
        model's input rank is unknown (an unbuilt or subclassed model), the pipeline tells:
        elements made by ``batch`` (``drop_remainder`` or not) are batches, others samples.
    batch_size : int or None
        The most samples in a batch (``None``: no limit).
    signature_of : callable
        Returns the model's :class:`~refdeconv.explainers.signature.Signature` now (an unbuilt
        model is built on the first batch, and its samples' shapes are then known).

    Returns
    -------
    batches : iterable
        Batches of ``(x, y)`` or ``x``, in the Dataset's order (:func:`runs` where the samples'
        shapes may differ).
    pair : bool
        Whether the elements are ``(x, y)`` pairs.
    pack : callable
        Puts one map (or list of maps) per model input back in the structure of ``x``.
    specs : list of tf.TensorSpec
        Each model input's spec for one sample.
    """
    sig = signature_of()
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
    specs = input_specs(dataset, pair, sig)
    check_samples([spec.shape for spec in specs], sig, "the Dataset's samples have")
    pack = (lambda maps: dict(zip(sig.names, maps))) if isinstance(x_spec, dict) else (
        (lambda maps: type(x_spec)(maps)) if sig.several else (lambda maps: maps[0]))
    size = batch_size if batch_size is not None else 2**31 - 1
    if all(spec.shape.is_fully_defined() for spec in tf.nest.flatten(dataset.element_spec)):
        return elements(dataset.batch(size)), pair, pack, specs
    return runs(dataset, size, pair, signature_of), pair, pack, specs


def runs(dataset, size: int, pair: bool, signature_of):
    """Batches of at most ``size`` consecutive samples of ``dataset`` of the same shapes, in order.

    The samples come from ``ragged_batch`` (batched in TensorFlow; a batch whose samples
    agree in shape is used whole), or one by one where a rank is unknown. The first sample of each
    run is checked against the model (:func:`check_samples`), after the run before it was yielded
    (and explained: an unbuilt model is then built).
    """
    run, count, shapes, index = [], 0, None, 0
    for structure, piece in _pieces(dataset, size):
        key = tuple(tuple(t.shape[1:]) for t in piece)
        if run and key != shapes:
            yield _joined(structure, run)
            run, count = [], 0
        if key != shapes:
            sig = signature_of()
            first = tf.nest.pack_sequence_as(structure, piece)
            check_samples([t.shape[1:] for t in flatten(first[0] if pair else first, sig)[0]], sig,
                          f"sample {index} of the Dataset has")
        n = int(piece[0].shape[0])
        shapes, index = key, index + n
        while n:
            take = min(size - count, n)
            run.append(piece if take == n else [t[:take] for t in piece])
            piece, n, count = [t[take:] for t in piece] if take < n else piece, n - take, count + take
            if count == size:
                yield _joined(structure, run)
                run, count = [], 0
    if run:
        yield _joined(structure, run)


_CHUNK = 1024  # the most samples per ragged_batch: its cost grows with its batch size (40 s at 2**20)


def _pieces(dataset, size: int):
    """``(structure, flat tensors)`` of consecutive samples of one shape: whole ``ragged_batch``
    batches where their samples agree, else one sample each."""
    if any(spec.shape.rank is None for spec in tf.nest.flatten(dataset.element_spec)):
        for batch in elements(dataset.batch(1)):
            yield batch, tf.nest.flatten(batch)
        return
    for batch in elements(dataset.ragged_batch(min(size, _CHUNK))):
        flat = tf.nest.flatten(batch)
        dense = [_uniform(t) for t in flat]
        if all(t is not None for t in dense):
            yield batch, dense
            continue
        for i in range(int(dense[0].shape[0] if dense[0] is not None else flat[0].nrows())):
            yield batch, [t[i : i + 1].to_tensor() if isinstance(t, tf.RaggedTensor) else t[i : i + 1] for t in flat]


def _uniform(t):
    """``t`` as a dense tensor where all its samples have one shape (exactly its values), else ``None``."""
    if not isinstance(t, tf.RaggedTensor):
        return t
    lengths = [r.numpy() for r in t.nested_row_lengths()]
    if any(len(r) and (r != r[0]).any() for r in lengths):
        return None
    dims = [int(r[0]) if len(r) else 0 for r in lengths]
    return tf.reshape(t.flat_values, [int(t.nrows()), *dims, *t.flat_values.shape[1:]])


def _joined(structure, run: list):
    """The parts of ``run`` (each a list of flat tensors) joined into one batch of ``structure``."""
    parts = run[0] if len(run) == 1 else [tf.concat(column, 0) for column in zip(*run)]
    return tf.nest.pack_sequence_as(structure, parts)
