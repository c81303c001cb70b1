"""The built-in conformance suite: seeded, versioned networks and the cases built on them.

A :class:`Network` is plain data in the test vectors' layer vocabulary
(:data:`refdeconv.conformance.networks.VOCABULARY`) with seeded weights, inputs and
one-hot targets; the networks are exactly what ``refdeconv vectors export``
writes. A :class:`Case` is a network written one particular way (a ReLU form,
a model kind), fed one input type in one dtype; its reference maps come from
the NumPy oracle on the equivalent float64 model it can read (the same
weights).

Values
------
Weights and inputs are multiples of ``2**-10`` (Gaussian draws, rounded), so
a float32 model holds exactly the float64 reference's weights and inputs.
``integer`` networks draw weights in {-1, 0, 1} and inputs in {-2, ..., 2}
instead: every value is then an exact small integer in float32 too, and
max-pool windows tie, the same ties in TensorFlow and in the reference.
The ``_ties`` networks are built for ties; after a ReLU, all-zero windows tie
in others too (:func:`has_ties` tells, and the reports show it).

Versioning
----------
Every draw is seeded by ``(SUITE_VERSION, crc32(name), ...)``: a given
refdeconv version always produces the same cases. Changing any network or
draw bumps :data:`SUITE_VERSION`.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, replace

import numpy as np

from .. import reference
from . import networks
from .maxima import max_pool_ties

SUITE_VERSION = 1
RULES = ("deconvnet", "gradient", "guided")
INPUT_TYPES = ("ndarray", "tensor", "dataset")


@dataclass(frozen=True)
class Network:
    """A network of the layer vocabulary with its seeded data.

    Parameters
    ----------
    name : str
        Unique name; it seeds every draw.
    input_shape : tuple of int
        One sample's shape: ``(W,)``, ``(T, W)`` or ``(H, W, C)``.
    layers : tuple of dict
        The chain of layers, ending in a ``dense`` head of the classes.
    integer : bool
        Small-integer weights and inputs (exact ties) instead of rounded Gaussians.
    n : int
        Batch size.
    """

    name: str
    input_shape: tuple
    layers: tuple
    integer: bool = False
    n: int = 2

    def _rng(self, *stream) -> np.random.Generator:
        return np.random.default_rng([SUITE_VERSION, zlib.crc32(self.name.encode()), *stream])

    def weights(self, index: int, shapes: list) -> list:
        """``[kernel, bias]`` of layer ``index``, float64, for the given shapes."""
        rng = self._rng(index)
        if self.integer:
            return [rng.integers(-1, 2, s).astype(np.float64) for s in shapes]
        kernel = rng.normal(0.0, 1.0 / np.sqrt(np.prod(shapes[0][:-1])), shapes[0])
        return [np.round(w * 1024) / 1024 for w in (kernel, rng.normal(0.0, 0.3, shapes[1]))]

    def inputs(self) -> np.ndarray:
        """The float64 batch, ``(n, *input_shape)``."""
        rng, shape = self._rng(1000), (self.n, *self.input_shape)
        if self.integer:
            return rng.integers(-2, 3, shape).astype(np.float64)
        return np.round(rng.normal(0.0, 1.0, shape) * 1024) / 1024

    def targets(self) -> np.ndarray:
        """One-hot float64 targets, ``(n, classes)``."""
        classes = self.layers[-1]["units"]
        return np.eye(classes)[self._rng(1001).integers(0, classes, self.n)]

    def model(self, form: str = "layer", kind: str = "sequential", dtype: str = "float64"):
        """A Keras model of the network (see :func:`refdeconv.conformance.networks.build`)."""
        return networks.build(list(self.layers), self.input_shape, self.weights, form, kind, dtype)


@dataclass(frozen=True)
class Case:
    """A network written one way, fed one input type in one dtype.

    ``input_type`` and ``dtype`` other than ``"ndarray"``/``"float32"`` apply
    to refdeconv's own explainers only (:attr:`own_only`): a candidate always
    gets a float32 model and a float32 ndarray.
    """

    network: Network
    form: str = "activation"
    kind: str = "sequential"
    input_type: str = "ndarray"
    dtype: str = "float32"

    @property
    def name(self) -> str:
        """The network's name, then whatever differs from the defaults."""
        extra = [v for v, d in ((self.form, "activation"), (self.kind, "sequential"),
                                (self.input_type, "ndarray"), (self.dtype, "float32")) if v != d]
        return "-".join([self.network.name, *extra])

    @property
    def own_only(self) -> bool:
        """Whether the case exists for refdeconv's own input types and dtypes."""
        return self.input_type != "ndarray" or self.dtype != "float32"

    def model(self):
        """The Keras model under audit."""
        return self.network.model(self.form, self.kind, self.dtype)

    def references(self) -> dict:
        """``rule -> float64 reference map`` on the equivalent model the oracle reads."""
        return reference_maps(self.network, *networks.readable(self.form, self.kind))

    def ties(self) -> bool:
        """Whether a max-pool window of this case holds a tied maximum (see :func:`has_ties`)."""
        return has_ties(self.network, *networks.readable(self.form, self.kind))


