"""Small ONNX graphs written with ``onnx.helper``, and the independent checks of the ONNX reader
against onnx's own ``ReferenceEvaluator`` (``tests/reference/test_onnx_ops.py``,
``test_onnx_reader.py``).

- :func:`graph`: a model of one or several nodes with float64 weights and a free batch axis;
- :func:`evaluate`: the graph's output by onnx's ``ReferenceEvaluator`` (float64: an
  implementation of ONNX independent of the reader);
- :func:`assert_reads`: the oracle's forward pass against :func:`evaluate`, then its
  ``rule="gradient"`` map against central finite differences of :func:`evaluate`'s score.
"""

from __future__ import annotations

import numpy as np
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator
from scipy.differentiate import jacobian

from refdeconv import reference
from refdeconv.testing import assert_maps_close, tolerance

FD_TOL = tolerance("finite-difference")


def graph(nodes: list, input_shape: tuple, weights: dict | None = None, opset: int = 17,
          inputs: dict | None = None, outputs: tuple = ("y",), batch=None, shapes_known: bool = True):
    """A model reading ``x`` of ``(batch, *input_shape)`` (``batch=None``: free) through ``nodes``.

    ``weights`` are float64 initializers (or integer arrays, kept), ``inputs`` more graph inputs
    (name -> shape without batch). The outputs' shapes are read off onnx's evaluator, or declared
    of unknown extents where ``shapes_known`` is false (a graph the evaluator cannot run).
    """
    declared = {"x": input_shape, **(inputs or {})}
    graph_inputs = [helper.make_tensor_value_info(n, TensorProto.DOUBLE, [batch if batch else "N", *s])
                    for n, s in declared.items()]
    inits = [numpy_helper.from_array(np.asarray(v, np.float64 if np.asarray(v).dtype.kind == "f" else None), name=k)
             for k, v in (weights or {}).items()]
    untyped = [helper.make_tensor_value_info(o, TensorProto.DOUBLE, None) for o in outputs]
    opsets = [helper.make_opsetid("", opset)]
    model = helper.make_model(helper.make_graph(nodes, "g", graph_inputs, untyped, inits), opset_imports=opsets)
    # onnx's checker wants the outputs' shapes: read them off one evaluation on zeros of batch 2
    feeds = {n: np.zeros((batch or 2, *s)) for n, s in declared.items()}
    if shapes_known:
        shapes = [np.shape(o) for o in ReferenceEvaluator(model).run(None, feeds)]
    else:
        shapes = [(None,) * (len(input_shape) + 1) for _ in outputs]
    outs = [helper.make_tensor_value_info(o, TensorProto.DOUBLE, [batch or "N", *shape[1:]])
            for o, shape in zip(outputs, shapes)]
    return helper.make_model(helper.make_graph(nodes, "g", graph_inputs, outs, inits), opset_imports=opsets)


def evaluate(model, xs) -> np.ndarray:
    """The first output of ``model`` on ``xs`` (one array, or a dict by input name), by onnx's evaluator."""
    feeds = xs if isinstance(xs, dict) else {model.graph.input[0].name: xs}
    return ReferenceEvaluator(model).run(None, feeds)[0]


def fd_vjp(model, x: np.ndarray, u: np.ndarray, function=None):
    """``(u @ J, bound)`` for one sample ``x`` (``(1, ...)``): ``J`` the Jacobian of :func:`evaluate` by
    central differences (of ``function(model, batch)``, default :func:`evaluate`), ``bound =
    FD_TOL * max |J| * ||u||_1`` the error that allows (as ``tests/reference/layer_checks.py``
    bounds it)."""
    function = function or evaluate

    def f(t):  # (D, *k) -> (outputs, *k): the perturbed samples evaluated as one batch
        batch = np.moveaxis(t.reshape(t.shape[0], -1), 0, -1).reshape(-1, *x.shape[1:])
        out = function(model, batch).reshape(len(batch), -1)
        return np.moveaxis(out, 0, -1).reshape(out.shape[1], *t.shape[1:])

    # A first step of 1e-4: the order-8 stencil stays within 4e-4 of x, away from the kinks (ReLU
    # boundaries, max-pool switches) that N(0, 1) inputs at the callers' fixed seeds keep clear of.
    jac = jacobian(f, x.ravel(), initial_step=1e-4, tolerances={"atol": 1e-12}).df
    return (u.ravel() @ jac).reshape(x.shape), FD_TOL * max(np.abs(jac).max(), 1e-300) * np.abs(u).sum()


def assert_reads(model, x: np.ndarray, name: str, seed: int = 0, evaluator_key: str = "float64") -> None:
    """The oracle's forward pass equals onnx's evaluator's; its gradient map equals finite differences.

    ``evaluator_key``: the dtype the evaluator computes the op in. onnx 1.23's ``Erf``, ``Gelu``
    and ``HardSwish`` compute in float32 whatever the input (and onnxruntime has no float64 kernel
    for them): their forward pass is held to the float32 row, and their map to finite differences
    of the oracle's own forward pass (the vector-Jacobian product against the function it
    differentiates). The PyTorch tier checks ``Gelu`` in float64 against PyTorch itself.
    """
    want = evaluate(model, x)
    got = reference.forward(model, x)
    assert got.shape == want.shape, f"{name}: oracle output shape {got.shape} != onnx's {want.shape}"
    assert_maps_close(got, want, evaluator_key, f"{name}: forward pass against onnx's ReferenceEvaluator")
    function = evaluate if evaluator_key == "float64" else reference.forward
    u = np.random.default_rng(seed).standard_normal(want.shape)
    maps = reference.attribution(model, x, u, "gradient")
    for i in range(len(x)):
        fd, bound = fd_vjp(model, x[i : i + 1], u[i : i + 1], function)
        err = np.abs(maps[i] - fd[0]).max()
        assert err <= bound, f"{name}: gradient map of sample {i} differs from finite differences by {err:.3g} > {bound:.3g}"
