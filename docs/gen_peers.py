"""Write docs/peers.md: the peers' DeconvNet and Guided Backprop audited on each architecture family.

    python docs/gen_peers.py [--out docs/peers.md]

PyTorch: Captum's ``Deconvolution`` and ``GuidedBackprop`` and zennit's ``DeconvNet`` and
``GuidedBackprop`` composites, each through :func:`refdeconv.conformance.pytorch.audit` (export to ONNX, the
peer's own seed convention, the NumPy reference on the exported graph) on the families of
:mod:`refdeconv.conformance.pytorch.architectures`. Keras: Xplique's ``DeconvNet`` and ``GuidedBackprop``
(``reducer=None``: raw maps) on ``keras.applications`` at the smallest input each accepts, audited
with :func:`refdeconv.conformance.map_audit.audit_maps`. Every network has random weights, seeded;
two N(0, 1) inputs (seed 0) and labels ``[1, 3]``. Each cell: pass or FAIL (with the error) against
the rule the peer claims, and the rule its maps follow at each kind of ReLU, as the audit measures
it (``report.model["relu_rules"]``). Then Xplique's ``output_layer``, measured on Xplique's own test
model. The page holds no timing or error magnitude, so the same versions write the same page
(``tests/pytorch/test_peers_page.py`` checks the committed one). Needs torch, onnx, captum, zennit
and xplique 2.0.2 (``pip install --no-deps xplique==2.0.2`` with its import-time dependencies).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from importlib.metadata import version
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

OUT = Path(__file__).with_name("peers.md")
LABELS = np.array([1, 3])
TORCH_PEERS = {"Captum Deconvolution": ("captum.deconvolution", "deconvnet"),
               "Captum GuidedBackprop": ("captum.guided_backprop", "guided"),
               "zennit DeconvNet": ("zennit.deconvnet", "deconvnet"),
               "zennit GuidedBackprop": ("zennit.guided_backprop", "guided")}
XPLIQUE_PEERS = {"Xplique DeconvNet": ("DeconvNet", "deconvnet"),
                 "Xplique GuidedBackprop": ("GuidedBackprop", "guided")}
#: keras.applications family -> smallest input side it accepts (random weights, logits)
KERAS_FAMILIES = {"ResNet50": 32, "VGG16": 32, "MobileNetV2": 32, "DenseNet121": 32, "InceptionV3": 75,
                  "EfficientNetB0": 32, "ConvNeXtTiny": 32}


def cell(report) -> str:
    """``pass`` or ``FAIL``, and the rule the maps follow at each kind of ReLU."""
    entry = report.cases[0]
    if entry["error"]:
        return f"FAIL: {entry['error']}"
    rules = report.model["relu_rules"]
    where = (", ".join(f"{rule} at `{kind}`" for kind, rule in sorted(rules.items()))
             or "no ReLU (every rule is the gradient)")
    verdict = "pass" if report.failed == 0 else f"FAIL (matches {entry['matches']})"
    return f"{verdict}: {where}"


def _guarded(run) -> str:
    """The cell of ``run()``, or the reference's refusal or the peer's error in its place."""
    from refdeconv.conformance.model_audit import UnsupportedModel
    from refdeconv.conformance.pytorch import CandidateError

    try:
        return cell(run())
    except UnsupportedModel as err:
        return f"not audited: {str(err).splitlines()[0]}"
    except CandidateError as err:
        return f"FAIL: the peer raised {str(err).splitlines()[0]}"


def torch_rows() -> dict:
    """Architecture -> peer -> cell, for the PyTorch peers."""
    import torch

    from refdeconv.conformance import pytorch
    from refdeconv.conformance.pytorch.architectures import ARCHITECTURES

    rows = {}
    for name, (factory, shape) in ARCHITECTURES.items():
        torch.manual_seed(0)
        module = factory()
        x = np.random.default_rng(0).standard_normal((len(LABELS), *shape)).astype(np.float32)
        rows[name] = {peer: _guarded(lambda: pytorch.audit(module, x, LABELS, spec, rule))
                      for peer, (spec, rule) in TORCH_PEERS.items()}
        print(name, rows[name], file=sys.stderr)
    return rows


def keras_model(family: str):
    """``keras.applications`` ``family`` at its smallest input, random weights (seed 0), logits."""
    import keras

    keras.utils.set_random_seed(0)
    kwargs = {"include_preprocessing": False} if family.startswith("ConvNeXt") else {}
    side = KERAS_FAMILIES[family]
    return getattr(keras.applications, family)(weights=None, input_shape=(side, side, 3), classes=5,
                                               classifier_activation=None, **kwargs)


def xplique_maps(method: str, model, x: np.ndarray, y: np.ndarray, **kwargs) -> np.ndarray:
    """Xplique's raw maps (``reducer=None``) of ``method`` for one-hot ``y``."""
    import xplique.attributions

    from refdeconv.conformance.pytorch import CandidateError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return getattr(xplique.attributions, method)(model, reducer=None, **kwargs).explain(x, y).numpy()
    except Exception as err:  # noqa: BLE001 - a peer that raises is a finding of the page
        raise CandidateError(f"{type(err).__name__}: {err}") from err


