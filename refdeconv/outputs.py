"""Assembling the maps of many batches into one ``tf.Tensor`` without a second copy.

A naive ``tf.concat`` of the batch maps holds the output twice at its peak.
Here the maps are written into one NumPy buffer, aligned as TensorFlow
requires (64 bytes: TensorFlow's CPU kernels abort on misaligned buffers), and
handed to TensorFlow through DLPack, which shares the memory. When the number
of inputs is unknown in advance (a streamed Dataset), batch maps are kept
until the end and copied into the buffer one by one, each freed once copied;
the buffer's pages are only touched as they are written, so the resident peak
stays near one output plus one batch. ``bfloat16`` has no DLPack route in
TensorFlow and is copied once.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

_ALIGN = 64


def aligned_empty(shape: tuple, dtype) -> np.ndarray:
    """An uninitialised array whose data pointer is a multiple of 64 bytes."""
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    raw = np.empty(nbytes + _ALIGN, np.uint8)
    start = (-raw.ctypes.data) % _ALIGN
    return raw[start : start + nbytes].view(dtype).reshape(shape)


def to_tensor(array: np.ndarray) -> tf.Tensor:
    """``array`` as a ``tf.Tensor`` sharing its memory (an array from :func:`aligned_empty`)."""
    if array.size == 0 or array.dtype.name == "bfloat16" or array.ctypes.data % _ALIGN:
        return tf.convert_to_tensor(array)
    return tf.experimental.dlpack.from_dlpack(array.__dlpack__())


def assemble(parts: list, sample_shape: tuple, dtype) -> tf.Tensor:
    """Concatenate batch maps (consumed from ``parts``) into one tensor, freeing each once copied."""
    out = aligned_empty((sum(len(p) for p in parts), *sample_shape), dtype)
    start = 0
    while parts:
        part = parts.pop(0)
        out[start : start + len(part)] = part
        start += len(part)
    return to_tensor(out)
