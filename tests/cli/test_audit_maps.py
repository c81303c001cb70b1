"""``refdeconv audit --model FILE --maps MAPS`` (issue 25, item 2): maps computed anywhere, audited
against the oracle. A right map passes (exit 0), a planted wrong one fails (exit 1), the report
names the rule measured at each kind of ReLU and the seed the maps fit, an unmodelled node exits 3
naming it, and bad files and shapes exit 2 with one line. Run in-process (``refdeconv.cli.main``).
"""

from __future__ import annotations

import json
import re

import keras
import numpy as np
import onnx
import pytest
from onnx import helper

from refdeconv import reference
from refdeconv.cli import main
from tests.reference.onnx_graphs import graph

N = helper.make_node
rng = np.random.default_rng(3)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """An ONNX model with a Relu and a Clip (ReLU6), its inputs, targets and the oracle's maps."""
    d = tmp_path_factory.mktemp("maps")
    nodes = [N("MatMul", ["x", "a"], ["h"]), N("Relu", ["h"], ["r"]), N("MatMul", ["r", "b"], ["g"]),
             N("Clip", ["g", "zero", "six"], ["c"]), N("MatMul", ["c", "d"], ["y"])]
    model = graph(nodes, (4,), {"a": rng.standard_normal((4, 6)), "b": rng.standard_normal((6, 5)),
                                "d": rng.standard_normal((5, 3)), "zero": np.array(0.0), "six": np.array(6.0)})
    onnx.save(model, d / "m.onnx")
    x, t = rng.standard_normal((3, 4)), np.array([0, 2, 1])
    np.save(d / "x.npy", x)
    np.save(d / "t.npy", t)
    oracle = reference.compile(model)
    right = oracle.attribution(x, t, "deconvnet")
    np.save(d / "right.npy", right.astype(np.float32))
    np.save(d / "clip_gradient.npy", oracle.attribution(x, t, {"Relu": "deconvnet", "Clip": "gradient"}))
    y = np.eye(3)[t] * oracle.forward(x)  # iNNvestigate's seed: the output value at the target
    np.save(d / "output_seed.npy", oracle.attribution(x, y, "deconvnet"))
    wrong = right.copy()
    wrong[1, 2] += 0.05 * np.abs(right[1]).max()
    np.save(d / "wrong.npy", wrong)
    np.save(d / "short.npy", right[:2])
    return d


def audit(files, tmp_path, *args):
    code = main(["audit", "--model", str(files / "m.onnx"), "--inputs", str(files / "x.npy"),
                 "--targets", str(files / "t.npy"), "--out", str(tmp_path), *args])
    report = json.loads((tmp_path / "report.json").read_text()) if (tmp_path / "report.json").exists() else None
    return code, report


def test_right_maps_pass_and_the_report_measures_each_kind(files, tmp_path):
    code, report = audit(files, tmp_path, "--maps", str(files / "right.npy"))
    assert code == 0, report
    assert report["model"]["relu_rules"] == {"Clip": "deconvnet", "Relu": "deconvnet"}
    assert report["model"]["seed"] == "target"
    assert report["model"]["forward_check"].startswith(("onnxruntime", "onnx"))
    assert report["cases"][0]["dtype"] == "float32"


def test_a_planted_wrong_map_fails(files, tmp_path):
    code, report = audit(files, tmp_path, "--maps", str(files / "wrong.npy"))
    assert code == 1
    assert report["cases"][0]["matches"] == "none"


def test_the_rule_at_each_kind_and_the_seed_are_measured(files, tmp_path):
    code, report = audit(files, tmp_path, "--maps", str(files / "clip_gradient.npy"))
    assert code == 1
    assert report["model"]["relu_rules"] == {"Clip": "gradient", "Relu": "deconvnet"}
    code, report = audit(files, tmp_path, "--maps", str(files / "output_seed.npy"))
    assert code == 1
    assert report["model"]["seed"] == "target times output value"


def test_maps_of_another_rule_fail_the_asked_rule(files, tmp_path):
    code, report = audit(files, tmp_path, "--maps", str(files / "right.npy"), "--rule", "gradient")
    assert code == 1 and report["cases"][0]["matches"] == "deconvnet"


