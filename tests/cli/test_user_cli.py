"""A user's first hour: ``refdeconv explain`` on a saved model, ``refdeconv demo``, the plot helper.

Covers the first-hour issue: CLI maps equal the Python API's; Keras safe mode
refuses a ``Lambda`` model unless ``--unsafe``; every bad argument or file
gives exit code 2 and one clear line, no traceback; the demo's model learned
(held-out accuracy far above chance) and its figure and maps are written.
"""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from refdeconv import DeconvNet, GuidedBackprop
from refdeconv.cli import demo
from refdeconv.testing import assert_maps_close

L = keras.layers


def cli(*args, cwd=None):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, "-m", "refdeconv", *args], capture_output=True, text=True, env=env, cwd=cwd)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    keras.utils.set_random_seed(0)
    folder = tmp_path_factory.mktemp("cli")
    model = keras.Sequential([keras.Input((8, 8, 1)), L.Conv2D(4, 3, activation="relu", name="conv"),
                              L.MaxPooling2D(2), L.Flatten(), L.Dense(3, name="logits"), L.Softmax()])
    lam = keras.Sequential([keras.Input((4,)), L.Lambda(lambda t: t * 2.0), L.ReLU(), L.Dense(2)])
    x = np.random.default_rng(0).normal(size=(20, 8, 8, 1)).astype(np.float32)
    paths = {"model": folder / "m.keras", "lambda": folder / "lambda.keras", "x": folder / "x.npy",
             "t": folder / "t.npy", "labels": folder / "labels.npy", "folder": folder}
    model.save(paths["model"])
    lam.save(paths["lambda"])
    np.save(paths["x"], x)
    np.save(paths["t"], np.eye(3, dtype=np.float32)[np.arange(20) % 3])
    np.save(paths["labels"], np.arange(20) % 3)
    return paths, model, x


@pytest.mark.heavy  # the default run keeps under its 8 minutes (docs/verification.md, 'Time budget')
def test_cli_maps_equal_the_python_api(files):
    paths, model, x = files
    out = paths["folder"] / "maps.npy"
    run = cli("explain", "--model", str(paths["model"]), "--inputs", str(paths["x"]), "--targets", str(paths["t"]),
              "--method", "guided", "--output-layer", "logits", "--batch-size", "3", "--out", str(out),
              "--png", str(paths["folder"] / "maps.png"))
    assert run.returncode == 0, run.stderr
    expected = GuidedBackprop(model, output_layer="logits").explain(x, np.load(paths["t"])).numpy()
    assert_maps_close(np.load(out), expected, "float32", "refdeconv explain vs the Python API")
    assert (paths["folder"] / "maps.png").stat().st_size > 0
    run = cli("explain", "--model", str(paths["model"]), "--inputs", str(paths["x"]), "--out", str(out))
    assert run.returncode == 0, run.stderr
    assert_maps_close(np.load(out), DeconvNet(model).explain(x).numpy(), "float32", "top-class targets via the CLI")


@pytest.mark.heavy  # the default run keeps under its 8 minutes (docs/verification.md, 'Time budget')
def test_safe_mode_refuses_a_lambda_model_without_unsafe(files):
    paths, _, _ = files
    np.save(paths["folder"] / "x4.npy", np.ones((2, 4), np.float32))
    args = ["explain", "--model", str(paths["lambda"]), "--inputs", str(paths["folder"] / "x4.npy"),
            "--out", str(paths["folder"] / "l.npy")]
    run = cli(*args)
    assert run.returncode == 2 and "--unsafe" in run.stderr and "Traceback" not in run.stderr, run.stderr
    assert len(run.stderr.strip().splitlines()) == 1, run.stderr
    assert cli(*args, "--unsafe").returncode == 0


BAD = {
    "missing model file": (["--model", "{folder}/none.keras"], "--model"),
    "not a model file": (["--model", "{x}"], "--model"),
    "missing inputs file": (["--inputs", "{folder}/none.npy"], "--inputs"),
    "inputs not a .npy": (["--inputs", "{model}"], "--inputs"),
    "targets of the wrong length": (["--targets", "{labels_short}"], "--targets"),
    "labels out of range": (["--targets", "{labels_bad}"], "--targets"),
    "unknown output layer": (["--output-layer", "nope"], "--output-layer"),
    "batch size zero": (["--batch-size", "0"], "--batch-size"),
    "unknown method": (["--method", "lrp"], "--method"),
    "unwritable output": (["--out", "/nonexistent/dir/maps.npy"], "--out"),
}


@pytest.mark.heavy  # one process per case, about 5.5 s each: the default run keeps under its 8 minutes
@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_arguments_exit_2_with_one_line(files, case):
    paths, _, _ = files
    np.save(paths["folder"] / "labels_short.npy", np.arange(5) % 3)
    np.save(paths["folder"] / "labels_bad.npy", np.full(20, 7))
    names = {"folder": paths["folder"], "x": paths["x"], "model": paths["model"],
             "labels_short": paths["folder"] / "labels_short.npy", "labels_bad": paths["folder"] / "labels_bad.npy"}
    override, word = BAD[case]
    args = {"--model": str(paths["model"]), "--inputs": str(paths["x"]), "--out": str(paths["folder"] / "o.npy")}
    args.update(dict(zip(override[::2], [v.format(**names) for v in override[1::2]])))
    run = cli("explain", *[item for pair in args.items() for item in pair])
    lines = run.stderr.strip().splitlines()
    assert run.returncode == 2, (case, run.returncode, run.stderr)
    assert "Traceback" not in run.stderr and word in lines[-1], (case, run.stderr)
    assert len([line for line in lines if line.strip()]) == 1, (case, run.stderr)


@pytest.mark.heavy  # the default run keeps under its 8 minutes (docs/verification.md, 'Time budget')
def test_demo_model_learns_and_writes_its_figure(tmp_path):
    result = demo.run(tmp_path, n_images=3, verbose=0)
    assert result["accuracy"] > 0.9, f"held-out accuracy {result['accuracy']:.1%}, chance is 33%"
    saved = np.load(tmp_path / "maps.npz")
    assert {"inputs", "labels", "DeconvNet", "Gradient", "GuidedBackprop"} <= set(saved.files)
    assert saved["DeconvNet"].shape == saved["inputs"].shape == (3, 32, 32, 1)
    assert (tmp_path / "demo.png").stat().st_size > 10_000
