"""``refdeconv audit --model`` and ``refdeconv.testing.assert_model_conforms``: auditing the user's own model.

Covers: refdeconv passes on a saved conv/ReLU/max-pool model (exit 0, the report
files, the model section of ``report.json``); a plain-gradient candidate audited
for DeconvNet fails with exit 1 and the report names the rule it matches; a layer
the reference does not model exits 3 naming the layer (CLI) and raises
``UnsupportedModel`` (Python), never a pass (a ``Lambda`` needs ``--unsafe`` to load, then
exits 3 too); ``--inputs``/``--targets`` of the wrong
shape, an ``--inputs`` count unlike the model's inputs and model-only options
without ``--model`` exit 2 with one line naming the option; given inputs and label
targets; a model with two inputs (``--inputs`` twice); ``assert_model_conforms``
passes and fails; one end-to-end console-script run.
"""

import json
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from refdeconv import Gradient, cli
from refdeconv.conformance.model_audit import UnsupportedModel, run_model
from refdeconv.testing import assert_model_conforms

from .test_audit import gradient_candidate

ROOT = Path(__file__).resolve().parents[2]
L = keras.layers


def plain_gradient(model, inputs, targets):
    """Wrong for DeconvNet: the plain gradient, a list of maps for a list of inputs."""
    return Gradient(model).explain(inputs, targets)


def _cnn():
    keras.utils.set_random_seed(1)
    return keras.Sequential([keras.Input((8, 8, 2)), L.Conv2D(4, 3, activation="relu", name="conv"),
                             L.MaxPooling2D(2, name="pool"), L.Flatten(), L.Dense(3, name="logits")], name="cnn")


def _two_inputs():
    keras.utils.set_random_seed(2)
    a, b = keras.Input((5,), name="a"), keras.Input((4,), name="b")
    h = L.Concatenate()([L.Dense(6, activation="relu")(a), L.Dense(6, activation="relu")(b)])
    return keras.Model([a, b], L.Dense(3)(L.ReLU()(L.Dense(4)(h))), name="two")


def _bilinear():
    keras.utils.set_random_seed(3)
    return keras.Sequential([keras.Input((4, 4, 1)), L.Conv2D(2, 3, padding="same", activation="relu"),
                             L.UpSampling2D(2, interpolation="bilinear", name="up"), L.Flatten(), L.Dense(2)])


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    paths = {}
    for name, build in (("cnn", _cnn), ("two", _two_inputs), ("bilinear", _bilinear)):
        paths[name] = folder / f"{name}.keras"
        build().save(paths[name])
    return paths


