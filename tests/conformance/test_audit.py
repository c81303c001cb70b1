"""``refdeconv audit`` and ``refdeconv.testing.assert_conforms`` (issue 5, items 1 and 2).

Covers: the suite's coverage (input shapes, ReLU forms, model kinds, input
types, dtypes, max-pools with and without ties, overlapping pools) and its
power to tell the three rules apart; the audit passes every case on
refdeconv itself; deliberately wrong candidates (the plain gradient, Guided
Backprop, the DeconvNet rule on top-level activations only, so that ReLUs in
nested sub-models keep the gradient) fail with exit code 1, the right
``matches`` column and the report files; a candidate that raises or returns a
bad map is reported on that case and the audit goes on; the console script
and ``python -m refdeconv``; usage errors exit 2.

The candidates below are importable as ``tests.conformance.test_audit:NAME``.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings

from refdeconv import DeconvNet, Gradient, GuidedBackprop, cli
from refdeconv.cli import reporting
from refdeconv.conformance import audit, cases, networks, report
from refdeconv.testing import assert_conforms, drawn_cases, map_error, tolerance

ROOT = Path(__file__).resolve().parents[2]


def deconvnet_candidate(model, x, targets):
    """refdeconv's DeconvNet, as a candidate."""
    return DeconvNet(model).explain(x, targets)


def gradient_candidate(model, x, targets):
    """Wrong: the plain gradient."""
    return Gradient(model).explain(x, targets).numpy()


def guided_candidate(model, x, targets):
    """Wrong: Guided Backprop."""
    return GuidedBackprop(model).explain(x, targets).numpy()


def top_level_only(model, x, targets):
    """Wrong, the Xplique way: the rule swapped into the ``activation`` of the model's own layers only.

    ReLUs inside nested sub-models, ``ReLU`` layers and functions in
    ``Lambda`` layers keep the plain gradient.
    """

    @tf.custom_gradient
    def deconvnet_relu(z):
        return tf.nn.relu(z), tf.nn.relu

    patched = [layer for layer in model.layers if getattr(layer, "activation", None) is keras.activations.relu]
    for layer in patched:
        layer.activation = deconvnet_relu
    try:
        xt = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(xt)
            score = tf.reduce_sum(model(xt, training=False) * targets)
        return tape.gradient(score, xt).numpy()
    finally:
        for layer in patched:
            layer.activation = keras.activations.relu


def flaky(model, x, targets):
    """Raises on (N, W) inputs, returns the wrong shape on (N, T, W) and NaN on 7x7 images."""
    if x.ndim == 2:
        raise RuntimeError("dense inputs not supported")
    if x.ndim == 3:
        return np.zeros(x.shape[:-1])
    if x.shape[1] == 7:
        return np.full(x.shape, np.nan)
    return DeconvNet(model).explain(x, targets)


def _audit(tmp_path, *args):
    out = tmp_path / "out"
    code = cli.main(["audit", "--out", str(out), *args])
    return code, json.loads((out / "report.json").read_text()), out


def _matches(result) -> dict:
    return {entry["name"]: entry["matches"] for entry in result["cases"]}


def test_suite_covers_the_issue():
    suite = cases.CASES
    names = [case.name for case in suite]
    assert len(set(names)) == len(names) >= 30, "case names must be unique and at least 30"
    assert len(cases.select(own=False)) >= 30, "a candidate must get at least 30 cases"
    assert {len(c.network.input_shape) for c in suite} == {1, 2, 3}, "(N, W), (N, T, W), (N, H, W, C)"
    assert {c.form for c in suite} == set(networks.FORMS)
    assert {c.kind for c in suite} == set(networks.KINDS)
    assert {c.input_type for c in suite} == set(cases.INPUT_TYPES)
    assert {c.dtype for c in suite} == {"float32", "float64"}
    pooled = [net for net in cases.NETWORKS if any(s["type"].startswith("maxpool") for s in net.layers)]
    assert {cases.has_ties(net) for net in pooled} == {True, False}, "max-pools with and without ties"
    assert all(cases.has_ties(net) for net in cases.NETWORKS if net.name.endswith("_ties"))
    overlapping = [s for net in pooled for s in net.layers if s["type"].startswith("maxpool")
                   and s["strides"][0] < s["pool_size"][0]]
    assert overlapping, "an overlapping max-pool"


