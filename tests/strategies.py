"""Hypothesis strategies: small networks of every supported layer, for the three
input shapes, with their weights and inputs.

A drawn network is a :class:`NetSpec`: plain data (layer dicts in the
vocabulary of the test vectors) that :mod:`tests.builders` turns into Keras
models of any style. Weights and inputs come from a drawn seed, so an example
replays exactly and shrinks by architecture.

Sequence networks also draw recurrent layers (``SimpleRNN``, ``LSTM``, ``GRU``, alone or in a
``Bidirectional`` with any single-output merge mode), mostly with ReLU cells.

Size caps keep every example tiny (an oracle check must take milliseconds):
at most 4 hidden blocks, 4 channels, 4 units, spatial extents up to 9, N up to 3.

``ties=True`` draws integer weights in {-1, 0, 1} and integer inputs in
[-2, 2] and leaves out layers that would make values non-integer (average
pooling, batch normalisation, smooth activations): every value is then an
exactly represented integer, max-pool windows tie often, and both TensorFlow
and the reference see the same ties, so the tie rule itself is under test.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import numpy as np
from hypothesis import assume
from hypothesis import strategies as st

from refdeconv.conformance.maxima import near_ties

KINDS = ("dense", "sequence", "image")

#: Every way a ReLU can be written in a Keras 3 model (DESIGN.md §3), as the builder emits it.
RELU_FORMS = ("activation", "layer", "activation_layer", "relu6", "capped", "thresholded")
#: Non-ReLU nonlinearities: their ordinary derivative under every rule.
OTHER_ACTIVATIONS = ("tanh", "sigmoid", "elu", "leaky_relu", "silu", "softplus")
#: Recurrent layers drawn in sequence networks (their cells run in a ``while`` loop).
RECURRENT = ("simplernn", "lstm", "gru")

MAX_BLOCKS, MAX_CHANNELS, MAX_BATCH = 4, 4, 3


@dataclass
class NetSpec:
    """A drawn network: input shape without batch, layer dicts, weight seed, tie mode."""

    kind: str
    input_shape: tuple
    layers: list = field(default_factory=list)
    seed: int = 0
    ties: bool = False

    def weights(self, layer_index: int, shapes: list[tuple]) -> list[np.ndarray]:
        """Deterministic weights of one layer (by position in ``layers`` and shapes)."""
        rng = np.random.default_rng([self.seed, layer_index])
        spec = self.layers[layer_index]
        if spec["type"] == "batchnorm":  # gamma, beta, moving mean, moving variance
            return [rng.uniform(0.5, 1.5, s) if i in (0, 3) else rng.normal(0, 0.3, s) for i, s in enumerate(shapes)]
        if self.ties:
            return [rng.integers(-1, 2, s).astype(np.float64) for s in shapes]
        kernel = rng.normal(0.0, 1.0 / np.sqrt(np.prod(shapes[0][:-1])), shapes[0])
        return [kernel] + [rng.normal(0.0, 0.3, s) for s in shapes[1:]]

    def inputs(self, n: int, seed: int) -> np.ndarray:
        """A float64 batch of ``n`` inputs."""
        rng = np.random.default_rng([self.seed, seed, 7])
        shape = (n, *self.input_shape)
        return rng.integers(-2, 3, shape).astype(np.float64) if self.ties else rng.normal(0.0, 1.0, shape)


def _relu(draw, ties: bool) -> dict:
    form = draw(st.sampled_from(RELU_FORMS[1:]), label="relu form")
    spec = {"type": "relu", "form": form}
    if form == "capped":
        spec["max_value"] = draw(st.sampled_from([2.5, 6.0] if ties else [0.5, 1.5, 6.0]), label="max_value")
    if form == "thresholded":
        spec["threshold"] = draw(st.sampled_from([0.5, 1.5] if ties else [0.1, 0.3]), label="threshold")
    return spec


def _activation(draw, ties: bool, allow_other: bool) -> str | dict | None:
    """What follows a linear layer: nothing, a fused ``activation=``, or a separate layer."""
    choices = ["linear", "relu", "separate"] + (["other"] if allow_other and not ties else [])
    pick = draw(st.sampled_from(choices), label="activation")
    if pick == "separate":
        return _relu(draw, ties)
    if pick == "other":
        return draw(st.sampled_from(OTHER_ACTIVATIONS), label="other activation")
    return pick


def _window(draw, extent: list[int], dims: int, dilated: bool) -> dict | None:
    size = draw(st.integers(1, 3), label="window")
    strides = draw(st.integers(1, 3), label="strides")
    dilation = draw(st.integers(1, 2), label="dilation") if dilated and strides == 1 else 1
    padding = draw(st.sampled_from(["valid", "same"]), label="padding")
    reach = (size - 1) * dilation + 1
    if padding == "valid" and any(e < reach for e in extent):
        padding = "same"
    return {"kernel_size" if dilated else "pool_size": size, "strides": strides, "padding": padding,
            **({"dilation_rate": dilation} if dilated else {})}


def _out_extent(extent: list[int], w: dict) -> list[int]:
    size = w.get("kernel_size", w.get("pool_size"))
    reach = (size - 1) * w.get("dilation_rate", 1) + 1
    if w["padding"] == "same":
        return [-(-e // w["strides"]) for e in extent]
    return [(e - reach) // w["strides"] + 1 for e in extent]


def _recurrent(draw) -> dict:
    """A recurrent layer over the sequence (all steps returned, so the extent is kept), usually with
    ReLU cells: the rule must reach every time step inside the loop (``unroll=False``)."""
    return {"type": draw(st.sampled_from(RECURRENT), label="recurrent layer"),
            "units": draw(st.integers(1, MAX_CHANNELS), label="units"),
            "activation": draw(st.sampled_from(["relu", "relu", "tanh"]), label="cell activation"),
            "bidirectional": draw(st.sampled_from([None, "concat", "sum", "mul", "ave"]), label="bidirectional")}


def _block(draw, kind: str, extent: list[int], ties: bool) -> tuple[list[dict], list[int]]:
    dims = {"dense": 0, "sequence": 1, "image": 2}[kind]
    choices = ["dense", "relu", "dropout"] + ([] if ties else ["batchnorm", "other"])
    if dims:
        choices += ["conv", "conv", "maxpool", "maxpool"] + ([] if ties else ["avgpool"])
    if dims == 1 and not ties:
        choices += ["recurrent"]
    pick = draw(st.sampled_from(choices), label="block")
    if pick == "recurrent":
        return [_recurrent(draw)], extent
    if pick == "dense":
        layer = {"type": "dense", "units": draw(st.integers(1, MAX_CHANNELS), label="units")}
    elif pick == "conv":
        layer = {"type": f"conv{dims}d", "filters": draw(st.integers(1, MAX_CHANNELS), label="filters"),
                 **_window(draw, extent, dims, dilated=True)}
        extent = _out_extent(extent, layer)
    elif pick in ("maxpool", "avgpool"):
        layer = {"type": f"{pick}{dims}d", **_window(draw, extent, dims, dilated=False)}
        return [layer], _out_extent(extent, layer)
    elif pick == "relu":
        return [_relu(draw, ties)], extent
    elif pick == "other":
        return [{"type": "activation", "name": draw(st.sampled_from(OTHER_ACTIVATIONS), label="other")}], extent
    else:
        return [{"type": pick}], extent
    act = _activation(draw, ties, allow_other=True)
    if isinstance(act, dict):
        return [layer, act], extent
    if act in OTHER_ACTIVATIONS:
        return [layer, {"type": "activation", "name": act}], extent
    return [{**layer, "activation": act}], extent


@st.composite
def networks(draw, kind: str | None = None, ties: bool | None = None, recurrent: bool = False) -> NetSpec:
    """A small network of supported layers ending in a ``Dense`` head of 1-4 classes.

    ``recurrent=True``: a sequence network whose first block is a recurrent layer.
    """
    if recurrent:
        kind, ties = "sequence", False
    kind = kind or draw(st.sampled_from(KINDS), label="kind")
    ties = draw(st.booleans(), label="ties") if ties is None else ties
    dims = {"dense": 0, "sequence": 1, "image": 2}[kind]
    extent = [draw(st.integers(3, 9), label="extent") for _ in range(dims)]
    channels = draw(st.integers(1, 3 if dims else 8), label="channels")
    input_shape = (*extent, channels)
    layers = [_recurrent(draw)] if recurrent else []
    for _ in range(draw(st.integers(0 if recurrent else 1, MAX_BLOCKS), label="blocks")):
        new, extent = _block(draw, kind, extent, ties)
        layers += new
    if dims:
        head = draw(st.sampled_from(["flatten", "globalavgpool", "globalmaxpool"]), label="head")
        layers.append({"type": head if head == "flatten" else f"{head}{dims}d"})
    classes = draw(st.integers(1, 4), label="classes")
    softmax_ok = classes > 1 and not ties  # a softmax over one class is constant
    final = draw(st.sampled_from(["linear", "softmax"] if softmax_ok else ["linear"]), label="output activation")
    layers.append({"type": "dense", "units": classes, "activation": final})
    seed = draw(st.integers(0, 2**32 - 1), label="weight seed")
    return NetSpec(kind, input_shape, layers, seed, ties)


def _near_ties(spec: NetSpec, x: np.ndarray) -> list[str]:
    """:func:`~refdeconv.conformance.maxima.near_ties` of the network on ``x``; building the Keras
    model draws from Python's ``random`` (layer seeds), whose state a strategy must leave as it was."""
    from tests.builders import build

    state = random.getstate()
    try:
        return near_ties(build(spec, "sequential"), [x])
    finally:
        random.setstate(state)


@st.composite
def cases(draw, kind: str | None = None, ties: bool | None = None, recurrent: bool = False):
    """A network, a batch of inputs and one-hot targets: ``(spec, x, targets)``."""
    spec = draw(networks(kind, ties, recurrent), label="network")
    n = draw(st.integers(1, MAX_BATCH), label="batch size")
    x = spec.inputs(n, draw(st.integers(0, 2**32 - 1), label="input seed"))
    if not spec.ties:  # a near tie is decided by rounding, not by the model: no two correct maps agree
        assume(not _near_ties(spec, x))
    classes = spec.layers[-1]["units"]
    labels = draw(st.lists(st.integers(0, classes - 1), min_size=n, max_size=n), label="target classes")
    return spec, x, np.eye(classes)[labels]
