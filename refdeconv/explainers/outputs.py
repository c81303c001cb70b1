"""Assembling the maps of many batches into one ``tf.Tensor`` without a second copy.

A naive ``tf.concat`` of the batch maps holds the output twice at its peak.
Here the maps are written into memory refdeconv owns and handed to TensorFlow
through DLPack, which shares it. With a known number of inputs, that is one
NumPy buffer aligned as TensorFlow requires (64 bytes: its CPU kernels abort
on a misaligned buffer). With a streamed Dataset of unknown length it is an
anonymous memory map grown in place (``mremap`` on Linux: no copy, and only
the pages written are resident), so the peak stays near one output plus one
batch; where the map cannot grow in place it is copied once to a larger one.
Samples of different shapes (a Dataset of images of several sizes) come back as
one tensor per sample, views of that memory where they are aligned.
``bfloat16`` has no DLPack route in TensorFlow and is copied once.
"""

from __future__ import annotations

import mmap

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
    """``array`` as a ``tf.Tensor`` sharing its memory when it is 64-byte aligned."""
    if array.size == 0 or array.dtype.name == "bfloat16" or array.ctypes.data % _ALIGN:
        return tf.convert_to_tensor(array)
    return tf.experimental.dlpack.from_dlpack(array.__dlpack__())


def _anonymous(size: int) -> mmap.mmap:
    """Private anonymous memory: it can grow by ``mremap`` (a shared one would fault past its first size)."""
    return mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE)


class Collector:
    """Batch maps of a stream of unknown length, appended into one growing anonymous memory map.

    Consecutive batches of the same sample shape and dtype form a run, stored contiguously; a run
    of another shape (a Dataset whose samples differ in shape) starts at the next 64-byte boundary.
    The map is page-aligned, so the maps of one run go to TensorFlow without a copy.
    """

    def __init__(self):
        self.memory, self.used = None, 0
        self.runs: list = []  # [start byte, count, sample shape, dtype], in order

    def add(self, part: np.ndarray) -> None:
        """Append the maps of one batch (``(n, *sample)``)."""
        data = np.ascontiguousarray(part)
        sample = data.shape[1:]
        if self.runs and self.runs[-1][2:] == [sample, data.dtype]:
            self.runs[-1][1] += len(data)
        else:
            self.used = -(-self.used // _ALIGN) * _ALIGN
            self.runs.append([self.used, len(data), sample, data.dtype])
        end = self.used + data.nbytes
        if self.memory is None:
            self.memory = _anonymous(max(end, mmap.PAGESIZE))
        elif end > len(self.memory):
            self._grow(max(end, 2 * len(self.memory)))
        with memoryview(self.memory) as view:
            view[self.used : end] = data.reshape(-1).view(np.uint8)
        self.used = end

    def _grow(self, size: int) -> None:
        try:
            self.memory.resize(size)  # mremap: in place, no copy
        except (OSError, SystemError, ValueError, TypeError):
            larger = _anonymous(size)
            larger[: self.used] = self.memory[: self.used]
            self.memory.close()
            self.memory = larger

    def result(self):
        """All maps appended so far: one tensor sharing the collector's memory where they form one
        run; else a list of one tensor per sample, in order, each of its own shape (sharing that
        memory where it starts on a 64-byte boundary, else copied)."""
        blocks = [np.frombuffer(self.memory, dtype, count * int(np.prod(sample, dtype=np.int64)), start)
                  .reshape(count, *sample) for start, count, sample, dtype in self.runs]
        if len(blocks) == 1:
            return to_tensor(blocks[0])
        return [to_tensor(sample) for block in blocks for sample in block]
