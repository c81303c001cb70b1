"""ONNX ``Resize`` (and the older ``Upsample``), nearest and linear: a separable linear map, one
interpolation matrix per resized axis.

For an axis of input extent ``n``, output extent ``m`` and scale ``r``, output position ``o``
reads the input coordinate ``c(o)`` of the ``coordinate_transformation_mode`` (ONNX operator
specification): ``half_pixel`` ``(o + 1/2) / r - 1/2``; ``pytorch_half_pixel`` the same, or 0
when ``m = 1``; ``align_corners`` ``o (n - 1) / (m - 1)``; ``asymmetric`` ``o / r``;
``tf_half_pixel_for_nn`` ``(o + 1/2) / r``. ``nearest`` takes the input position
``nearest_mode(c)`` (clamped to the axis); ``linear`` the two neighbours of ``c`` (clamped) with
weights ``1 - f`` and ``f``. The forward pass applies each axis's ``(m, n)`` matrix; the
vector-Jacobian product its transpose.
"""

from __future__ import annotations

import numpy as np

COORDINATES = {
    "half_pixel": lambda o, r, n, m: (o + 0.5) / r - 0.5,
    "pytorch_half_pixel": lambda o, r, n, m: (o + 0.5) / r - 0.5 if m > 1 else 0.0 * o,
    "align_corners": lambda o, r, n, m: o * (n - 1) / (m - 1) if m > 1 else 0.0 * o,
    "asymmetric": lambda o, r, n, m: o / r,
    "tf_half_pixel_for_nn": lambda o, r, n, m: (o + 0.5) / r,
}
NEAREST = {
    "round_prefer_floor": lambda c: np.ceil(c - 0.5),
    "round_prefer_ceil": lambda c: np.floor(c + 0.5),
    "floor": np.floor,
    "ceil": np.ceil,
}


def matrix(n: int, m: int, r: float, mode: str, coordinates: str, nearest: str) -> np.ndarray:
    """The ``(m, n)`` interpolation matrix of one axis."""
    c = COORDINATES[coordinates](np.arange(m, dtype=np.float64), r, n, m)
    a = np.zeros((m, n))
    if mode == "nearest":
        a[np.arange(m), np.clip(NEAREST[nearest](c), 0, n - 1).astype(int)] = 1.0
        return a
    c = np.clip(c, 0, n - 1)
    low = np.floor(c).astype(int)
    high = np.minimum(low + 1, n - 1)
    np.add.at(a, (np.arange(m), low), 1.0 - (c - low))
    np.add.at(a, (np.arange(m), high), c - low)
    return a


class Resample:
    """``x`` multiplied along each axis ``a`` of :attr:`matrices` by its ``(m, n)`` matrix."""

    def __init__(self, matrices: dict):
        self.matrices = matrices

    def forward(self, x):
        """Each resized axis interpolated."""
        for axis, a in self.matrices.items():
            x = np.moveaxis(np.tensordot(a, x, axes=([1], [axis])), 0, axis)
        return x

    def vjp(self, u, inputs, output, rule):
        """Each matrix's transpose applied to ``u``."""
        for axis, a in self.matrices.items():
            u = np.moveaxis(np.tensordot(a.T, u, axes=([1], [axis])), 0, axis)
        return (u,)


def resize(node):
    """Translate a ``Resize`` or ``Upsample`` node (see the module docstring)."""
    x = node.traced(0)
    mode = node.attrs.get("mode", "nearest")
    if mode not in ("nearest", "linear") or node.attrs.get("antialias", 0) or "axes" in node.attrs:
        raise node.refuse(f"mode {mode!r}, antialias or axes (nearest and linear are modelled)")
    coordinates = node.attrs.get("coordinate_transformation_mode", "asymmetric" if node.op_type == "Upsample"
                                 or node.opset < 11 else "half_pixel")
    nearest = node.attrs.get("nearest_mode", "round_prefer_floor" if node.opset >= 11 else "floor")
    if coordinates not in COORDINATES or nearest not in NEAREST:
        raise node.refuse(f"coordinate_transformation_mode {coordinates!r} or nearest_mode {nearest!r}")
    if node.op_type == "Upsample" or node.opset < 11:
        scales, sizes = node.attrs.get("scales", node.constant(1)), None
    else:
        scales, sizes = node.constant(2), node.constant(3)
    if sizes is not None and np.size(sizes):
        sizes = [int(s) for s in sizes]
        scales = [m / n for m, n in zip(sizes, x.shape)]
    else:
        scales = [float(s) for s in scales]
        sizes = [int(np.floor(n * r)) for n, r in zip(x.shape, scales)]
    if sizes[:2] != list(x.shape[:2]) and x.ndim > 2 or sizes[0] != x.shape[0]:
        raise node.refuse(f"a resize of the batch or channel axis ({x.shape} to {tuple(sizes)})")
    matrices = {a: matrix(x.shape[a], sizes[a], scales[a], mode, coordinates, nearest)
                for a in range(2, x.ndim) if sizes[a] != x.shape[a] or scales[a] != 1}
    return [(Resample(matrices), [0])]