def test_every_case_tells_the_rules_apart():
    """Each pair of rules differs far beyond tolerance on every case but the ReLU-free control."""
    for case in cases.CASES:
        refs = case.references()
        for a, b in (("deconvnet", "gradient"), ("deconvnet", "guided"), ("gradient", "guided")):
            gap = map_error(refs[a], refs[b]).max()
            if case.network.name == "no_relu":
                assert gap == 0, f"{case.name}: rules must coincide without a ReLU"
            else:
                assert gap > 100 * tolerance("float32"), f"{case.name}: {a} and {b} differ by only {gap:.3g}"


def test_audit_passes_every_case_on_refdeconv(tmp_path, capsys):
    code, result, out = _audit(tmp_path)
    printed = capsys.readouterr()
    assert code == 0, printed.out
    assert result["failed"] == 0 and result["passed"] == len(cases.CASES) == len(result["cases"])
    assert result["candidate"] == "refdeconv.DeconvNet" and result["tensorflow_version"] == tf.__version__
    assert set(_matches(result).values()) == {"deconvnet"}
    for entry in result["cases"]:
        assert {"name", "input_shape", "max_abs_error", "matches", "passed"} <= set(entry)
        assert entry["errors"]["deconvnet"] <= tolerance(entry["dtype"])
    assert f"PASS: {len(cases.CASES)} of {len(cases.CASES)} cases pass" in printed.out
    assert f"[{len(cases.CASES)}/{len(cases.CASES)}]" in printed.err, "progress on stderr"
    assert "| image_deep-nested |" in (out / "report.md").read_text()
    assert (out / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("rule", ["gradient", pytest.param("guided", marks=pytest.mark.heavy)])  # guided: heavy, the default run keeps under its 8 minutes (docs/verification.md, 'Time budget')
def test_a_wrong_rule_is_found_on_every_case(rule, tmp_path, capsys):
    code, result, out = _audit(tmp_path, "--candidate", f"tests.conformance.test_audit:{rule}_candidate")
    assert code == 1
    expected = {case.name: "deconvnet" if case.network.name == "no_relu" else rule for case in cases.select(own=False)}
    assert _matches(result) == expected
    assert result["passed"] == 1 and result["failed"] == len(expected) - 1
    assert result["candidate"] == f"tests.conformance.test_audit:{rule}_candidate"
    assert f"matches {rule} on {len(expected) - 1} case(s)" in capsys.readouterr().out
    assert f"matches {rule} on" in (out / "report.md").read_text() and (out / "report.png").is_file()


def off_by_three_tolerances(model, x, targets):
    """Wrong by a hair: refdeconv's map with every sample's largest entry moved by three times the
    tolerance of its dtype (the reference's scale, up to refdeconv's own rounding)."""
    maps = np.asarray(DeconvNet(model).explain(x, targets))
    flat = maps.reshape(len(maps), -1).copy()
    rows = np.arange(len(flat))
    flat[rows, np.abs(flat).argmax(axis=1)] += 3 * tolerance(maps.dtype) * np.abs(flat).max(axis=1)
    return flat.reshape(maps.shape)


def test_an_error_of_three_tolerances_fails_the_audit():
    """Each case is held to its dtype's tolerance (a candidate gets float32 arrays), not to a looser
    one: an error three times the tolerance matches no rule."""
    names = ["dense_deep", "seq_maxpool_ties", "image_maxpool", "image_overlap_pool"]
    result = audit.run(off_by_three_tolerances, cases=names)
    for entry in result.cases:
        error, tol = entry["errors"]["deconvnet"], entry["tolerance"]
        assert tol == tolerance(entry["dtype"]) and 2.9 * tol < error < 3.1 * tol, \
            f"{entry['name']} ({entry['dtype']}): scaled error {error:.3g}, tolerance {tol:g}"
        assert entry["matches"] == "none" and not entry["passed"], f"{entry['name']}: {entry}"
    assert result.failed == len(names), [entry["name"] for entry in result.cases if entry["passed"]]


def test_relus_left_out_in_nested_models_are_found(tmp_path):
    code, result, _ = _audit(tmp_path, "--candidate", "tests.conformance.test_audit:top_level_only", "--case", "image_deep*",
                             "--case", "seq_strided_same*")
    assert code == 1
    matches = _matches(result)
    assert matches["image_deep"] == matches["image_deep-functional"] == matches["seq_strided_same"] == "deconvnet"
    assert matches["image_deep-nested"] == matches["seq_strided_same-tf.nn-nested"] == "gradient"
    assert matches["image_deep-layer"] == matches["image_deep-tf.nn"] == "gradient", "ReLU layers, Lambdas"


def test_a_failing_candidate_is_reported_and_the_audit_goes_on():
    names = ["dense_relu", "seq_conv", "image_conv", "image_maxpool"]
    result = audit.run(flaky, cases=names)
    entries = {entry["name"]: entry for entry in result.cases}
    assert entries["dense_relu"]["error"] == "RuntimeError: dense inputs not supported"
    assert "returned shape (2, 9), expected the inputs' shape (2, 9, 2)" in entries["seq_conv"]["error"]
    assert entries["image_maxpool"]["error"] == "returned NaN or Inf"
    assert [entries[n]["matches"] for n in names] == ["none", "none", "deconvnet", "none"]
    assert result.passed == 1 and result.failed == 3
    assert "raised or returned a bad map on 3 case(s)" in report.table(result)


def test_assert_conforms_names_the_case_the_shapes_and_the_error():
    assert_conforms(deconvnet_candidate, cases=["dense_relu", "image_maxpool_ties"])
    assert_conforms(gradient_candidate, rule="gradient", cases=["seq_overlap_pool"])
    with pytest.raises(AssertionError) as caught:
        assert_conforms(gradient_candidate, cases=["dense_relu", "image_deep-nested"])
    message = str(caught.value)
    assert "does not implement the deconvnet rule on 2 of 2 cases" in message
    assert "case 'image_deep-nested' (inputs of shape (2, 8, 8, 1), float32)" in message
    assert "against the deconvnet reference" in message and "it matches gradient" in message
    with pytest.raises(ValueError, match="cases: no case named 'nope'"):
        assert_conforms(deconvnet_candidate, cases=["nope"])
    with pytest.raises(ValueError, match="a candidate gets float32 arrays"):
        assert_conforms(deconvnet_candidate, cases=["dense_deep-float64"])


@settings(max_examples=3, derandomize=True, database=None)
@given(case=drawn_cases())
def test_assert_conforms_on_drawn_cases(case):
    assert_conforms(deconvnet_candidate, cases=[case])


def test_report_without_matplotlib(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    written = report.write(audit.run(deconvnet_candidate, cases=["dense_relu"]), tmp_path)
    assert "report.png skipped: matplotlib is not installed" in capsys.readouterr().err
    assert [p.name for p in written] == sorted(p.name for p in tmp_path.iterdir()) == ["report.json", "report.md"]


def test_cli_rule_choices_are_the_suite_rules():
    assert reporting.RULE_NAMES == cases.RULES, "the CLI spells the rules itself (it must not import TensorFlow to parse)"


def test_usage_errors_exit_2(tmp_path, capsys):
    assert cli.main(["audit", "--candidate", "no_colon", "--out", str(tmp_path)]) == 2
    assert "expected MODULE:CALLABLE, got 'no_colon'" in capsys.readouterr().err
    assert cli.main(["audit", "--candidate", "tests.conformance.test_audit:missing", "--out", str(tmp_path)]) == 2
    assert "has no attribute 'missing'" in capsys.readouterr().err
    assert cli.main(["audit", "--case", "no-such-*", "--out", str(tmp_path)]) == 2
    assert "--case: no case matches" in capsys.readouterr().err


def _run(command, cwd):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run(command, check=False, capture_output=True, text=True, cwd=cwd, env=env)


@pytest.mark.heavy  # the default run keeps under its 8 minutes (docs/verification.md, 'Time budget')
def test_console_script_and_python_m(tmp_path):
    run = _run([sys.executable, "-m", "refdeconv", "audit", "--case", "dense_relu", "--out", str(tmp_path / "a")], ROOT)
    assert run.returncode == 0, run.stderr
    assert "PASS: 1 of 1 cases pass" in run.stdout
    script = shutil.which("refdeconv", path=str(Path(sys.executable).parent))
    assert script, "the console script `refdeconv` is not installed"
    run = _run([script, "audit", "--candidate", "tests.conformance.test_audit:gradient_candidate", "--case", "dense_relu",
                "--out", str(tmp_path / "b")], ROOT)
    assert run.returncode == 1, run.stderr
    assert json.loads((tmp_path / "b" / "report.json").read_text())["cases"][0]["matches"] == "gradient"
