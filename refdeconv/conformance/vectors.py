"""Framework-neutral test vectors: the suite's networks as ``manifest.json`` plus one ``.npz`` each.

Format ``refdeconv-vectors/1``::

    manifest.json  {"format": "refdeconv-vectors/1", "refdeconv_version": "...",
                    "cases": [{"name", "file", "sha256", "input_shape", "ties", "layers": [...],
                               "onnx", "onnx_sha256"}]}
    <name>.npz     inputs, targets (one-hot), expected_deconvnet, expected_gradient,
                   expected_guided (float64), layer{i}_kernel, layer{i}_bias
    <name>.onnx    the network as an ONNX graph (:mod:`~refdeconv.conformance.vector_graphs`):
                   input ``inputs`` (the stored inputs, channels last), output ``outputs``
                   (the logits), float32, holding exactly the vector's weights

``layers`` is the chain of layer dicts of :data:`refdeconv.conformance.networks.VOCABULARY`
(``dense``: ``units``; ``conv1d``/``conv2d``: ``filters``, ``kernel_size``,
``strides``, ``padding``; pools: ``pool_size``, ``strides``, ``padding``;
``flatten``; ``relu``), with weights in TensorFlow layouts (dense kernels
``(in, out)``, conv kernels ``(k, in, out)`` / ``(kh, kw, in, out)``, channels
last). ``input_shape`` is the shape of ``inputs``, batch axis first; ``ties``
says whether a max-pool window holds tied maxima (TensorFlow's tie rule sends
the signal to the first maximum in row-major window order).

``onnx`` and ``onnx_sha256`` are optional (vectors exported before them load as they are).
The ``.npz`` files are written with fixed zip timestamps, so the same
refdeconv version exports byte-identical files (the ``.onnx`` files too). :func:`load` refuses
malformed vectors (a wrong format, a bad hash, a missing key, a non-numeric or
pickled array) with a ``ValueError`` naming the case and the problem.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import cases as suite
from . import networks, vector_graphs
from .audit import RULES, Report
from .tolerances import TOLERANCES

FORMAT = "refdeconv-vectors/1"
_ENTRY_KEYS = ("name", "file", "sha256", "input_shape", "ties", "layers")
_DATE = (1980, 1, 1, 0, 0, 0)
_MAP_DTYPES = tuple(key for key in TOLERANCES if key != "finite-difference")


@dataclass
class Vector:
    """One loaded case: its manifest entry, its arrays and its ONNX graph's path (``None`` if it has none)."""

    name: str
    layers: list
    input_shape: tuple
    ties: bool
    arrays: dict
    onnx: Path | None = None

    def references(self) -> dict:
        """``rule -> expected map``."""
        return {rule: self.arrays[f"expected_{rule}"] for rule in RULES}

    def model(self, dtype: str = "float64"):
        """The network rebuilt as a Keras Sequential model with the vector's weights."""
        weights = {i: [self.arrays[f"layer{i}_kernel"], self.arrays[f"layer{i}_bias"]]
                   for i, spec in enumerate(self.layers) if spec["type"] in networks.WEIGHTED}
        return networks.build(self.layers, self.input_shape[1:], weights, "layer", "sequential", dtype)