_CACHE: dict = {}


def _cached(what: str, network: Network, form: str, kind: str):
    key = (what, repr(network), form, kind)
    if key not in _CACHE:
        compute = _reference_maps if what == "maps" else _has_ties
        _CACHE[key] = compute(network.model(form, kind), network)
    return _CACHE[key]


def reference_maps(network: Network, form: str = "layer", kind: str = "sequential") -> dict:
    """``rule -> float64 map`` of the reference for ``network`` written ``form``/``kind`` (cached)."""
    return _cached("maps", network, form, kind)


def has_ties(network: Network, form: str = "layer", kind: str = "sequential") -> bool:
    """Whether a max-pool window of ``network`` (written ``form``/``kind``) on its inputs
    holds a tied maximum, in the reference's forward pass (cached)."""
    return _cached("ties", network, form, kind)


def _reference_maps(model, network: Network) -> dict:
    oracle = reference.compile(model)  # read once, asked for the three rules from one forward pass
    xs, _ = oracle.inputs(network.inputs())
    return {rule: maps[0] for rule, maps in zip(RULES, oracle.maps(xs, network.targets(), RULES))}


def _has_ties(model, network: Network) -> bool:
    return max_pool_ties(model, [network.inputs()])


def _conv(dims, filters, kernel, strides=1, padding="valid"):
    return {"type": f"conv{dims}d", "filters": filters, "kernel_size": [kernel] * dims,
            "strides": [strides] * dims, "padding": padding}


def _pool(kind, dims, size, strides=None, padding="valid"):
    return {"type": f"{kind}{dims}d", "pool_size": [size] * dims, "strides": [strides or size] * dims,
            "padding": padding}


def _dense(units):
    return {"type": "dense", "units": units}


RELU, FLAT = {"type": "relu"}, {"type": "flatten"}

