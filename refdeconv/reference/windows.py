"""Sliding windows over NHWC arrays, and their adjoint: the one geometry that
convolution and pooling share.

A window operation reads, for every output position, ``K = kh * kw`` input
positions. :func:`windows` gathers them into a ``(N, Ho, Wo, K, C)`` array, one
strided slice per kernel offset; :func:`windows_adjoint` scatter-adds such an
array back onto the input grid through the same slices. Convolution, max- and
average-pooling are then a reduction over the ``K`` axis, and their
vector-Jacobian products are the adjoint of that reduction followed by
:func:`windows_adjoint`.

One-dimensional operations use the same code with ``H = 1``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Geometry:
    """Window size, strides, dilation and padding of a 2-D window operation.

    Parameters
    ----------
    size : tuple of int
        Window (kernel or pool) size ``(kh, kw)``.
    strides : tuple of int
        Step between windows ``(sh, sw)``.
    padding : {"valid", "same", "causal"}
        TensorFlow's padding scheme, or Keras's causal padding.
    dilation : tuple of int, optional
        Gap between window taps ``(dh, dw)``; pooling uses ``(1, 1)``.

    Notes
    -----
    For an input extent ``n``, effective window ``e = (k - 1) d + 1`` and
    stride ``s``, TensorFlow's output extent is ``floor((n - e) / s) + 1`` with
    ``"valid"`` and ``ceil(n / s)`` with ``"same"``. With ``"same"`` the total
    padding is ``max((out - 1) s + e - n, 0)``, of which ``floor(total / 2)``
    goes before the data and the rest after it. ``"causal"`` (Keras
    ``Conv1D``) pads ``e - 1`` before the data and none after, then slides
    as ``"valid"``: ``floor((n - 1) / s) + 1`` outputs, output ``t`` reading
    inputs up to ``t s`` only.
    """

    size: tuple[int, int]
    strides: tuple[int, int]
    padding: str
    dilation: tuple[int, int] = (1, 1)

    def plan(self, extent: tuple[int, int]):
        """Output extent and ``((top, bottom), (left, right))`` padding for an input extent."""
        out, pads = [], []
        for n, k, s, d in zip(extent, self.size, self.strides, self.dilation):
            e = (k - 1) * d + 1
            if self.padding == "valid":
                o = (n - e) // s + 1 if n >= e else 0
                pads.append((0, 0))
            elif self.padding == "causal":
                o = (n - 1) // s + 1 if n else 0
                pads.append((e - 1, 0))
            else:
                o = math.ceil(n / s)
                total = max((o - 1) * s + e - n, 0)
                pads.append((total // 2, total - total // 2))
            out.append(o)
        return tuple(out), tuple(pads)

    def offsets(self):
        """Kernel offsets ``(i, j)`` in row-major order: the order of the ``K`` axis."""
        return [(i, j) for i in range(self.size[0]) for j in range(self.size[1])]

    def slices(self, out):
        """One ``(rows, cols)`` slice pair of the padded input per kernel offset."""
        (ho, wo), (sh, sw), (dh, dw) = out, self.strides, self.dilation
        return [
            (slice(i * dh, i * dh + (ho - 1) * sh + 1, sh), slice(j * dw, j * dw + (wo - 1) * sw + 1, sw))
            for i, j in self.offsets()
        ]


def windows(x: np.ndarray, geometry: Geometry, fill: float = 0.0) -> np.ndarray:
    """Gather the windows of ``x`` (``(N, H, W, C)``) into ``(N, Ho, Wo, K, C)``.

    Padding positions hold ``fill`` (0 for convolution and average pooling,
    ``-inf`` for max pooling, so that padding never wins a window).
    """
    out, pads = geometry.plan(x.shape[1:3])
    xp = np.pad(x, ((0, 0), *pads, (0, 0)), constant_values=fill)
    if 0 in out:
        return np.zeros((x.shape[0], *out, len(geometry.offsets()), x.shape[3]), x.dtype)
    return np.stack([xp[:, rows, cols, :] for rows, cols in geometry.slices(out)], axis=3)


def windows_adjoint(w: np.ndarray, geometry: Geometry, extent: tuple[int, int]) -> np.ndarray:
    """Adjoint of :func:`windows` (with ``fill=0``): scatter-add ``(N, Ho, Wo, K, C)`` onto ``(N, H, W, C)``.

    Overlapping windows accumulate; what falls on padding is dropped.

    Notes
    -----
    :func:`windows` is linear in ``x`` when ``fill = 0``; for every ``x`` and
    ``w`` of matching shapes ``<windows(x), w> = <x, windows_adjoint(w)>``,
    which the test suite checks.
    """
    out, ((top, bottom), (left, right)) = geometry.plan(extent)
    n, c = w.shape[0], w.shape[-1]
    grid = np.zeros((n, extent[0] + top + bottom, extent[1] + left + right, c), w.dtype)
    if 0 not in out:
        for k, (rows, cols) in enumerate(geometry.slices(out)):
            grid[:, rows, cols, :] += w[:, :, :, k, :]
    return grid[:, top : top + extent[0], left : left + extent[1], :]