def _npz_bytes(arrays: dict) -> bytes:
    """An ``.npz`` archive with fixed timestamps and permissions (``np.savez`` stamps the time)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for key, value in arrays.items():
            data = io.BytesIO()
            np.lib.format.write_array(data, np.ascontiguousarray(value), allow_pickle=False)
            info = zipfile.ZipInfo(f"{key}.npy", date_time=_DATE)
            info.external_attr = 0o644 << 16
            archive.writestr(info, data.getvalue())
    return buffer.getvalue()


def export(directory, nets=None) -> dict:
    """Write the vectors of ``nets`` (default every suite network) into ``directory``.

    Returns
    -------
    dict
        The manifest, as written to ``manifest.json``.
    """
    from .. import __version__

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    entries = []
    for net in suite.NETWORKS if nets is None else nets:
        model, refs = net.model(), suite.reference_maps(net)
        arrays = {"inputs": net.inputs(), "targets": net.targets(), **{f"expected_{r}": refs[r] for r in RULES}}
        for i, spec in enumerate(net.layers):
            if spec["type"] in networks.WEIGHTED:
                arrays[f"layer{i}_kernel"], arrays[f"layer{i}_bias"] = model.layers[i].get_weights()
        data = _npz_bytes(arrays)
        (directory / f"{net.name}.npz").write_bytes(data)
        graph = vector_graphs.graph(net.name, list(net.layers), net.input_shape, arrays).SerializeToString()
        (directory / f"{net.name}.onnx").write_bytes(graph)
        entries.append({"name": net.name, "file": f"{net.name}.npz", "sha256": hashlib.sha256(data).hexdigest(),
                        "input_shape": list(arrays["inputs"].shape), "ties": suite.has_ties(net),
                        "layers": [dict(spec) for spec in net.layers],
                        "onnx": f"{net.name}.onnx", "onnx_sha256": hashlib.sha256(graph).hexdigest()})
    manifest = {"format": FORMAT, "refdeconv_version": __version__, "cases": entries}
    (directory / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def read_arrays(source, where: str) -> dict:
    """Every array of an ``.npz`` (a path or bytes), refusing pickles and non-numeric arrays."""
    try:
        npz = np.load(io.BytesIO(source) if isinstance(source, bytes) else source, allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as err:
        raise ValueError(f"{where}: not a readable .npz of numeric arrays: {err}") from err
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise ValueError(f"{where}: a single .npy array, not an .npz archive of named arrays")
    arrays = {}
    with npz:
        for key in npz.files:
            try:
                arrays[key] = npz[key]
            except (ValueError, OSError, zipfile.BadZipFile) as err:
                what = "is a pickled object array; refused" if "allow_pickle" in str(err) else f"is unreadable ({err})"
                raise ValueError(f"{where}: array {key!r} {what} (vectors hold numeric arrays only)") from err
    for key, value in arrays.items():
        if not isinstance(value, np.ndarray):
            raise ValueError(f"{where}: member {key!r} is not a .npy array")
        if value.dtype.kind not in "biuf":
            raise ValueError(f"{where}: array {key!r} has dtype {value.dtype}, not a real number type")
    return arrays


def _checked_file(directory: Path, entry: dict, key: str, where: str) -> tuple[Path, bytes]:
    """The file the entry names under ``key``, its bytes checked against ``{key}sha256``."""
    name, hash_key = str(entry[key]), "sha256" if key == "file" else f"{key}_sha256"
    if Path(name).name != name or not (directory / name).is_file():
        raise ValueError(f"{where}: file {name!r} is not a file in {directory}")
    data = (directory / name).read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != entry.get(hash_key):
        raise ValueError(f"{where}: {name} has sha256 {digest}, the manifest says {entry.get(hash_key)}: "
                         "the file was changed or corrupted")
    return directory / name, data


def _load_entry(directory: Path, entry, index: int) -> Vector:
    if not isinstance(entry, dict):
        raise ValueError(f"vectors: manifest case {index} is a {type(entry).__name__}, not an object")
    where = f"vectors: case {entry.get('name', index)!r}"
    missing = [key for key in _ENTRY_KEYS if key not in entry]
    if missing:
        raise ValueError(f"{where}: the manifest entry lacks {missing}")
    (_, data), name = _checked_file(directory, entry, "file", where), str(entry["file"])
    graph = _checked_file(directory, entry, "onnx", where)[0] if "onnx" in entry else None
    try:
        networks.check_layers(entry["layers"])
    except ValueError as err:
        raise ValueError(f"{where}: {err}") from None
    arrays = read_arrays(data, f"{where} ({name})")
    layers = entry["layers"]
    weighted = [i for i, spec in enumerate(layers) if spec["type"] in networks.WEIGHTED]
    needed = ["inputs", "targets", *(f"expected_{rule}" for rule in RULES),
              *(f"layer{i}_{part}" for i in weighted for part in ("kernel", "bias"))]
    absent = [key for key in needed if key not in arrays]
    if absent:
        raise ValueError(f"{where} ({name}): missing array(s) {absent}")
    shape = tuple(arrays["inputs"].shape)
    if shape != tuple(entry["input_shape"]):
        raise ValueError(f"{where}: inputs have shape {shape}, the manifest says {tuple(entry['input_shape'])}")
    bad = [f"expected_{r}" for r in RULES if arrays[f"expected_{r}"].shape != shape]
    if not shape or not shape[0] or bad or arrays["targets"].ndim != 2 or len(arrays["targets"]) != shape[0]:
        raise ValueError(f"{where}: {bad or 'targets'} do not fit inputs of shape {shape}")
    return Vector(entry["name"], layers, shape, bool(entry["ties"]), arrays, graph)


def load(directory) -> list[Vector]:
    """The vectors in ``directory``, checked against the manifest (see the module docstring)."""
    directory = Path(directory)
    path = directory / "manifest.json"
    if not path.is_file():
        raise ValueError(f"vectors: no manifest.json in {directory}")
    try:
        manifest = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"vectors: {path} is not valid JSON: {err}") from err
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        got = manifest.get("format") if isinstance(manifest, dict) else type(manifest).__name__
        raise ValueError(f"vectors: {path}: format must be {FORMAT!r}, got {got!r}")
    if not isinstance(manifest.get("cases"), list) or "refdeconv_version" not in manifest:
        raise ValueError(f"vectors: {path} needs 'refdeconv_version' and a list of 'cases'")
    return [_load_entry(directory, entry, i) for i, entry in enumerate(manifest["cases"])]


def check(directory, maps, rule: str = "deconvnet", name: str | None = None) -> Report:
    """Compare a candidate's maps (an ``.npz`` path or a mapping, one array per case name) with the vectors.

    Each map is held to the tolerance of its own dtype; a missing map, or one
    of the wrong shape or dtype, fails its case with that error.
    """
    if rule not in RULES:
        raise ValueError(f"rule: expected one of {RULES}, got {rule!r}")
    vectors = load(directory)
    if not hasattr(maps, "keys"):
        name, maps = name or str(maps), read_arrays(maps, f"maps: {maps}")
    report = Report(name or "maps", rule)
    for vector in vectors:
        got, key, error = maps.get(vector.name), None, None
        if got is None:
            error = f"no array named {vector.name!r} in the maps"
        elif np.asarray(got).dtype.name not in _MAP_DTYPES:
            error = f"a map of dtype {np.asarray(got).dtype}: expected one of {_MAP_DTYPES}"
        else:
            key = np.asarray(got).dtype.name
        report.add(vector.name, got, vector.references(), key, vector.ties, error)
    return report