def _audit(capsys, *args):
    code = cli.main(["audit", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def test_refdeconv_passes_on_a_saved_cnn(saved, tmp_path, capsys):
    code, out, _ = _audit(capsys, "--model", saved["cnn"], "--out", tmp_path)
    assert code == 0, out
    assert {p.name for p in tmp_path.iterdir()} >= {"report.json", "report.md"}
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["failed"] == 0 and report["passed"] == 1 and report["cases"][0]["matches"] == "deconvnet"
    assert set(report["cases"][0]["errors"]) == {"deconvnet", "gradient", "guided"}
    model = report["model"]
    assert [layer["type"] for layer in model["layers"]] == ["Conv2D", "MaxPooling2D", "Flatten", "Dense"]
    assert "N(0, 1)" in model["inputs"] and "top class" in model["targets"]
    assert "PASS" in out and "the reference models all 4 layers" in out


@pytest.mark.parametrize("rule", ["gradient", "guided"])
def test_every_rule_of_refdeconv_passes_in_python(rule):
    report = run_model(_cnn(), rule=rule)
    assert report.failed == 0 and report.cases[0]["matches"] == rule


def test_a_gradient_candidate_fails_for_deconvnet_and_the_report_says_gradient(saved, tmp_path, capsys):
    code, out, _ = _audit(capsys, "--model", saved["cnn"], "--candidate",
                          "tests.conformance.test_audit:gradient_candidate", "--out", tmp_path)
    assert code == 1
    assert "matches gradient" in out and "FAIL" in out
    entry = json.loads((tmp_path / "report.json").read_text())["cases"][0]
    assert (entry["matches"], entry["passed"]) == ("gradient", False)
    assert entry["errors"]["deconvnet"] > entry["tolerance"] >= entry["errors"]["gradient"]


def test_an_unmodelled_layer_exits_3_naming_it(saved, tmp_path, capsys):
    code, out, err = _audit(capsys, "--model", saved["bilinear"], "--out", tmp_path / "r")
    assert code == 3
    assert "'up' (UpSampling2D)" in err and "cannot vouch" in err
    assert "PASS" not in out and not (tmp_path / "r").exists()


def test_a_lambda_needs_unsafe_and_then_exits_3(tmp_path, capsys):
    model = keras.Sequential([keras.Input((6,)), L.Dense(4, activation="relu"),
                              L.Lambda(lambda t: 2.0 * t, name="twice"), L.Dense(2)])
    model.save(tmp_path / "lambda.keras")
    code, _, err = _audit(capsys, "--model", tmp_path / "lambda.keras", "--out", tmp_path / "r")
    assert code == 2 and "--unsafe" in err
    code, _, err = _audit(capsys, "--model", tmp_path / "lambda.keras", "--unsafe", "--out", tmp_path / "r")
    assert code == 3 and "'twice' (Lambda)" in err


def test_an_unmodelled_layer_raises_in_python():
    a, b = keras.Input((4, 3), name="q"), keras.Input((4, 3), name="v")
    model = keras.Model([a, b], L.Dense(2)(L.Flatten()(L.Attention(name="att")([a, b]))))
    with pytest.raises(UnsupportedModel, match="cannot vouch") as info:
        run_model(model)
    assert (info.value.layer, info.value.layer_type) == ("att", "Attention")
    assert isinstance(info.value, NotImplementedError)
    with pytest.raises(UnsupportedModel, match="'up' of type UpSampling2D"):
        assert_model_conforms(_bilinear())


def test_given_inputs_and_label_targets(saved, tmp_path, capsys):
    x = np.random.default_rng(5).standard_normal((3, 8, 8, 2))
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "labels.npy", np.array([0, 2, 1]))
    np.save(tmp_path / "onehot.npy", np.eye(3)[[0, 2, 1]])
    for targets in ("labels.npy", "onehot.npy"):
        code, out, _ = _audit(capsys, "--model", saved["cnn"], "--inputs", tmp_path / "x.npy",
                              "--targets", tmp_path / targets, "--out", tmp_path / f"out-{targets}")
        assert code == 0, out
        report = json.loads((tmp_path / f"out-{targets}" / "report.json").read_text())
        assert report["cases"][0]["input_shape"] == [3, 8, 8, 2] and report["model"]["inputs"] == "given"


@pytest.mark.parametrize("option, array, expected", [
    ("--inputs", np.zeros((2, 7, 8, 2)), "--inputs: expected shape"),
    ("--targets", np.zeros((2, 4)), "--targets: expected shape"),
    ("--targets", np.array([0, 3]), "--targets: labels must lie in [0, 3)"),
])
def test_wrong_shapes_exit_2_naming_the_option(saved, tmp_path, capsys, option, array, expected):
    np.save(tmp_path / "a.npy", array)
    code, out, err = _audit(capsys, "--model", saved["cnn"], option, tmp_path / "a.npy", "--out", tmp_path / "r")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("refdeconv audit: error: ") and expected in err


def test_usage_errors_exit_2(saved, tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.zeros((2, 5)))
    for args, expected in [
        (["--model", saved["two"], "--inputs", tmp_path / "x.npy"], "--inputs: the model takes 2 input(s)"),
        (["--inputs", tmp_path / "x.npy"], "--inputs: only with --model"),
        (["--model", saved["cnn"], "--case", "dense_*"], "--case:"),
        (["--model", tmp_path / "missing.keras"], "--model: no such file"),
        (["--model", saved["cnn"], "--output-layer", "nope"], "--output-layer: no layer named 'nope'"),
    ]:
        code, _, err = _audit(capsys, *args, "--out", tmp_path / "r")
        assert code == 2 and expected in err, err


def test_a_model_with_two_inputs(saved, tmp_path, capsys):
    rng = np.random.default_rng(6)
    np.save(tmp_path / "a.npy", rng.standard_normal((2, 5)))
    np.save(tmp_path / "b.npy", rng.standard_normal((2, 4)))
    code, out, _ = _audit(capsys, "--model", saved["two"], "--inputs", tmp_path / "a.npy", "--inputs",
                          tmp_path / "b.npy", "--rule", "guided", "--out", tmp_path)
    assert code == 0, out
    cases = json.loads((tmp_path / "report.json").read_text())["cases"]
    assert [(c["name"], c["input_shape"], c["matches"]) for c in cases] == [
        ("two[a]", [2, 5], "guided"), ("two[b]", [2, 4], "guided")]
    code, out, _ = _audit(capsys, "--model", saved["two"], "--candidate",
                          "tests.conformance.test_model_audit:plain_gradient", "--out", tmp_path)
    assert code == 1 and "matches gradient" in out


def test_output_layer_cuts_for_the_candidate_too():
    report = run_model(_cnn(), fn=gradient_candidate, rule="gradient", output_layer="pool")
    assert report.failed == 0
    assert [layer["name"] for layer in report.model["layers"]] == ["conv", "pool"]


def test_assert_model_conforms():
    model = _cnn()
    assert_model_conforms(model)
    assert_model_conforms(model, gradient_candidate, rule="gradient", inputs=np.ones((1, 8, 8, 2)), targets=[1])
    with pytest.raises(AssertionError, match=r"(?s)on model 'cnn'.*it matches gradient") as info:
        assert_model_conforms(model, gradient_candidate)
    assert "scaled error" in str(info.value) and "deconvnet reference" in str(info.value)


def test_command_line_end_to_end(saved, tmp_path, capsys):
    """Through ``cli.main``, as the console script calls it (the console script itself, in a child process,
    runs in the heavy tier below): exit 3 naming the layer, no traceback; the help lists it."""
    from refdeconv.cli import main

    assert main(["audit", "--model", str(saved["bilinear"]), "--out", str(tmp_path)]) == 3
    err = capsys.readouterr().err
    assert "'up' (UpSampling2D)" in err and "Traceback" not in err
    with pytest.raises(SystemExit) as done:
        main(["audit", "--help"])
    assert done.value.code == 0 and "3  with --model" in capsys.readouterr().out


@pytest.mark.heavy  # a child process (about 7 s): the default run keeps under its 8 minutes
def test_console_script_end_to_end(saved, tmp_path):
    result = subprocess.run([sys.executable, "-m", "refdeconv", "audit", "--model", str(saved["bilinear"]),
                             "--out", str(tmp_path)], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 3, result.stderr
    assert "'up' (UpSampling2D)" in result.stderr and "Traceback" not in result.stderr


def test_the_report_lists_keras_ops_nodes_too():
    """``x * 3.0`` in a Functional graph is a keras.ops node, not a layer: the report names it."""
    from refdeconv.conformance.model_audit import run_model

    inp = keras.Input((4,))
    model = keras.Model(inp, keras.layers.Dense(2)(keras.layers.Dense(4, activation="relu")(inp) * 3.0))
    report = run_model(model)
    assert "Multiply" in [entry["type"] for entry in report.model["layers"]], report.model["layers"]
    assert report.failed == 0