#: The networks, in the order the vectors list them.
NETWORKS = tuple(Network(*args) for args in [
    ("dense_relu", (8,), (_dense(6), RELU, _dense(3))),
    ("dense_deep", (6,), (_dense(5), RELU, _dense(5), RELU, _dense(3))),
    ("dense_input_relu", (6,), (RELU, _dense(4), RELU, _dense(3))),
    ("seq_conv", (9, 2), (_conv(1, 3, 3), RELU, FLAT, _dense(3))),
    ("seq_strided_same", (10, 2), (_conv(1, 3, 3, 2, "same"), RELU, _conv(1, 2, 2), RELU, FLAT, _dense(3))),
    ("seq_maxpool", (10, 2), (_conv(1, 3, 3, 1, "same"), _pool("maxpool", 1, 2), RELU, FLAT, _dense(3))),
    ("seq_maxpool_ties", (10, 1), (_conv(1, 3, 2), RELU, _pool("maxpool", 1, 2), FLAT, _dense(3)), True, 3),
    ("seq_overlap_pool", (11, 2), (_conv(1, 3, 3), _pool("maxpool", 1, 3, 2), RELU, FLAT, _dense(3))),
    ("seq_avgpool", (10, 2), (_conv(1, 3, 3, 1, "same"), RELU, _pool("avgpool", 1, 2), FLAT, _dense(3))),
    ("image_conv", (6, 6, 2), (_conv(2, 3, 3), RELU, FLAT, _dense(3))),
    ("image_maxpool", (7, 7, 2), (_conv(2, 3, 3, 1, "same"), _pool("maxpool", 2, 2, 2, "same"), RELU, FLAT, _dense(3))),
    ("image_maxpool_ties", (6, 6, 1), (_conv(2, 3, 2), RELU, _pool("maxpool", 2, 2), FLAT, _dense(3)), True, 3),
    ("image_overlap_pool", (7, 7, 2), (_conv(2, 3, 3, 1, "same"), _pool("maxpool", 2, 3, 2), RELU, FLAT, _dense(3))),
    ("image_overlap_pool_ties", (6, 6, 1),
     (_conv(2, 2, 2, 1, "same"), RELU, _pool("maxpool", 2, 2, 1), FLAT, _dense(3)), True),
    ("image_avgpool", (8, 8, 2),
     (_conv(2, 3, 3, 1, "same"), RELU, _pool("avgpool", 2, 2), _conv(2, 3, 2), RELU, FLAT, _dense(3))),
    ("image_deep", (8, 8, 1), (_conv(2, 4, 3, 1, "same"), RELU, _pool("maxpool", 2, 2), _conv(2, 4, 3), RELU,
                               FLAT, _dense(6), RELU, _dense(3))),
    ("image_blocks", (6, 6, 2), (_conv(2, 2, 3, 1, "same"), RELU, _conv(2, 2, 3, 1, "same"), RELU, FLAT, _dense(3))),
    ("no_relu", (8, 8, 1), (_conv(2, 2, 3), _pool("maxpool", 2, 2), FLAT, _dense(3))),
])
_BY_NAME = {net.name: net for net in NETWORKS}

#: The audit suite: every network as written by default, then the variants.
CASES = tuple(Case(net) for net in NETWORKS) + tuple(Case(_BY_NAME[net], *rest) for net, *rest in [
    *[("image_deep", form) for form in networks.FORMS if form != "activation"],
    ("image_deep", "activation", "functional"),
    ("image_deep", "activation", "nested"),
    ("seq_strided_same", "tf.nn", "nested"),
    ("image_deep", "activation", "subclassed"),
    ("dense_deep", "keras.ops", "subclassed"),
    ("image_blocks", "activation", "residual"),
    ("image_blocks", "layer", "residual"),
    ("image_maxpool", "activation", "sequential", "tensor"),
    ("seq_maxpool", "activation", "sequential", "dataset"),
    ("image_deep", "layer", "nested", "dataset"),
    ("dense_deep", "activation", "sequential", "ndarray", "float64"),
    ("image_deep", "activation", "sequential", "ndarray", "float64"),
    ("image_maxpool_ties", "activation", "sequential", "ndarray", "float64"),
])


def reseeded(case: Case, seed: int) -> Case:
    """``case`` with its network renamed ``name@seed``, hence new weights, inputs and targets."""
    return replace(case, network=replace(case.network, name=f"{case.network.name}@{seed}"))


def select(cases=None, own: bool = True) -> list:
    """The cases to run: ``None`` for the suite (without the :attr:`Case.own_only` cases
    when ``own=False``, for a candidate), else case names or :class:`Case` objects."""
    if cases is None:
        return [case for case in CASES if own or not case.own_only]
    by_name, chosen = {case.name: case for case in CASES}, []
    cases = [cases] if isinstance(cases, (str, Case)) else cases
    for item in cases:
        if isinstance(item, str) and item not in by_name:
            raise ValueError(f"cases: no case named {item!r}; the suite has {sorted(by_name)}")
        if not isinstance(item, (str, Case)):
            raise TypeError(f"cases: expected case names or Case objects, got {type(item).__name__}")
        chosen.append(by_name[item] if isinstance(item, str) else item)
    return chosen
