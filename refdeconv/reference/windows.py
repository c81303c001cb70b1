"""Sliding windows over channels-last arrays of any number of spatial axes, and their adjoint:
the one geometry that convolution and pooling share, in 1-, 2- and 3-D.

A window operation reads, for every output position, ``K = k_1 k_2 ... k_r`` input
positions (``r`` spatial axes: ``(N, W, C)``, ``(N, H, W, C)``, ``(N, D, H, W, C)``).
:func:`windows` gathers them into an ``(N, *out, K, C)`` array, one strided slice per
kernel offset; :func:`windows_adjoint` scatter-adds such an array back onto the input grid
through the same slices. Convolution, max- and average-pooling are then a reduction over
the ``K`` axis (axis ``-2``), and their vector-Jacobian products are the adjoint of that
reduction followed by :func:`windows_adjoint`.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Geometry:
    """Window size, strides, dilation and padding of a window operation over ``r`` spatial axes.

    Parameters
    ----------
    size : tuple of int
        Window (kernel or pool) size, one entry per spatial axis (``(kh, kw)`` in 2-D).
    strides : tuple of int
        Step between windows, per spatial axis.
    padding : {"valid", "same", "same_unclamped", "causal", "same_lower"} or tuple of (int, int)
        TensorFlow's padding scheme, as its 1-D/2-D kernels (``"same"``) or its 3-D kernels
        (``"same_unclamped"``) plan it, Keras's causal padding, ONNX's ``SAME_LOWER`` (``"same"``
        with the odd position before the data), or explicit ``(before, after)`` pairs, one per
        spatial axis (ONNX's ``pads``).
    dilation : tuple of int, optional
        Gap between window taps, per spatial axis; ``None`` (pooling) means all ones.
    ceil : bool
        With explicit pads: count a last, partial window (ONNX and PyTorch ``ceil_mode``).

    Notes
    -----
    Each spatial axis is planned on its own. For an input extent ``n``, effective window
    ``e = (k - 1) d + 1`` and stride ``s``, TensorFlow's output extent is
    ``floor((n - e) / s) + 1`` with ``"valid"`` and ``ceil(n / s)`` with ``"same"``. With
    ``"same"`` the total padding is ``max((out - 1) s + e - n, 0)``, of which
    ``floor(total / 2)`` goes before the data and the rest after it.

    TensorFlow's ``Conv3D``, ``MaxPool3D`` and ``AvgPool3D`` kernels (Eigen's volume patches)
    plan ``"same"`` without the ``max(., 0)``: ``"same_unclamped"`` takes the total padding
    ``(out - 1) s + e - n`` as it is, even negative, and puts ``total / 2`` rounded toward zero
    before the data (measured, TensorFlow 2.21 on CPU). A negative padding skips input positions:
    with ``n = 3``, ``k = 1``, ``s = 3`` the one window reads position 1, not 0. The two rules
    differ only where ``total <= -2``, i.e. when the stride exceeds the effective window.
    ``"causal"`` (Keras
    ``Conv1D``) pads ``e - 1`` before the data and none after, then slides as ``"valid"``:
    ``floor((n - 1) / s) + 1`` outputs, output ``t`` reading inputs up to ``t s`` only.

    Explicit pads ``(a, b)`` give ``floor((n + a + b - e) / s) + 1`` outputs, or with ``ceil``
    ``ceil((n + a + b - e) / s) + 1`` less one if that last window would start past the data and
    the padding before it (``(out - 1) s >= n + a``; ONNX's ``MaxPool`` and PyTorch's rule). A
    ceil-mode window reaching past the padding after the data reads the fill value there too;
    :meth:`overhang` says how far it reaches.
    """

    size: tuple[int, ...]
    strides: tuple[int, ...]
    padding: str
    dilation: tuple[int, ...] | None = None
    ceil: bool = False

    def __post_init__(self):
        if self.dilation is None:
            object.__setattr__(self, "dilation", (1,) * len(self.size))

    def plan(self, extent: tuple[int, ...]):
        """Output extent and one ``(before, after)`` padding pair per spatial axis for an input extent
        (a negative entry drops that many input positions)."""
        out, pads = [], []
        for n, k, s, d in zip(extent, self.size, self.strides, self.dilation, strict=True):
            e = (k - 1) * d + 1
            if not isinstance(self.padding, str):
                (a, b), o = self.padding[len(out)], 0
                if n + a + b >= e:
                    o = -(-(n + a + b - e) // s) + 1 if self.ceil else (n + a + b - e) // s + 1
                    o -= self.ceil and (o - 1) * s >= n + a
                pads.append((a, max(b, (o - 1) * s + e - n - a) if o else b))
            elif self.padding == "valid":
                o = (n - e) // s + 1 if n >= e else 0
                pads.append((0, 0))
            elif self.padding == "causal":
                o = (n - 1) // s + 1 if n else 0
                pads.append((e - 1, 0))
            else:
                o = math.ceil(n / s)
                total = (o - 1) * s + e - n
                if self.padding == "same":
                    total = max(total, 0)
                before = int(total / 2)  # "same_unclamped": C++'s integer division, toward zero
                if self.padding == "same_lower":
                    before = total - before
                pads.append((before, total - before))
            out.append(o)
        return tuple(out), tuple(pads)

    def overhang(self, extent: tuple[int, ...]) -> tuple[int, ...]:
        """Per spatial axis, how many positions past the explicit padding after the data the last
        ceil-mode window reads (0 unless ``ceil``)."""
        _, pads = self.plan(extent)
        if isinstance(self.padding, str):
            return (0,) * len(extent)
        return tuple(b - given for (_, b), (_, given) in zip(pads, self.padding))

    def offsets(self):
        """Kernel offsets (one index per spatial axis) in row-major order: the order of the ``K`` axis."""
        return list(itertools.product(*map(range, self.size)))

    def slices(self, out):
        """One tuple of per-axis slices of the padded input per kernel offset."""
        return [
            tuple(slice(i * d, i * d + (o - 1) * s + 1, s) for i, o, s, d in zip(offset, out, self.strides, self.dilation))
            for offset in self.offsets()
        ]


def windows(x: np.ndarray, geometry: Geometry, fill: float = 0.0) -> np.ndarray:
    """Gather the windows of ``x`` (``(N, *spatial, C)``) into ``(N, *out, K, C)``.

    Padding positions hold ``fill`` (0 for convolution and average pooling,
    ``-inf`` for max pooling, so that padding never wins a window).
    """
    out, pads = geometry.plan(x.shape[1:-1])
    xp = np.pad(x, ((0, 0), *_grown(pads), (0, 0)), constant_values=fill)[_cut(x.shape[1:-1], pads)]
    if 0 in out:
        return np.zeros((x.shape[0], *out, len(geometry.offsets()), x.shape[-1]), x.dtype)
    return np.stack([xp[(slice(None), *cut)] for cut in geometry.slices(out)], axis=-2)


def windows_adjoint(w: np.ndarray, geometry: Geometry, extent: tuple[int, ...]) -> np.ndarray:
    """Adjoint of :func:`windows` (with ``fill=0``): scatter-add ``(N, *out, K, C)`` onto ``(N, *extent, C)``.

    Overlapping windows accumulate; what falls on padding is dropped.

    Notes
    -----
    :func:`windows` is linear in ``x`` when ``fill = 0``; for every ``x`` and
    ``w`` of matching shapes ``<windows(x), w> = <x, windows_adjoint(w)>``,
    which the test suite checks.
    """
    out, pads = geometry.plan(extent)
    grown = _grown(pads)
    grid = np.zeros((w.shape[0], *(n + a + b for n, (a, b) in zip(extent, grown)), w.shape[-1]), w.dtype)
    if 0 not in out:
        view = grid[_cut(extent, pads)]  # a view: the windows' coordinates, as in :func:`windows`
        for k, cut in enumerate(geometry.slices(out)):
            view[(slice(None), *cut)] += w[..., k, :]
    return grid[(slice(None), *(slice(a, a + n) for n, (a, _) in zip(extent, grown)))]


def _grown(pads):
    """The positive part of each padding: what is added around the data."""
    return tuple((max(a, 0), max(b, 0)) for a, b in pads)


def _cut(extent, pads):
    """Index of the grown array without the input positions a negative padding drops."""
    return (slice(None), *(slice(max(-a, 0), max(a, 0) + n + b) for n, (a, b) in zip(extent, pads)))
