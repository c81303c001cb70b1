"""Test vectors: ``refdeconv vectors export`` and ``check`` (issue 5, item 3).

Covers: the manifest format exactly; every ``.npz`` loadable with
``allow_pickle=False`` and holding the required arrays; two exports
byte-identical (the ``.onnx`` files too); the round trip (exported, re-loaded, rebuilt as Keras models
from the manifest and weights, and refdeconv's three explainers and the
reference give the ``expected_*`` maps); each vector's ONNX graph, run as a peer
runs it (issue 25, item 5): the ONNX oracle gives the stored maps, and its forward
equals onnxruntime's and the Keras model's; ``vectors check`` on correct and
wrong maps; malformed vectors (bad hash, missing key, pickled array, wrong
format, unknown layer, a changed ONNX file) refused with a clear error.
"""

import hashlib
import io
import json
import shutil
import zipfile

import numpy as np
import pytest

from refdeconv import DeconvNet, Gradient, GuidedBackprop, cli, reference
from refdeconv.conformance import cases, networks, vectors
from refdeconv.testing import assert_maps_close

EXPLAINERS = {cls.rule: cls for cls in (DeconvNet, Gradient, GuidedBackprop)}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    folder = tmp_path_factory.mktemp("vectors")
    assert cli.main(["vectors", "export", str(folder)]) == 0
    return folder


