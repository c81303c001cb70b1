"""TensorFlow ops whose gradient is not the derivative of their forward pass: refused in refdeconv traces.

TensorFlow's ``Conv3D`` and ``AvgPool3D`` kernels (Eigen's, oneDNN off) plan ``"same"`` padding
without clamping it at zero: where a stride above the window makes the total padding
``t = (O - 1) s + (K - 1) d + 1 - N`` negative, they skip ``trunc(t / 2)`` leading positions.
Their gradient kernels, and ``conv3d_transpose`` (``Conv3DBackpropInputV2``), clamp it: for
``t <= -2`` on some axis the gradient is the derivative of another forward pass (measured, TF 2.21
CPU, 9 of 108 probed geometries; ``tests/reference/test_volumes.py`` pins it). No rule can be
right on top of it, so inside a refdeconv trace such an op gets a ``ValueError`` naming it and
the way out, instead of a map that is silently wrong. Max-pooling's gradient is refdeconv's own
and follows the forward pass's geometry (:mod:`.switches`).
"""

from __future__ import annotations

import threading


from .rules import current, op_attr, put_in_front

#: Op type -> (window extents, dilations) of the op, spatial axes only, channels last.
_WINDOWS = {
    "Conv3D": lambda op: (op.inputs[1].shape[:3], op_attr(op, "dilations")[1:4]),
    "AvgPool3D": lambda op: (op_attr(op, "ksize")[1:4], (1, 1, 1)),
    "Conv3DBackpropInputV2": lambda op: (op.inputs[1].shape[:3], op_attr(op, "dilations")[1:4]),
}

_LOCK = threading.Lock()
_HOOKED: dict = {}  # op type -> TensorFlow's own gradient function


def unclamped_axes(op) -> list:
    """The spatial axes (0-based) on which ``op``'s forward and gradient kernels plan ``"same"``
    padding differently (total padding at most -2); empty for ``"VALID"``, channels-first or
    shapes not known statically.

    Notes
    -----
    For ``Conv3DBackpropInputV2`` (a transposed convolution's forward pass) the convolution's
    input is the op's output.
    """
    if op_attr(op, "padding") != "SAME" or op_attr(op, "data_format") != "NDHWC":
        return []
    extent = (op.outputs[0] if op.type == "Conv3DBackpropInputV2" else op.inputs[0]).shape[1:4]
    windows, dilations = _WINDOWS[op.type](op)
    if not extent.is_fully_defined() or None in tuple(windows):
        return []
    strides = op_attr(op, "strides")[1:4]
    return [i for i, (n, k, s, d) in enumerate(zip(extent, windows, strides, dilations))
            if (-(-n // s) - 1) * s + (k - 1) * d + 1 - n <= -2]


def _gradient(op, *grads):
    if current() is not None and hasattr(op, "get_attr") and unclamped_axes(op):
        raise ValueError(
            f"model: the {op.type} op {op.name!r} has 'same' padding with a stride above its window on spatial "
            f"axes {unclamped_axes(op)}; TensorFlow plans that padding one way in its forward pass and another in "
            "its gradient (its gradient is not the derivative of its forward pass there), so no map computed from "
            "it is right. Use padding='valid', or a stride no larger than the window")
    return _HOOKED[op.type](op, *grads)


def install() -> None:
    """Put the refusal in front of TensorFlow's registered gradients of :data:`_WINDOWS`' ops, inside
    refdeconv traces (installed once per process; elsewhere TensorFlow's own gradient, unchanged)."""
    with _LOCK:
        if _HOOKED:
            return
        put_in_front(_HOOKED, dict.fromkeys(_WINDOWS, lambda original: _gradient))
