"""``refdeconv project`` (issue 26, part 1): feature projections from the command line.

Covers: end to end on a tiny saved ``.keras`` model, the files written (``projections.npz``, and
``projections.png`` with matplotlib) and the archive equal to the Python API's
``refdeconv.project``; every bad argument exits 2 with one line naming the option, no traceback.
"""

import keras
import numpy as np
import pytest

from refdeconv import Projections, project
from refdeconv.cli import app
from refdeconv.testing import assert_maps_close

L = keras.layers


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    keras.utils.set_random_seed(0)
    folder = tmp_path_factory.mktemp("project")
    model = keras.Sequential([keras.Input((8, 8, 1)), L.Conv2D(4, 3, activation="relu", name="conv"),
                              L.MaxPooling2D(2, name="pool"), L.Flatten(), L.Dense(3, name="logits")])
    x = np.random.default_rng(0).normal(size=(6, 8, 8, 1)).astype(np.float32)
    paths = {"model": folder / "m.keras", "x": folder / "x.npy", "folder": folder}
    model.save(paths["model"])
    np.save(paths["x"], x)
    return paths, model, x


def test_cli_writes_the_api_projections(files, capsys):
    paths, model, x = files
    out = paths["folder"] / "out"
    assert app.main(["project", "--model", str(paths["model"]), "--inputs", str(paths["x"]), "--layer", "conv",
                     "--features", "0,3", "--top-k", "4", "--rule", "guided", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "layer 'conv', rule guided: top 4 activations of 2 feature(s) over 6 inputs" in printed
    saved = Projections.load(out / "projections.npz")
    expected = project(keras.models.load_model(paths["model"]), x, "conv", [0, 3], 4, "guided")
    for name in ("features", "samples", "positions", "patches"):
        np.testing.assert_array_equal(getattr(saved, name), getattr(expected, name), err_msg=name)
    np.testing.assert_array_equal(saved.inputs, expected.inputs)
    assert_maps_close(saved.values, expected.values, "float32", "values")
    assert_maps_close(saved.maps.reshape(8, -1), expected.maps.reshape(8, -1), "float32", "refdeconv project vs API")
    assert (saved.layer, saved.rule, saved.field_note) == ("conv", "guided", None)
    pytest.importorskip("matplotlib")
    assert (out / "projections.png").stat().st_size > 0 and "projections.png" in printed


def test_default_features_by_index_in_process(files, capsys):
    paths, _, _ = files
    out = paths["folder"] / "all"
    assert app.main(["project", "--model", str(paths["model"]), "--inputs", str(paths["x"]), "--layer", "1",
                     "--top-k", "2", "--out", str(out)]) == 0
    saved = Projections.load(out / "projections.npz")
    assert saved.layer == "pool" and saved.features.tolist() == [0, 1, 2, 3] and saved.maps.shape == (4, 2, 8, 8, 1)
    assert "wrote" in capsys.readouterr().out


BAD = {  # arguments after the model and inputs -> start of the one error line
    "no such layer": (["--layer", "nope"], "--layer: no layer named 'nope'"),
    "a dense layer": (["--layer", "logits"], "--layer: 'logits' has output shape (None, 3)"),
    "layer index": (["--layer", "9"], "--layer: index 9"),
    "feature text": (["--layer", "conv", "--features", "a,b"], "--features: expected comma-separated"),
    "feature range": (["--layer", "conv", "--features", "0,9"], "--features: layer 'conv' has 4 channels"),
    "top-k zero": (["--layer", "conv", "--top-k", "0"], "--top-k: expected an int >= 1"),
    "top-k too large": (["--layer", "conv", "--top-k", "1000"], "--top-k: must be at most the 216 units"),
    "rule": (["--layer", "conv", "--rule", "lrp"], "argument --rule: invalid choice"),
    "batch size": (["--layer", "conv", "--batch-size", "0"], "--batch-size: expected an int >= 1"),
}


@pytest.mark.parametrize("name", list(BAD))
def test_bad_arguments_exit_2_with_one_line(files, capsys, name):
    paths, _, _ = files
    args, message = BAD[name]
    argv = ["project", "--model", str(paths["model"]), "--inputs", str(paths["x"]), *args,
            "--out", str(paths["folder"] / "bad")]
    try:
        code = app.main(argv)
    except SystemExit as exit_:  # argparse's own errors
        code = exit_.code
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith("refdeconv project: error: ") and message in err, err


def test_bad_files_exit_2(files, capsys):
    paths, _, _ = files
    np.save(paths["folder"] / "wrong.npy", np.zeros((2, 5, 5, 1), np.float32))
    (paths["folder"] / "a file").write_text("")
    cases = {
        "--inputs: no such file": ["--inputs", str(paths["folder"] / "none.npy")],
        "--inputs: expected shape": ["--inputs", str(paths["folder"] / "wrong.npy")],
        "--out: ": ["--inputs", str(paths["x"]), "--out", str(paths["folder"] / "a file")],
    }
    for message, args in cases.items():
        argv = ["project", "--model", str(paths["model"]), "--layer", "conv", "--out", str(paths["folder"] / "b"),
                *args]
        assert app.main(argv) == 2, message
        err = capsys.readouterr().err
        assert err.startswith(f"refdeconv project: error: {message}") and err.count("\n") == 1, err
    assert app.main(["project", "--model", str(paths["folder"] / "none.keras"), "--inputs", str(paths["x"]),
                     "--layer", "conv", "--out", str(paths["folder"] / "b")]) == 2
    assert "--model: no such file" in capsys.readouterr().err
