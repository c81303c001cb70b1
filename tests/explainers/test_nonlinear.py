"""Every nonlinearity whose gradient is not the rule's is named, read from the graph (``refdeconv.explainers.nonlinear``).

Covers issue 23, item 6: for every function of ``keras.activations`` and the nonlinear
``keras.ops`` in a small model, the explainer's record and its one warning name the non-ReLU
nonlinearity (Keras's exact GELU emits ``Erfc``, which a list of remembered op names missed), and
its map is the plain gradient's (no ReLU: the rule changes nothing); ReLUs get the rule; a linear
model names nothing. A planted op list that forgets an op is caught.
"""

import warnings

import keras
import numpy as np
import pytest
from keras import ops

from refdeconv import DeconvNet, Gradient
from refdeconv.explainers import nonlinear
from refdeconv.testing import assert_maps_close

L = keras.layers
RELUS = {"relu", "relu6"}
ACTIVATIONS = sorted(n for n in dir(keras.activations) if not n.startswith("_") and n not in ("get", "serialize", "deserialize"))
ARGUMENTS = {"threshold": {"threshold": 0.5, "default_value": 0.0}}

#: Nonlinear ``keras.ops`` (and compositions users write), each applied to a dense layer's output.
OPS = {
    "exp": ops.exp, "expm1": ops.expm1, "sin": ops.sin, "cos": ops.cos, "tanh": ops.tanh, "sigmoid": ops.sigmoid,
    "erf": ops.erf, "abs": ops.abs, "square": ops.square, "softplus": ops.softplus, "arctan": ops.arctan,
    "sinh": ops.sinh, "log_sigmoid": ops.log_sigmoid, "cube": lambda t: ops.power(t, 3), "t*t": lambda t: t * t,
    "maximum(t, 0)": lambda t: ops.maximum(t, 0.0), "minimum(t, 1)": lambda t: ops.minimum(t, 1.0),
    "clip": lambda t: ops.clip(t, -1.0, 1.0), "where": lambda t: ops.where(t > 0, t, 0.1 * t),
    "softmax": ops.softmax, "log_softmax": ops.log_softmax, "gelu": lambda t: ops.gelu(t, approximate=False),
    "silu": ops.silu, "sqrt(1 + t^2)": lambda t: ops.sqrt(1.0 + ops.square(t)), "t / (1 + |t|)": lambda t: t / (1.0 + ops.abs(t)),
}


def _branches(functions: dict):
    """One model, one branch per function (each in a ``Lambda`` named after it), no ReLU."""
    keras.utils.set_random_seed(0)
    inp = keras.Input((4,))
    h = L.Dense(6)(inp)
    outs = [L.Dense(2)(L.Lambda(f, name=f"b{i}")(h)) for i, f in enumerate(functions.values())]
    return keras.Model(inp, L.Dense(3)(L.Concatenate()(outs))), {f"b{i}": name for i, name in enumerate(functions)}


def _explain(model):
    x, y = np.random.default_rng(1).normal(size=(3, 4)).astype("float32"), np.array([0, 1, 2])
    explainer = DeconvNet(model)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        maps = explainer.explain(x, y).numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain = Gradient(model).explain(x, y).numpy()
    return maps, plain, explainer.rules_applied, [str(w.message) for w in caught]


def _named_branches(functions: dict, linear=()) -> None:
    """Each nonlinear branch named in the record (and its types in the warning), the linear ones
    not; DeconvNet's map is the plain gradient's."""
    model, names = _branches(functions)
    maps, plain, record, messages = _explain(model)
    assert all(e["rule"] == "gradient" for e in record), record
    for branch, name in names.items():
        entries = [e for e in record if any(part.split("_")[0] == branch for part in e["op"].split("/"))]
        if name in linear:
            assert not entries, f"{name} is linear, yet named: {entries}"
        else:
            assert entries, f"{name}: not named in the record {record}"
            assert any("ordinary gradient" in m and entries[0]["type"] in m for m in messages), (name, messages)
    assert_maps_close(maps, plain.astype("float64"), "float32", "DeconvNet is the plain gradient without ReLUs")


def test_every_keras_activation():
    functions = {name: (lambda f, kw: lambda t: f(t, **kw))(getattr(keras.activations, name), ARGUMENTS.get(name, {}))
                 for name in ACTIVATIONS if name not in RELUS}
    _named_branches(functions, linear={"linear"})


@pytest.mark.parametrize("name", sorted(RELUS))
def test_relu_activations_get_the_rule(name):
    model, _ = _branches({name: getattr(keras.activations, name)})
    _, _, record, _ = _explain(model)
    assert record and all(e["rule"] == "deconvnet" for e in record), record


def test_every_nonlinear_keras_op():
    _named_branches(OPS)


def test_a_linear_model_names_nothing():
    """Products with a weight, divisions by a constant, reshapes, sums, average pooling: linear."""
    inp = keras.Input((4, 4, 2))
    h = L.Conv2D(3, 2, padding="same")(inp)
    h = L.Lambda(lambda t: ops.reshape(t * 2.0 / 3.0 - 1.0, (-1, 4, 4, 3)))(h)
    h = L.AveragePooling2D(2)(L.BatchNormalization()(h))
    model = keras.Model(inp, L.Dense(2)(L.Flatten()(h)))
    explainer = DeconvNet(model)
    with pytest.warns(UserWarning, match="no ReLU"):
        explainer.explain(np.ones((2, 4, 4, 2), "float32"), np.array([0, 1]))
    assert explainer.rules_applied == [], explainer.rules_applied


def test_a_forgotten_op_would_be_caught(monkeypatch):
    """Planted: ``Erfc`` taken for a linear op (as a remembered list of nonlinearities missed it)."""
    monkeypatch.setattr(nonlinear, "LINEAR", nonlinear.LINEAR | {"Erfc", "Mul"})
    model, _ = _branches({"gelu": lambda t: keras.activations.gelu(t, approximate=False)})
    _, _, record, _ = _explain(model)
    assert record == [], "the planted fault should hide GELU from the record"
