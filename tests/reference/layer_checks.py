"""Checks shared by the tests of the reference's shaping, merging and normalisation
operations (``tests/reference/test_shaping.py``, ``test_merging.py``,
``test_normalization.py``).

- :func:`assert_vjp_finite_differences`: a vector-Jacobian product against
  ``u @ J`` with ``J`` from central finite differences (``scipy.differentiate``);
- :func:`check_against_keras`: the reference's forward pass against Keras's,
  then ``rule="gradient"`` against ``tf.GradientTape``, on a float64 model.
"""

from __future__ import annotations

import numpy as np
from scipy.differentiate import jacobian

from refdeconv import reference
from refdeconv.testing import assert_maps_close, tolerance
from tests.tf_rules import score_gradient

FD_TOL = tolerance("finite-difference")


def assert_vjp_finite_differences(op, xs, u, name):
    """Each ``op.vjp(u)[i]`` against ``u @ d op / d x_i`` by central differences.

    ``op`` must act sample by sample along axis 0 (all the operations checked
    here do): the finite-difference evaluations are stacked on the batch axis.
    The error of ``u @ J`` is at most ``||u||_1`` times that of ``J``'s
    entries, whose scale is ``max |J|`` over all inputs: the bound is
    ``FD_TOL * max |J| * ||u||_1`` (the vjp itself may cancel to ~0).
    """
    got = op.vjp(u, list(xs), op.forward(*xs), "gradient")
    assert len(got) == len(xs), f"{name} vjp: {len(got)} outputs for {len(xs)} inputs"
    jacobians = []
    for i, x in enumerate(xs):

        def f(t, i=i, x=x):  # (D, *batch) -> (out size, *batch)
            batch = t.shape[1:]
            flat = np.moveaxis(t.reshape(t.shape[0], -1), 0, -1).reshape(-1, *x.shape[1:])
            reps = flat.shape[0] // x.shape[0]
            evals = [flat if j == i else np.tile(other, (reps,) + (1,) * (other.ndim - 1)) for j, other in enumerate(xs)]
            y = op.forward(*evals).reshape(-1, u.size)
            return np.moveaxis(y, 0, -1).reshape(u.size, *batch)

        # First steps of 2**-6: the order-8 stencil reaches 4 steps each side, 0.0625 < the 0.1
        # margin to any tie the callers keep (scipy's default first step, 0.5, would cross it).
        jacobians.append(jacobian(f, x.ravel().astype(np.float64), initial_step=2.0**-6, tolerances={"atol": 1e-12}).df)
    # The scale of the whole Jacobian (all inputs): an input that never wins a maximum has a
    # zero block, whose finite differences are roundoff of the function's own scale.
    scale = max(np.abs(jac).max(initial=0.0) for jac in jacobians) or 1.0
    for i, (x, jac) in enumerate(zip(xs, jacobians)):
        want = (u.ravel() @ jac).reshape(x.shape)
        assert got[i].shape == x.shape, f"{name} vjp[{i}]: shape {got[i].shape} != input shape {x.shape}"
        bound = FD_TOL * scale * np.abs(u).sum()
        err = np.abs(got[i] - want).max()
        assert err <= bound, (
            f"{name} vjp[{i}] vs finite differences: error {err:.3g} > {bound:.3g}; "
            f"x = {[a.tolist() for a in xs]}, u = {u.tolist()}, vjp = {got[i].tolist()}, fd = {want.tolist()}"
        )


def check_against_keras(model, x, targets, context):
    """Forward vs Keras first, then the reference gradient vs ``tf.GradientTape``."""
    out, grad = score_gradient(model, x, targets)
    assert_maps_close(reference.forward(model, x), out, "float64", f"forward of {context}")
    got = reference.attribution(model, x, targets, rule="gradient")
    assert_maps_close(got, grad, "float64", f"GradientTape vs reference gradient, {context}")


def tf_gradient_is_derivative(extent, size, strides, dilation, padding) -> bool:
    """Whether TensorFlow's 3-D gradients are the derivative of its 3-D forward pass here.

    ``Conv3D``, ``MaxPool3D`` and ``AvgPool3D`` plan ``"same"`` padding unclamped (a negative
    total padding ``(out - 1) s + e - n`` shifts the windows into the input) but their gradient
    kernels, and ``conv3d_transpose``, clamp it at zero (measured, TensorFlow 2.21 CPU). The two
    plans agree when every axis has ``total >= -1``: only then can ``tf.GradientTape`` be the
    oracle of a 3-D operation's vector-Jacobian product. ``extent`` is the input extent of the
    convolution or pool (for a transposed convolution: its output extent).
    """
    if padding != "same":
        return True
    return all(-(-n // s) * s - s + (k - 1) * d + 1 - n >= -1 for n, k, s, d in zip(extent, size, strides, dilation))
