"""``refdeconv.conformance.pytorch``: the one-call audit of a PyTorch implementation (issue 25, item 3).

Covers: the export leaves the module as it was (training flags, parameters, batch-norm statistics)
and its graph computes the module's output at any batch size; Captum's and zennit's DeconvNet and
Guided Backprop pass the audit of their rule on a net written with ``nn.ReLU`` (one-hot targets,
labels and a general weighting, which Captum gets as the score's module); a planted wrong
candidate fails, naming the rule it matches; the module is unchanged after the audit; repeated
calls give equal maps (fresh tensors); zennit's torchvision stand-in leaves no trace.
"""

import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch is an optional extra (pip install torch onnx)")
pytest.importorskip("onnx", reason="the export needs onnx")

from refdeconv.conformance import pytorch  # noqa: E402
from refdeconv.conformance.pytorch.auditing import candidate_maps, one_hot_targets  # noqa: E402
from tests.pytorch import nets  # noqa: E402

pytestmark = pytest.mark.torch


def _state(module):
    return {k: v.clone() for k, v in module.state_dict().items()}, [m.training for m in module.modules()]


def _assert_unchanged(module, before):
    params, flags = _state(module)
    assert flags == before[1], "training flags changed"
    for k, v in before[0].items():
        assert torch.equal(params[k], v), f"{k} changed"


@pytest.mark.parametrize("dynamo", [False, True])
def test_export_leaves_the_module_and_computes_its_output_at_any_batch(dynamo):
    ort = pytest.importorskip("onnxruntime", reason="the graph is run with onnxruntime")
    module = nets.small_net()
    module.train()
    module[3].eval()  # mixed flags are restored one by one
    before = _state(module)
    proto = pytorch.export(module, nets.inputs(2), dynamo=dynamo)
    _assert_unchanged(module, before)
    session = ort.InferenceSession(proto.SerializeToString())
    x = nets.inputs(5)
    with pytorch.exporting.evaluating(module), torch.no_grad():
        expected = module(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(session.run(None, {"input": x})[0], expected, rtol=1e-5, atol=1e-6)
    _assert_unchanged(module, before)


@pytest.mark.parametrize("peer, rule", [("captum.deconvolution", "deconvnet"), ("captum.guided_backprop", "guided"),
                                        ("zennit.deconvnet", "deconvnet"), ("zennit.guided_backprop", "guided")])
@pytest.mark.parametrize("targets", ["top class", "labels", "weighting"])
def test_peers_pass_their_rule_on_a_net_of_nn_relu(peer, rule, targets):
    nets.skip_without(peer.split(".")[0])
    module = nets.small_net()
    y = {"top class": None, "labels": np.array([0, 2, 1]),
         "weighting": np.random.default_rng(1).standard_normal((3, 3))}[targets]
    report = pytorch.audit(module, nets.inputs(), y, peer, rule)
    assert report.failed == 0, report.cases
    assert report.model["relu_rules"] == {"Relu": rule}, report.model["relu_rules"]


def test_a_planted_wrong_candidate_fails_and_the_module_is_unchanged():
    module = nets.small_net()
    module.train()
    before = _state(module)
    report = pytorch.audit(module, nets.inputs(), None, nets.plain_gradient, "deconvnet")
    assert report.failed == 1 and report.cases[0]["matches"] == "gradient", report.cases
    _assert_unchanged(module, before)
    report = pytorch.audit(module, nets.inputs(), None, "tests.pytorch.nets:plain_gradient", "gradient")
    assert report.failed == 0, report.cases
    _assert_unchanged(module, before)


def test_candidate_errors_and_bad_arguments_name_what_is_wrong():
    module = nets.small_net()
    with pytest.raises(pytorch.CandidateError, match="planted failure"):
        pytorch.audit(module, nets.inputs(), None, nets.raising)
    with pytest.raises(ValueError, match="^candidate"):
        pytorch.audit(module, nets.inputs(), None, "captum.saliency")
    with pytest.raises(ValueError, match="^targets"):
        pytorch.audit(module, nets.inputs(), np.array([0, 3, 1]), "zennit.deconvnet")
    with pytest.raises(ValueError, match="^inputs"):
        pytorch.audit(module, nets.inputs()[:0], None, "zennit.deconvnet")
    with pytest.raises(TypeError, match="^module"):
        pytorch.export("not a module", nets.inputs())


def test_repeated_calls_give_equal_maps():
    nets.skip_without("captum")
    module = torch.nn.Sequential(torch.nn.ReLU(), *nets.small_net())  # a first-layer ReLU: DESIGN.md section 4
    xs = [nets.inputs()]
    y = one_hot_targets(module, xs, None)
    first = candidate_maps(module, xs, y, pytorch.candidates.captum_guided_backprop)[0]
    again = candidate_maps(module, xs, y, pytorch.candidates.captum_guided_backprop)[0]
    np.testing.assert_array_equal(first, again)


def test_zennit_imports_with_a_stand_in_that_leaves_no_trace():
    nets.skip_without("zennit")
    code = ("import sys\nfrom refdeconv.conformance.pytorch.candidates import zennit_composites\n"
            "try:\n    import torchvision\n    real = True\nexcept (ImportError, RuntimeError):\n    real = False\n"
            "sys.modules.pop('torchvision', None)\n"
            "zennit_composites()\n"
            "assert real or not any(n.split('.')[0] == 'torchvision' for n in sys.modules), sorted(sys.modules)\n"
            "print('real' if real else 'stand-in')\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() in ("real", "stand-in")