def test_an_unmodelled_node_exits_3_naming_it(files, tmp_path, capsys):
    onnx.save(graph([N("Abs", ["x"], ["y"], name="abs_1")], (4,)), tmp_path / "u.onnx")
    code = main(["audit", "--model", str(tmp_path / "u.onnx"), "--inputs", str(files / "x.npy"),
                 "--maps", str(files / "right.npy"), "--out", str(tmp_path)])
    assert code == 3
    assert "node 'abs_1' (Abs)" in capsys.readouterr().err


@pytest.mark.parametrize("args, message", [
    (["--maps", "t.npy"], "--maps: expected real floating-point maps"),
    (["--maps", "short.npy"], r"--maps: expected the shape of input 'x', \(3, 4\), got \(2, 4\)"),
    (["--maps", "nowhere.npy"], "--maps: no such file"),
    ([], "--maps: an ONNX model is audited on maps computed elsewhere"),
    (["--maps", "right.npy", "--inputs", "t.npy"], "--inputs: expected shape"),
])
def test_bad_files_and_shapes_exit_2_with_one_line(files, tmp_path, capsys, args, message):
    args = [str(files / a) if a.endswith(".npy") else a for a in args]
    inputs = [] if "--inputs" in args else ["--inputs", str(files / "x.npy")]
    code = main(["audit", "--model", str(files / "m.onnx"), *inputs, "--out", str(tmp_path), *args])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    assert re.search(message, err), err


def test_several_inputs_as_npz_keyed_by_name(tmp_path):
    model = graph([N("Add", ["x", "z"], ["s"]), N("Relu", ["s"], ["y"])], (3,), inputs={"z": (3,)})
    onnx.save(model, tmp_path / "two.onnx")
    x, z, t = rng.standard_normal((2, 3)), rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    maps = reference.attribution(model, {"x": x, "z": z}, t, "guided")
    np.savez(tmp_path / "in.npz", z=z, x=x)
    np.savez(tmp_path / "maps.npz", **maps)
    np.save(tmp_path / "t.npy", t)
    code = main(["audit", "--model", str(tmp_path / "two.onnx"), "--inputs", str(tmp_path / "in.npz"),
                 "--targets", str(tmp_path / "t.npy"), "--maps", str(tmp_path / "maps.npz"), "--rule", "guided",
                 "--out", str(tmp_path)])
    assert code == 0


def test_maps_work_for_keras_models_too(tmp_path):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(4, activation="relu"), keras.layers.Dense(3)])
    model.save(tmp_path / "k.keras")
    x = rng.standard_normal((2, 5)).astype("float32")
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "maps.npy", reference.attribution(model, x, np.array([0, 2]), "deconvnet").astype("float32"))
    np.save(tmp_path / "t.npy", np.array([0, 2]))
    code = main(["audit", "--model", str(tmp_path / "k.keras"), "--inputs", str(tmp_path / "x.npy"),
                 "--targets", str(tmp_path / "t.npy"), "--maps", str(tmp_path / "maps.npy"), "--out", str(tmp_path)])
    assert code == 0


def test_the_report_names_the_nonlinearities_that_keep_their_derivative():
    from refdeconv.conformance import report as reports
    from refdeconv.conformance.map_audit import audit_maps

    swish = graph([N("MatMul", ["x", "a"], ["h"]), N("Sigmoid", ["h"], ["s"]), N("Mul", ["h", "s"], ["m"]),
                   N("Relu", ["m"], ["y"])], (3,), {"a": rng.standard_normal((3, 3))})
    x, t = rng.standard_normal((2, 3)), np.eye(3)[[0, 1]]
    report = audit_maps(swish, x, t, reference.attribution(swish, x, t, "deconvnet"))
    kept = [n["type"] for n in report.model["layers"] if n.get("keeps_derivative")]
    assert kept == ["Sigmoid", "Mul"], report.model["layers"]
    assert "keep their own derivative under every rule: Sigmoid, Mul" in reports.table(report)