def keras_rows() -> dict:
    """keras.applications family -> Xplique method -> cell."""
    from refdeconv.conformance.map_audit import audit_maps

    rows = {}
    for family, side in KERAS_FAMILIES.items():
        model = keras_model(family)
        x = np.random.default_rng(0).standard_normal((len(LABELS), side, side, 3)).astype(np.float32)
        y = np.eye(5, dtype=np.float32)[LABELS]
        rows[family] = {peer: _guarded(lambda: audit_maps(model, x, y, xplique_maps(method, model, x, y), rule,
                                                          name=peer))
                        for peer, (method, rule) in XPLIQUE_PEERS.items()}
        print(family, rows[family], file=sys.stderr)
    return rows


def xplique_output_layer() -> dict:
    """Xplique's maps with ``output_layer`` at the logits of its own test model, against the cut and uncut reference.

    The model is Xplique's ``tests/utils.py`` ``generate_model`` (Conv2D(4, 2x2, relu), max-pool,
    dropout, flatten, Dense(10), softmax), rebuilt with seed 0; eight inputs from U[0, 1) as its
    tests draw them; ``output_layer=-2`` (the ``Dense`` layer) as its ``test_common`` passes it.
    Returns method -> ``{"cut": scaled error, "uncut": scaled error}``.
    """
    import keras

    from refdeconv import reference
    from refdeconv.testing import map_error

    keras.utils.set_random_seed(0)
    layers = keras.layers
    model = keras.Sequential([keras.Input((32, 32, 3)), layers.Conv2D(4, (2, 2), activation="relu"),
                              layers.MaxPooling2D((2, 2)), layers.Dropout(0.25), layers.Flatten(),
                              layers.Dense(10), layers.Activation("softmax")])
    rng = np.random.default_rng(0)
    x = rng.random((8, 32, 32, 3)).astype(np.float32)
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 8)]
    out = {}
    for peer, (method, rule) in XPLIQUE_PEERS.items():
        got = xplique_maps(method, model, x, y, output_layer=-2)
        out[peer] = {which: float(map_error(got, reference.attribution(model, x, y, rule, layer)).max())
                     for which, layer in (("cut", -2), ("uncut", None))}
    return out


def _table(rows: dict, peers) -> list[str]:
    lines = ["| architecture | " + " | ".join(peers) + " |", "|---" * (len(peers) + 1) + "|"]
    lines += [f"| {name} | " + " | ".join(row[p] for p in peers) + " |" for name, row in rows.items()]
    return lines


