"""Hypothesis strategies: small PyTorch networks of every layer family the ONNX oracle reads.

A drawn network is a :class:`TorchSpec` (plain data, layout NCHW / NCT / NF), built
into an ``nn.Module`` by :func:`build`. The layer families are those of the Keras
strategies (:mod:`tests.strategies`): dense, sequence ``(N, C, T)`` (``Conv1d``) and image
``(N, C, H, W)`` (``Conv2d``) networks; convolutions with strides, dilation, groups and
padding (``"same"`` too); max-pooling (``ceil_mode``, padding, dilation, overlapping
windows); average pooling (``count_include_pad`` both ways, ``ceil_mode``); adaptive and
global average pooling; batch normalisation in eval mode; linear layers; flatten;
residual adds and channel concatenations; and non-ReLU nonlinearities, which keep their
derivative.

Every ReLU writing of PyTorch is drawn (:data:`RELU_WRITINGS`): ``nn.ReLU()``,
``nn.ReLU(inplace=True)``, one ``nn.ReLU`` module reused at several places (in place or
not), ``F.relu``, ``torch.relu``, ``torch.clamp(x, min=0)``, ``torch.clamp(x, min=0,
max=m)``, ``nn.ReLU6`` and ``F.hardtanh(x, 0, 6)``. :func:`build` takes an ``act`` hook
that makes each ReLU-family site: :func:`writing` (the default) gives the site's real
writing, which is what gets exported; :func:`tests.torch_rules.rule_act` a rule's
autograd function. Weights come from the spec's seed, so both builds are the same network.

Size caps: at most 4 blocks, 4 channels, spatial extents up to 9, N up to 3.
``ties=True`` draws weights in {-1, 0, 1} and inputs in [-2, 2] and leaves out every
layer that would make values non-integer (average pooling, batch normalisation, smooth
activations, softmax): max-pool windows then tie exactly, and ``z == 0`` and ``z == m``
at capped ReLUs happen, in float32 as in float64.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from hypothesis import assume
from hypothesis import strategies as st
from torch import nn

KINDS = ("dense", "sequence", "image")
#: Every way a ReLU is written in PyTorch; "reused" is one module shared by all such sites.
RELU_WRITINGS = ("module", "inplace", "reused", "F.relu", "torch.relu", "clamp", "clamp_max", "relu6", "hardtanh")
#: Non-ReLU nonlinearities: their ordinary derivative under every rule.
OTHER_ACTIVATIONS = {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "leaky_relu": nn.LeakyReLU, "gelu": nn.GELU,
                     "silu": nn.SiLU, "elu": nn.ELU}
MAX_BLOCKS, MAX_CHANNELS, MAX_BATCH = 4, 4, 3


@dataclass
class TorchSpec:
    """A drawn network: input shape without batch (channels first), layer dicts, weight seed,
    tie mode, dtype name, and whether the shared ("reused") ReLU module works in place."""

    kind: str
    input_shape: tuple
    layers: list = field(default_factory=list)
    seed: int = 0
    ties: bool = False
    dtype: str = "float64"
    shared_inplace: bool = False

    def inputs(self, n: int, seed: int) -> np.ndarray:
        """A batch of ``n`` inputs in the network's dtype."""
        rng = np.random.default_rng([self.seed, seed, 7])
        shape = (n, *self.input_shape)
        x = rng.integers(-2, 3, shape) if self.ties else rng.normal(0.0, 1.0, shape)
        return x.astype(self.dtype)