def _rewrite(folder, name, arrays):
    """Replace a case's .npz (np.savez, pickles allowed) and fix its hash in the manifest."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    (folder / f"{name}.npz").write_bytes(buffer.getvalue())
    manifest = json.loads((folder / "manifest.json").read_text())
    entry = next(e for e in manifest["cases"] if e["name"] == name)
    entry["sha256"] = hashlib.sha256(buffer.getvalue()).hexdigest()
    (folder / "manifest.json").write_text(json.dumps(manifest))


def test_manifest_and_files_have_the_format(exported):
    manifest = json.loads((exported / "manifest.json").read_text())
    assert set(manifest) == {"format", "refdeconv_version", "cases"}
    assert manifest["format"] == "refdeconv-vectors/1"
    assert [e["name"] for e in manifest["cases"]] == [net.name for net in cases.NETWORKS]
    for entry in manifest["cases"]:
        assert set(entry) == {"name", "file", "sha256", "input_shape", "ties", "layers", "onnx", "onnx_sha256"}
        data = (exported / entry["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]
        assert entry["onnx"] == f"{entry['name']}.onnx", entry
        assert hashlib.sha256((exported / entry["onnx"]).read_bytes()).hexdigest() == entry["onnx_sha256"]
        for layer in entry["layers"]:
            assert set(layer) == {"type", *networks.VOCABULARY[layer["type"]]}
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            arrays = dict(npz)
        weighted = [i for i, layer in enumerate(entry["layers"]) if layer["type"] in networks.WEIGHTED]
        assert set(arrays) == {"inputs", "targets", "expected_deconvnet", "expected_gradient", "expected_guided",
                               *(f"layer{i}_{p}" for i in weighted for p in ("kernel", "bias"))}
        assert all(a.dtype == np.float64 for a in arrays.values())
        assert list(arrays["inputs"].shape) == entry["input_shape"]
        assert ((arrays["targets"] == 0) | (arrays["targets"] == 1)).all() and (arrays["targets"].sum(1) == 1).all()
    assert {e["ties"] for e in manifest["cases"]} == {True, False}


def test_export_is_byte_identical(exported, tmp_path):
    cases._CACHE.clear()  # recompute the reference maps and ties, not reuse them
    vectors.export(tmp_path)
    names = sorted(p.name for p in exported.iterdir())
    assert names == sorted(p.name for p in tmp_path.iterdir())
    for name in names:
        assert (exported / name).read_bytes() == (tmp_path / name).read_bytes(), name


@pytest.mark.filterwarnings("ignore:.*the model has no ReLU:UserWarning")
def test_vectors_round_trip_through_keras(exported):
    """Rebuilt from the manifest and the weights alone, the models give the expected maps."""
    for vector in vectors.load(exported):
        x, targets = vector.arrays["inputs"], vector.arrays["targets"]
        model = vector.model("float64")
        for rule, explainer in EXPLAINERS.items():
            expected = vector.arrays[f"expected_{rule}"]
            context = f"{explainer.__name__} on vector {vector.name!r} rebuilt from the manifest"
            assert_maps_close(explainer(model).explain(x, targets).numpy(), expected, "float64", context)
            np.testing.assert_array_equal(reference.attribution(model, x, targets, rule), expected)


def test_vectors_onnx_graphs_give_the_stored_maps(exported):
    """A peer's view: each vector's ``.onnx`` file, read by the ONNX oracle, gives the stored maps of
    every rule (float64: the graph's float32 weights are the vector's exactly), and its forward pass
    equals onnxruntime's (float32) and the Keras model's as the Keras reader computes it (float64)."""
    import onnxruntime

    for vector in vectors.load(exported):
        x, targets = vector.arrays["inputs"], vector.arrays["targets"]
        oracle = reference.compile(vector.onnx)
        assert oracle.input_names == ["inputs"], f"vector {vector.name!r}: graph inputs {oracle.input_names}"
        for rule in ("deconvnet", "gradient", "guided"):
            assert_maps_close(oracle.attribution(x, targets, rule), vector.arrays[f"expected_{rule}"], "float64",
                              f"{rule} map of vector {vector.name!r} from its ONNX file")
        forward = oracle.forward(x)
        session = onnxruntime.InferenceSession(str(vector.onnx), providers=["CPUExecutionProvider"])
        (runtime,) = session.run(None, {"inputs": x.astype(np.float32)})
        assert_maps_close(runtime, forward, "float32", f"onnxruntime's forward of vector {vector.name!r}")
        assert_maps_close(forward, reference.forward(vector.model(), x), "float64",
                          f"ONNX oracle's forward of vector {vector.name!r} vs its Keras model's")
        assert oracle.relu_kinds == ([] if vector.name == "no_relu" else ["Relu"]), (vector.name, oracle.relu_kinds)


def test_vectors_without_onnx_files_still_load(exported, tmp_path):
    folder = tmp_path / "v"
    shutil.copytree(exported, folder)
    _edit_manifest(lambda m: [(e.pop("onnx"), e.pop("onnx_sha256")) for e in m["cases"]])(folder)
    assert {v.onnx for v in vectors.load(folder)} == {None}


def test_check_reports_like_audit(exported, tmp_path, capsys):
    loaded = vectors.load(exported)
    right = {v.name: v.arrays["expected_deconvnet"].astype(np.float32) for v in loaded}
    np.savez(tmp_path / "right.npz", **right)
    assert cli.main(["vectors", "check", str(exported), str(tmp_path / "right.npz"), "--out", str(tmp_path / "a")]) == 0
    assert f"PASS: {len(loaded)} of {len(loaded)} cases pass" in capsys.readouterr().out
    wrong = {v.name: v.arrays["expected_gradient"] for v in loaded[1:]}
    np.savez(tmp_path / "wrong.npz", **wrong)
    assert cli.main(["vectors", "check", str(exported), str(tmp_path / "wrong.npz"), "--out", str(tmp_path / "b")]) == 1
    result = json.loads((tmp_path / "b" / "report.json").read_text())
    matches = {e["name"]: e["matches"] for e in result["cases"]}
    assert matches.pop(loaded[0].name) == "none" and matches.pop("no_relu") == "deconvnet"
    assert set(matches.values()) == {"gradient"}
    assert f"no array named {loaded[0].name!r} in the maps" in result["cases"][0]["error"]
    assert (tmp_path / "b" / "report.md").is_file() and (tmp_path / "b" / "report.png").is_file()


def _corrupt_hash(folder):
    path = folder / "dense_relu.npz"
    data = bytearray(path.read_bytes())
    data[-30] ^= 1
    path.write_bytes(bytes(data))


def _drop_key(folder):
    with np.load(folder / "dense_relu.npz") as npz:
        arrays = {k: v for k, v in npz.items() if k != "expected_guided"}
    _rewrite(folder, "dense_relu", arrays)


def _pickle(folder):
    with np.load(folder / "dense_relu.npz") as npz:
        arrays = dict(npz)
    arrays["inputs"] = np.array([{"not": "numbers"}], dtype=object)
    _rewrite(folder, "dense_relu", arrays)


def _edit_manifest(change):
    def edit(folder):
        manifest = json.loads((folder / "manifest.json").read_text())
        change(manifest)
        (folder / "manifest.json").write_text(json.dumps(manifest))

    return edit


MALFORMED = {
    "bad hash": (_corrupt_hash, "has sha256 .*, the manifest says"),
    "missing key": (_drop_key, r"missing array\(s\) \['expected_guided'\]"),
    "pickled array": (_pickle, "array 'inputs' is a pickled object array; refused"),
    "wrong format": (_edit_manifest(lambda m: m.update(format="refdeconv-vectors/0")), "format must be"),
    "unknown layer": (_edit_manifest(lambda m: m["cases"][0]["layers"].append({"type": "lstm"})),
                      r"layers\[3\]: type 'lstm' is not one of"),
    "file outside": (_edit_manifest(lambda m: m["cases"][0].update(file="../x.npz")), "is not a file in"),
    "changed onnx": (lambda folder: (folder / "dense_relu.onnx").write_bytes(b"not a graph"),
                     r"dense_relu.onnx has sha256 .*, the manifest says"),
    "missing onnx": (lambda folder: (folder / "dense_relu.onnx").unlink(), "'dense_relu.onnx' is not a file in"),
}


@pytest.mark.parametrize("fault", sorted(MALFORMED))
def test_malformed_vectors_are_refused(fault, exported, tmp_path, capsys):
    folder = tmp_path / "v"
    shutil.copytree(exported, folder)
    plant, message = MALFORMED[fault]
    plant(folder)
    with pytest.raises(ValueError, match=message):
        vectors.load(folder)
    np.savez(tmp_path / "maps.npz", dense_relu=np.zeros((2, 8)))
    assert cli.main(["vectors", "check", str(folder), str(tmp_path / "maps.npz"), "--out", str(tmp_path / "o")]) == 2
    assert "refdeconv vectors: error: vectors:" in capsys.readouterr().err


def test_bad_maps_are_refused_or_reported(exported, tmp_path):
    result = vectors.check(exported, {"dense_relu": np.zeros((2, 8), int), "dense_deep": np.zeros((2, 5))})
    entries = {e["name"]: e for e in result.cases}
    assert entries["dense_relu"]["error"].startswith("a map of dtype int64: expected one of")
    assert entries["dense_deep"]["error"] == "returned shape (2, 5), expected the inputs' shape (2, 6)"
    assert result.passed == 0 and {e["matches"] for e in result.cases} == {"none"}
    np.savez(tmp_path / "maps.npz", dense_relu=np.array([None], dtype=object))
    with pytest.raises(ValueError, match="array 'dense_relu' is a pickled object array; refused"):
        vectors.check(exported, tmp_path / "maps.npz")
    with zipfile.ZipFile(tmp_path / "bad.npz", "w") as archive:
        archive.writestr("x.txt", "not an array")
    with pytest.raises(ValueError, match="member 'x.txt' is not a .npy array"):
        vectors.check(exported, tmp_path / "bad.npz")
    (tmp_path / "junk.npz").write_bytes(b"junk" * 20)
    with pytest.raises(ValueError, match="not a readable .npz"):
        vectors.check(exported, tmp_path / "junk.npz")


def test_each_map_is_held_to_the_tolerance_of_its_own_dtype(exported):
    """A float64 map three float64 tolerances off (3e-9 of its scale) fails, though it is far inside
    float32's; the same map rounded to float32 passes at float32's tolerance."""
    loaded = vectors.load(exported)
    off = {}
    for v in loaded:
        expected = v.arrays["expected_deconvnet"].astype(np.float64)
        flat = expected.reshape(len(expected), -1).copy()
        flat[:, 0] += 3e-9 * np.abs(flat).max(axis=1)
        off[v.name] = flat.reshape(expected.shape)
    result = vectors.check(exported, off)
    failed = [e["name"] for e in result.cases if e["dtype"] == "float64" and not e["passed"]]
    assert failed == [v.name for v in loaded], f"float64 maps 3e-9 off that passed: {set(off) - set(failed)}"
    rounded = vectors.check(exported, {name: m.astype(np.float32) for name, m in off.items()})
    assert rounded.failed == 0, [(e["name"], e["errors"]) for e in rounded.cases if not e["passed"]]
