"""``refdeconv audit-torch``: its exit codes (issue 25, item 3).

0 a peer passes its rule; 1 a planted wrong candidate, or one that raises; 2 a bad ``--module``,
a missing or malformed ``--inputs`` file, targets of the wrong shape, an unknown ``--candidate``
(one line, no traceback); 3 an op the reference does not model, named. Run in-process
(:func:`refdeconv.cli.app.main`): each subprocess would import TensorFlow and PyTorch again.
"""

import json

import numpy as np
import pytest

pytest.importorskip("torch", reason="PyTorch is an optional extra (pip install torch onnx)")
pytest.importorskip("onnx", reason="the export needs onnx")

from refdeconv.cli.app import main  # noqa: E402
from tests.pytorch import nets  # noqa: E402

pytestmark = pytest.mark.torch
NET = "tests.pytorch.nets:small_net"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("audit-torch")
    np.save(folder / "x.npy", nets.inputs())
    np.save(folder / "t.npy", np.array([0, 1, 2]))
    np.save(folder / "bad_t.npy", np.zeros((3, 7), np.float32))
    np.save(folder / "x4.npy", np.zeros((3, 4), np.float32))
    (folder / "junk.npy").write_text("not an array")
    return folder


def _run(capsys, files, *args):
    code = main(["audit-torch", "--out", str(files / "out"), *args])
    return code, capsys.readouterr()


def test_pass_and_fail(capsys, files):
    nets.skip_without("zennit")
    code, out = _run(capsys, files, "--module", NET, "--inputs", str(files / "x.npy"), "--targets",
                     str(files / "t.npy"), "--candidate", "zennit.guided_backprop", "--rule", "guided")
    assert code == 0, out
    assert json.loads((files / "out" / "report.json").read_text())["passed"] == 1
    code, out = _run(capsys, files, "--module", NET, "--inputs", str(files / "x.npy"),
                     "--candidate", "tests.pytorch.nets:plain_gradient")
    assert code == 1 and "gradient" in out.out, out
    code, out = _run(capsys, files, "--module", NET, "--inputs", str(files / "x.npy"),
                     "--candidate", "tests.pytorch.nets:raising")
    assert code == 1 and "planted failure" in out.err, out


@pytest.mark.parametrize("args, option", [
    (("--module", "tests.pytorch.nets:nothing", "--inputs", "{x}"), "--module"),
    (("--module", "tests.pytorch.nets:inputs", "--inputs", "{x}"), "--module"),
    (("--module", NET, "--inputs", "{missing}"), "--inputs"),
    (("--module", NET, "--inputs", "{junk}"), "--inputs"),
    (("--module", NET, "--inputs", "{x}", "--targets", "{bad_t}"), "--targets"),
    (("--module", NET, "--inputs", "{x}", "--candidate", "captum.saliency"), "--candidate")])
def test_usage_errors_exit_2_with_one_line(capsys, files, args, option):
    paths = {k: str(files / f"{k}.npy") for k in ("x", "missing", "junk", "bad_t")}
    args = [a.format(**paths) for a in args]
    if "--candidate" not in args:
        args += ["--candidate", "tests.pytorch.nets:plain_gradient"]
    code, out = _run(capsys, files, *args)
    assert code == 2, out
    assert out.err.count("\n") == 1 and option in out.err, out.err


def test_an_unmodelled_op_exits_3_naming_it(capsys, files):
    code, out = _run(capsys, files, "--module", "tests.pytorch.nets:CumSum", "--inputs", str(files / "x4.npy"),
                     "--candidate", "tests.pytorch.nets:plain_gradient")
    assert code == 3, out
    assert "CumSum" in out.err, out.err