class Fn(nn.Module):
    """A functional call (``F.relu``, ``torch.clamp``...) as a step of the network."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


def writing(site: dict):
    """The real PyTorch writing of a ReLU-family site (what is exported)."""
    cap = site.get("cap")
    return {"module": nn.ReLU, "inplace": lambda: nn.ReLU(inplace=True),
            "reused": lambda: nn.ReLU(inplace=site.get("inplace", False)),
            "F.relu": lambda: Fn(F.relu), "torch.relu": lambda: Fn(torch.relu),
            "clamp": lambda: Fn(lambda x: torch.clamp(x, min=0.0)),
            "clamp_max": lambda: Fn(lambda x: torch.clamp(x, min=0.0, max=cap)),
            "relu6": nn.ReLU6, "hardtanh": lambda: Fn(lambda x: F.hardtanh(x, 0.0, 6.0))}[site["writing"]]()


class Residual(nn.Module):
    """``x + branch(x)``."""

    def __init__(self, branch):
        super().__init__()
        self.branch = branch

    def forward(self, x):
        return x + self.branch(x)


class Concat(nn.Module):
    """Two branches concatenated along the channel (feature) axis."""

    def __init__(self, a, b):
        super().__init__()
        self.a, self.b = a, b

    def forward(self, x):
        return torch.cat([self.a(x), self.b(x)], dim=1)


def _module(layer: dict, dims: int, make_act, shared):
    t = layer["type"]
    nd = f"{dims}d"
    if t == "relu":
        return shared if layer["writing"] == "reused" else make_act(layer)
    if t in ("residual", "concat"):
        branches = [nn.Sequential(*(_module(sub, dims, make_act, shared) for sub in b)) for b in layer["branches"]]
        return Residual(*branches) if t == "residual" else Concat(*branches)
    if t == "conv":
        conv = {1: nn.Conv1d, 2: nn.Conv2d}[dims]
        return conv(layer["in"], layer["out"], layer["kernel"], layer["stride"], layer["padding"], layer["dilation"],
                    layer["groups"])
    if t == "maxpool":
        return getattr(nn, f"MaxPool{nd}")(layer["kernel"], layer["stride"], layer["padding"], layer["dilation"],
                                           ceil_mode=layer["ceil_mode"])
    if t == "avgpool":
        return getattr(nn, f"AvgPool{nd}")(layer["kernel"], layer["stride"], layer["padding"], layer["ceil_mode"],
                                           layer["count_include_pad"])
    if t in ("adaptiveavg", "adaptivemax"):
        pool = getattr(nn, f"Adaptive{t[8:].capitalize()}Pool{nd}")(layer["size"])
        return nn.Sequential(pool, nn.Flatten()) if layer.get("flatten") else pool
    return {"linear": lambda: nn.Linear(layer["in"], layer["out"]), "flatten": nn.Flatten,
            "batchnorm": lambda: getattr(nn, f"BatchNorm{max(dims, 1)}d")(layer["in"]),
            "dropout": lambda: nn.Dropout(0.5), "softmax": lambda: nn.Softmax(dim=-1),
            "other": lambda: OTHER_ACTIVATIONS[layer["name"]]()}[t]()


def _set_weights(net: nn.Module, spec: TorchSpec) -> None:
    """Deterministic weights and batch-norm statistics, by position among the parametrised modules."""
    parametrised = [m for m in net.modules() if isinstance(m, (nn.Linear, nn.modules.conv._ConvNd,
                                                               nn.modules.batchnorm._BatchNorm))]
    for i, m in enumerate(parametrised):
        rng = np.random.default_rng([spec.seed, i])
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            values = {"weight": rng.uniform(0.5, 1.5, m.num_features), "bias": rng.normal(0, 0.3, m.num_features),
                      "running_mean": rng.normal(0, 0.3, m.num_features),
                      "running_var": rng.uniform(0.5, 1.5, m.num_features)}
        elif spec.ties:
            values = {"weight": rng.integers(-1, 2, m.weight.shape), "bias": rng.integers(-1, 2, m.bias.shape)}
        else:
            fan_in = math.prod(m.weight.shape[1:])
            values = {"weight": rng.normal(0.0, 1.0 / math.sqrt(fan_in), m.weight.shape),
                      "bias": rng.normal(0.0, 0.3, m.bias.shape)}
        with torch.no_grad():
            for name, v in values.items():
                getattr(m, name).copy_(torch.as_tensor(v, dtype=torch.float64))


def build(spec: TorchSpec, act=writing) -> nn.Module:
    """The network of ``spec`` in eval mode and its dtype; ``act(site)`` makes each ReLU-family
    site (called once for the shared module of the "reused" sites)."""
    dims = {"dense": 0, "sequence": 1, "image": 2}[spec.kind]
    shared = act({"type": "relu", "writing": "reused", "inplace": spec.shared_inplace})
    net = nn.Sequential(*(_module(layer, dims, act, shared) for layer in spec.layers))
    net = net.to(getattr(torch, spec.dtype)).eval()
    _set_weights(net, spec)
    return net


@dataclass
class _State:
    """What a block sees while a network is drawn: its input's channels and extents, whether that
    tensor is fresh (not the network's or a branch's input: an in-place ReLU may overwrite it)."""

    dims: int
    ties: bool
    shared_inplace: bool
    c: int
    extent: list
    fresh: bool = False
    # a ceil-mode pool dropped a window that would start past the input and its padding: ONNX's shape
    # inference counts it, so sizes the exporter or onnxruntime infer statically are wrong from here
    dropped: bool = False


def _relu(draw, s: _State) -> dict:
    banned = set() if s.fresh else {"inplace"} | ({"reused"} if s.shared_inplace else set())
    site = {"type": "relu", "writing": draw(st.sampled_from([w for w in RELU_WRITINGS if w not in banned]),
                                            label="relu writing")}
    if site["writing"] == "clamp_max":
        site["cap"] = draw(st.sampled_from([2.0, 6.0] if s.ties else [0.5, 1.5, 6.0]), label="clamp max")
    elif site["writing"] in ("relu6", "hardtanh"):
        site["cap"] = 6.0
    s.fresh = True
    return site


def _activation(draw, s: _State) -> list[dict]:
    """What follows a convolution or linear layer: nothing, a ReLU-family site or another nonlinearity."""
    pick = draw(st.sampled_from(["none", "relu", "relu"] + ([] if s.ties else ["other"])), label="activation")
    if pick == "other":
        return [{"type": "other", "name": draw(st.sampled_from(sorted(OTHER_ACTIVATIONS)), label="other")}]
    return [_relu(draw, s)] if pick == "relu" else []


def _linear(draw, s: _State, out: int | None = None, same: bool = False) -> dict:
    """A convolution (``dims`` > 0) or a linear layer from ``s.c`` channels; ``same``: extents kept."""
    out = out or draw(st.integers(1, MAX_CHANNELS), label="channels out")
    layer = {"type": "conv" if s.dims else "linear", "in": s.c, "out": out}
    s.c, s.fresh = out, True
    if not s.dims:
        return layer
    k = draw(st.sampled_from([1, 3]) if same else st.integers(1, 3), label="kernel")
    stride = 1 if same else draw(st.integers(1, 3), label="stride")
    d = draw(st.integers(1, 2), label="dilation") if stride == 1 else 1
    reach = (k - 1) * d + 1
    pad = (reach // 2 if same else
           draw(st.sampled_from((["same"] if stride == 1 else []) + list(range(reach // 2 + 1))), label="padding"))
    if pad != "same" and min(s.extent) + 2 * pad < reach:
        pad = reach // 2
    groups = draw(st.sampled_from([g for g in range(1, 5) if layer["in"] % g == 0 and out % g == 0]), label="groups")
    if pad != "same":
        s.extent = [(e + 2 * pad - reach) // stride + 1 for e in s.extent]
    return {**layer, "kernel": k, "stride": stride, "padding": pad, "dilation": d, "groups": groups}


def _pool(draw, s: _State, kind: str) -> dict:
    k, stride = draw(st.integers(1, 3), label="pool size"), draw(st.integers(1, 3), label="pool stride")
    pad = draw(st.integers(0, k // 2), label="pool padding")
    d = draw(st.integers(1, 2), label="pool dilation") if kind == "maxpool" else 1
    ceil = draw(st.booleans(), label="ceil_mode")
    if min(s.extent) + 2 * pad < (k - 1) * d + 1 or min(s.extent) < 3:  # dilated windows over 1-2 cells can
        k, pad, d = (k, pad, 1) if min(s.extent) + 2 * pad >= k else (1, 0, 1)  # fall wholly in the padding (-inf)
    out = [(e + 2 * pad - (k - 1) * d - 1 + (stride - 1 if ceil else 0)) // stride + 1 for e in s.extent]
    drop = [ceil and (o - 1) * stride >= e + pad for o, e in zip(out, s.extent)]
    s.extent, s.dropped = [o - d for o, d in zip(out, drop)], s.dropped or any(drop)
    layer = {"type": kind, "kernel": k, "stride": stride, "padding": pad, "ceil_mode": ceil}
    if kind == "avgpool":
        return {**layer, "count_include_pad": draw(st.booleans(), label="count_include_pad")}
    return {**layer, "dilation": d}


def _branches(draw, s: _State, kind: str) -> dict:
    """A residual block (``x + f(x)``) or a concatenation of two branches, each starting with a
    convolution or linear layer that keeps the extents."""
    c, branches = s.c, []
    for width in ([c] if kind == "residual" else [draw(st.integers(1, 2), label="branch channels")
                                                   for _ in range(2)]):
        s.c = c
        branch = [_linear(draw, s, width, same=True)] + _activation(draw, s)
        if kind == "residual" and s.dims and draw(st.booleans(), label="second convolution"):
            branch += [_linear(draw, s, width, same=True)]
        branches.append(branch)
    s.c, s.fresh = (c if kind == "residual" else sum(b[0]["out"] for b in branches)), True
    return {"type": kind, "branches": branches}


def _block(draw, s: _State) -> list[dict]:
    choices = ["linear", "linear", "relu", "dropout", "residual", "concat"] + ([] if s.ties else ["batchnorm", "other"])
    if s.dims:
        choices += ["maxpool", "maxpool"] + ([] if s.ties else ["avgpool"] + ([] if s.dropped else ["adaptiveavg"]))
    pick = draw(st.sampled_from(choices), label="block")
    if pick == "linear":
        return [_linear(draw, s)] + _activation(draw, s)
    if pick in ("maxpool", "avgpool"):
        s.fresh = True
        return [_pool(draw, s, pick)]
    if pick in ("residual", "concat"):
        return [_branches(draw, s, pick)]
    if pick == "relu":
        return [_relu(draw, s)]
    if pick == "adaptiveavg":
        s.extent, s.fresh = [draw(st.sampled_from([d for d in range(1, e + 1) if e % d == 0]), label="adaptive size")
                             for e in s.extent], True
        return [{"type": "adaptiveavg", "size": tuple(s.extent) if s.dims == 2 else s.extent[0]}]
    if pick == "other":
        s.fresh = True
        return [{"type": "other", "name": draw(st.sampled_from(sorted(OTHER_ACTIVATIONS)), label="other")}]
    s.fresh = s.fresh or pick == "batchnorm"  # dropout in eval mode passes its input through
    return [{"type": pick, "in": s.c}]


@st.composite
def networks(draw, kind: str | None = None, ties: bool | None = None) -> TorchSpec:
    """A small network ending in a ``Linear`` head of 1-4 classes (a softmax after it sometimes)."""
    kind = kind or draw(st.sampled_from(KINDS), label="kind")
    ties = draw(st.booleans(), label="ties") if ties is None else ties
    dims = KINDS.index(kind)
    extent = [draw(st.integers(3, 9), label="extent") for _ in range(dims)]
    channels = draw(st.integers(1, 3 if dims else 8), label="channels")
    s = _State(dims, ties, draw(st.booleans(), label="shared relu in place"), channels, extent)
    layers = []
    for _ in range(draw(st.integers(1, MAX_BLOCKS), label="blocks")):
        layers += _block(draw, s)
    features = s.c
    if dims:
        # after a dropped window, the TorchScript exporter sizes AdaptiveMaxPool(1)'s kernel (and a
        # flatten) from ONNX's inferred extent, one too many: a graph no longer PyTorch's network
        heads = ([] if s.dropped else ["adaptivemax", "flatten"]) + ([] if ties else ["adaptiveavg"])
        assume(heads)
        head = draw(st.sampled_from(heads), label="head")
        layers.append({"type": "flatten"} if head == "flatten" else {"type": head, "size": 1, "flatten": True})
        features *= math.prod(s.extent) if head == "flatten" else 1
    classes = draw(st.integers(1, 4), label="classes")
    layers.append({"type": "linear", "in": features, "out": classes})
    if classes > 1 and not ties and draw(st.booleans(), label="softmax"):
        layers.append({"type": "softmax"})
    dtype = draw(st.sampled_from(["float64", "float32"]), label="dtype")
    return TorchSpec(kind, (channels, *extent), layers, draw(st.integers(0, 2**32 - 1), label="weight seed"), ties,
                     dtype, s.shared_inplace)


@st.composite
def cases(draw, kind: str | None = None, ties: bool | None = None):
    """A network, a batch of inputs in its dtype and float64 one-hot targets: ``(spec, x, targets)``."""
    spec = draw(networks(kind, ties), label="network")
    n = draw(st.integers(1, MAX_BATCH), label="batch size")
    x = spec.inputs(n, draw(st.integers(0, 2**32 - 1), label="input seed"))
    classes = spec.layers[-2 if spec.layers[-1]["type"] == "softmax" else -1]["out"]
    labels = draw(st.lists(st.integers(0, classes - 1), min_size=n, max_size=n), label="target classes")
    return spec, x, np.eye(classes)[labels]