def page(torch_table: dict, keras_table: dict, output_layer: dict) -> str:
    """The Markdown of docs/peers.md."""
    from refdeconv.testing import tolerance

    versions = ", ".join(f"{p} {version(p)}" for p in ("torch", "onnx", "captum", "zennit", "xplique", "tensorflow",
                                                       "keras"))
    verdict = {peer: ("the uncut model's map" if e["uncut"] <= tolerance("float32") < e["cut"] else
                      "the cut model's map" if e["cut"] <= tolerance("float32") else "neither map")
               for peer, e in output_layer.items()}
    return "\n".join([
        "# The peers, audited",
        "",
        "*Generated by `docs/gen_peers.py` (do not edit by hand); " + versions + ".*",
        "",
        "Each peer's DeconvNet or Guided Backprop, on one network of each family, audited against the NumPy",
        "reference for the rule the peer claims (DeconvNet: `deconvnet`; Guided Backprop: `guided`). Random",
        "weights (seeded), two N(0, 1) inputs, labels `[1, 3]`. A cell says **pass** or **FAIL** (a failing",
        "map matches the rule named, or `none`), then the rule the maps follow at each kind of ReLU, measured",
        "by the audit: `Relu` is `nn.ReLU`/`F.relu`, `Clip` is `ReLU6` in the ONNX export; the Keras kinds are",
        "the reference's labels. `none` at a kind means no one rule explains the maps there (some of its ReLUs",
        "get the rule, others not). How to run the same audit on your own model: [Auditing](auditing.md).",
        "",
        "## PyTorch: Captum and zennit",
        "",
        "The networks are written out in `refdeconv/conformance/pytorch/architectures.py` as torchvision writes each family",
        "(torchvision does not load against this CPU build of torch), small, exported with the TorchScript",
        "exporter. Each peer gets the score's seed in its own convention (`refdeconv.conformance.pytorch.candidates`):",
        "Captum the class index, zennit the one-hot output gradient.",
        "",
        *_table(torch_table, list(TORCH_PEERS)),
        "",
        "What the table shows, and why:",
        "",
        "- Captum and zennit hook `torch.nn.ReLU` *modules*. A ReLU written `F.relu` (DenseNet's last one,",
        "  every ReLU of GoogLeNet's `BasicConv2d`) or `nn.ReLU6` (MobileNetV2) keeps its plain gradient, so",
        "  the map is DeconvNet's (or Guided Backprop's) only where every ReLU is an `nn.ReLU` module.",
        "- In-place and reused `nn.ReLU` modules (ResNet's blocks) are hooked at every call.",
        "- EfficientNet and ConvNeXt have no ReLU: every rule is the gradient, and the peers pass.",
        "",
        "## Keras: Xplique",
        "",
        "`keras.applications` at the smallest input each accepts, random weights, logits",
        "(`classifier_activation=None`), `reducer=None` (Xplique's default averages the channels).",
        "",
        *_table(keras_table, list(XPLIQUE_PEERS)),
        "",
        "## Xplique's `output_layer`",
        "",
        "Xplique 2.0.2 builds the cut model (`tf.keras.Model(model.inputs, target_layer.output)`) but",
        "differentiates `self.model`, the uncut one. Measured on Xplique's own test model (its",
        "`tests/utils.py` `generate_model`: a ReLU convolution, max-pool, dropout, `Dense(10)`, softmax), with",
        "`output_layer=-2` (the `Dense` layer, as its `test_common` passes it), against the reference's map",
        "of the cut and of the uncut model",
        "(scaled error, float32 tolerance " + f"{tolerance('float32'):g}):",
        "",
        "| method | vs the cut model (logits) | vs the uncut model (softmax) | Xplique returns |",
        "|---|---|---|---|",
        *[f"| {peer} | {'within' if e['cut'] <= tolerance('float32') else 'beyond'} tolerance | "
          f"{'within' if e['uncut'] <= tolerance('float32') else 'beyond'} tolerance | {verdict[peer]} |"
          for peer, e in output_layer.items()],
        "",
        "Xplique's own tests pass `output_layer=-2` and check the maps' number and shape only. Cut the model yourself",
        "(`keras.Model(model.inputs, model.get_layer(name).output)`) before giving it to Xplique.",
        "",
        "## Seed conventions",
        "",
        "refdeconv's map is `d s / d x` of the score `s = sum_k f_k y_k` (one-hot `y`: the selected output).",
        "Captum seeds the backward pass with 1 at its `target` index; zennit with the output gradient it is",
        "given (`attr_output`; without it, the whole output vector); Xplique with the target vector;",
        "iNNvestigate's DeconvNet and Guided Backprop with the output value at the top class. The audit gives",
        "each its convention, so the table compares rules, not seeds.",
        ""])


def main(argv=None) -> Path:
    """Audit every peer and write the page; returns its path."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT, help=f"where the page goes (default: {OUT})")
    args = parser.parse_args(argv)
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")  # Xplique retraces its gradient for every explainer, and says so
    start = time.perf_counter()
    sections = []
    for section in (torch_rows, keras_rows, xplique_output_layer):
        sections.append(section())
        print(f"{section.__name__}: {time.perf_counter() - start:.0f} s", file=sys.stderr)
    args.out.write_text(page(*sections))
    return args.out


if __name__ == "__main__":
    print(main())
