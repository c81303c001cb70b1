"""The ONNX oracle against PyTorch itself, on drawn PyTorch networks exported with both exporters.

Covers issue 25's first "What must hold" (and DESIGN.md §1/§3 for ONNX models): for networks
of every layer family and every ReLU writing of :mod:`tests.torch_nets`, exported with
``torch.onnx.export(..., dynamo=False)`` (a dynamic batch axis) and with ``dynamo=True``
(a dynamic batch too),

- the oracle's forward pass (:func:`refdeconv.reference.forward`) equals onnxruntime's and
  PyTorch's own output (checked first in every test);
- the oracle's maps equal PyTorch's own maps with every ReLU-family site written as the
  rule's autograd function (:mod:`tests.torch_rules`), for all three rules;
- on integer-valued networks (``ties=True``) max-pool windows tie exactly and capped ReLUs
  meet ``z == 0`` and ``z == m``: the oracle's tie rule and boundaries equal PyTorch's.

onnxruntime's CPU kernels of ``Conv`` and the pools are float32 only (and its Relu/Clip
fusion rejects float64 bounds): a float64 model is checked through its float32 twin, at
float32's tolerance. Every comparison goes through :func:`refdeconv.testing.assert_maps_close`.

Export is slow (``dynamo=True``: 1.5-3 s a network on 2 cores), so the ``dynamo=True``
property draws a fifth of the profile's examples; the rest draw the profile's number.
Every test here needs PyTorch (marker ``torch``) and skips without it.
"""

import io

import numpy as np
import pytest
from hypothesis import assume, given, settings

torch = pytest.importorskip("torch", reason="PyTorch is an optional extra (pip install refdeconv[torch])")
onnx = pytest.importorskip("onnx", reason="onnx is needed to export PyTorch networks")
ort = pytest.importorskip("onnxruntime", reason="onnxruntime checks the oracle's forward pass")
pytest.importorskip("onnxscript", reason="torch.onnx.export(dynamo=True) needs onnxscript")

from refdeconv import reference  # noqa: E402
from refdeconv.reference.onnx.windowed import Reduce  # noqa: E402
from refdeconv.testing import assert_maps_close  # noqa: E402
from tests.reference.test_onnx_fixtures import onnxruntime_forward  # noqa: E402
from tests.torch_nets import TorchSpec, build, cases  # noqa: E402
from tests.torch_rules import RULES, rule_map  # noqa: E402

pytestmark = pytest.mark.torch
DYNAMO_EXAMPLES = max(1, settings.default.max_examples // 5)


def export(spec, x: np.ndarray, dynamo: bool) -> onnx.ModelProto:
    """The network of ``spec`` as ONNX, with a dynamic batch axis."""
    net, example = build(spec), torch.tensor(x)
    if dynamo:  # an example batch of 2: torch.export specialises a batch of 1
        example = torch.cat([example, example])[:2]
        batch = torch.export.Dim("batch", min=1, max=64)
        return torch.onnx.export(net, (example,), dynamo=True, dynamic_shapes=({0: batch},), verbose=False).model_proto
    buffer = io.BytesIO()
    torch.onnx.export(net, (example,), buffer, dynamo=False, input_names=["x"], output_names=["y"],
                      dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})
    return onnx.load_from_string(buffer.getvalue())


def check_forward(spec, x: np.ndarray, model: onnx.ModelProto, what: str) -> None:
    """The oracle's forward pass against PyTorch's (in the net's dtype) and onnxruntime's (float32)."""
    with torch.no_grad():
        own = build(spec)(torch.tensor(x)).numpy()
    got = reference.forward(model, x)
    assert_maps_close(got, own, spec.dtype, f"oracle forward vs PyTorch's output, {what}, {spec}")
    assert_maps_close(got, onnxruntime_forward(model, x), "float32", f"oracle forward vs onnxruntime, {what}, {spec}")


def check_maps(spec, x: np.ndarray, targets: np.ndarray, model: onnx.ModelProto, what: str) -> None:
    """The oracle's maps against PyTorch's rule-autograd maps, for every rule."""
    for rule in RULES:
        _, own = rule_map(spec, x, targets, rule)
        got = reference.attribution(model, x, targets, rule=rule)
        assert_maps_close(own, got, spec.dtype, f"PyTorch {rule} vs oracle {rule}, {what}, {spec}")


@given(case=cases(ties=False))
def test_torchscript_export_forward_and_maps(case):
    spec, x, targets = case
    model = export(spec, x, dynamo=False)
    check_forward(spec, x, model, "TorchScript export")
    check_maps(spec, x, targets, model, "TorchScript export")


@given(case=cases(ties=True))
def test_torchscript_export_ties_and_boundaries(case):
    spec, x, targets = case
    model = export(spec, x, dynamo=False)
    check_forward(spec, x, model, "TorchScript export, integer-valued")
    check_maps(spec, x, targets, model, "TorchScript export, integer-valued")


def reduce_max_ties(model: onnx.ModelProto, x: np.ndarray) -> bool:
    """Whether a ``ReduceMax`` of ``model`` has an exactly tied maximum on ``x``.

    ``dynamo=True`` writes ``AdaptiveMaxPool(1)`` as ``ReduceMax``, whose ties PyTorch sends to the
    first maximum, and ``torch.amax`` as the same op, whose ties PyTorch splits: the graph does not
    say which, the oracle splits (docs/verification.md), and the audit reports such ties
    (``tests/reference/test_onnx_reader.py``). Examples with one are left out here.
    """
    program, values = reference.compile(model).run([np.asarray(x, np.float64)])
    for op, ins, _ in program.steps:
        if isinstance(op, Reduce) and op.kind == "max":
            v = values[ins[0]]
            if ((v == v.max(axis=op.axes, keepdims=True)).sum(axis=op.axes) > 1).any():
                return True
    return False


@settings(max_examples=DYNAMO_EXAMPLES)
@given(case=cases())
def test_dynamo_export_forward_and_maps(case):
    spec, x, targets = case
    model = export(spec, x, dynamo=True)
    assume(not reduce_max_ties(model, x))
    check_forward(spec, x, model, "dynamo=True export")
    check_maps(spec, x, targets, model, "dynamo=True export")


@pytest.mark.parametrize("dynamo", [False, True], ids=["torchscript", "dynamo"])
def test_max_pool_ties_go_to_the_first_maximum(dynamo):
    """All-equal inputs through an overlapping 2x2/stride-1 max-pool: PyTorch sends each
    window's signal to its top-left cell (measured, see :mod:`tests.torch_rules`), and so
    must the oracle; the deconvnet map counts the windows each cell heads."""
    spec = TorchSpec("image", (1, 3, 3), [{"type": "maxpool", "kernel": 2, "stride": 1, "padding": 0,
                                           "dilation": 1, "ceil_mode": False},
                                          {"type": "flatten"}, {"type": "linear", "in": 4, "out": 1}], ties=True)
    x, targets = np.ones((1, 1, 3, 3)), np.ones((1, 1))
    model = export(spec, x, dynamo)
    _, own = rule_map(spec, x, targets, "gradient")
    weights = build(spec)[2].weight.detach().numpy().reshape(2, 2)
    expected = np.zeros((3, 3))
    expected[:2, :2] = weights
    assert np.array_equal(own[0, 0], expected), f"PyTorch's max-pool tie rule changed: {own[0, 0]} != {expected}"
    check_maps(spec, x, targets, model, "all-equal windows")
