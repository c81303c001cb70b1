"""The weight snapshot behind the frontier cache: every way of writing weights is seen, and the maps
that follow are those of the new weights.

The snapshot holds the reads taken when a model's first signal was cached and trusts a live read
that shares a held read's buffer (:class:`refdeconv.explainers.signals._Snapshot`). Its premise,
checked here on every way of writing a weight (assignments, a scatter, an XLA-compiled update,
``set_weights``, ``load_weights``, ``fit`` with and without XLA, Keras 3, tf-keras and
``tf.distribute`` variables): a held read keeps its bytes, and a live read shares its buffer only
while the bytes are the same. Then, end to end: after each write, maps served through the frontier
equal the reference of the new weights, also for variables the model reads that are not in
``model.weights`` (a ``Lambda``'s closure variable, a custom layer's untracked ``tf.Variable``).
"""

import keras
import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from refdeconv import DeconvNet, reference
from refdeconv.explainers import signals, traced
from refdeconv.testing import assert_maps_close

X = np.random.default_rng(1).normal(size=(5, 8, 8, 2))
T = np.array([0, 2, 1, 2, 0])


def _model(lib=keras, dtype="float64"):
    lib.utils.set_random_seed(0)
    L = lib.layers
    inp = lib.Input((8, 8, 2), dtype=dtype)
    h = L.Conv2D(3, 3, activation="relu", dtype=dtype)(inp)
    h = L.GlobalAveragePooling2D(dtype=dtype)(L.Conv2D(4, 3, activation="relu", dtype=dtype)(h))
    return lib.Model(inp, L.Dense(3, dtype=dtype)(h))


def _variable(v):
    return v if isinstance(v, tf.Variable) else v.value


def _assign(model, tmp_path=None):
    for v in model.weights:
        v.assign(v * 1.5 + 0.1)


def _assign_add(model, tmp_path=None):
    for v in model.weights:
        v.assign_add(tf.ones(v.shape, v.dtype))


def _scatter(model, tmp_path=None):
    kernel = _variable(model.weights[0])
    kernel.scatter_update(tf.IndexedSlices(tf.ones([1, *kernel.shape[1:]], kernel.dtype), [0]))


def _xla_assign_sub(model, tmp_path=None):
    variables = [_variable(v) for v in model.weights]

    @tf.function(jit_compile=True)
    def update():
        for v in variables:
            v.assign_sub(0.5 * v)

    update()


def _set_weights(model, tmp_path=None):
    model.set_weights([w * -1.0 + 0.2 for w in model.get_weights()])


def _load_weights(model, tmp_path):
    lib = tf_keras if type(model).__module__.startswith("tf_keras") else keras
    other = _model(lib, model.weights[0].dtype)
    other.set_weights([w + 0.3 for w in model.get_weights()])
    path = str(tmp_path / "other.weights.h5")
    other.save_weights(path)
    model.load_weights(path)


def _fit(jit):
    def fit(model, tmp_path=None):
        model.compile(optimizer="sgd", loss="mse", jit_compile=jit)
        model.fit(X, np.eye(3)[T], epochs=1, batch_size=5, verbose=0)
    return fit


WRITES = {"assign": _assign, "assign_add": _assign_add, "scatter_update": _scatter,
          "xla_assign_sub": _xla_assign_sub, "set_weights": _set_weights, "load_weights": _load_weights,
          "fit": _fit(False), "fit_xla": _fit(True)}


def _bytes(value) -> bytes:
    return np.asarray(value).tobytes()


def _check_premise(model, write):
    snapshot = signals._Snapshot(model)
    before = [_bytes(r) for _, r in snapshot.held.values()]
    write()
    for (v, held), old in zip(snapshot.held.values(), before):
        assert _bytes(held) == old, f"{v.name}: a held read changed when the weights were written"
        live = signals.read(v)
        assert signals.same_bytes(live, held) == (_bytes(live) == old), f"{v.name}: buffer and bytes disagree"
    return snapshot


@pytest.mark.parametrize("lib", [keras, tf_keras], ids=["keras3", "tf_keras"])
@pytest.mark.parametrize("name", sorted(WRITES))
def test_a_held_read_keeps_its_bytes_and_a_write_moves_the_buffer(name, lib, tmp_path):
    model = _model(lib, "float32")
    snapshot = _check_premise(model, lambda: WRITES[name](model, tmp_path))
    assert not snapshot.holds(model), f"{name} changed the weights unseen"


def test_rewriting_the_same_values_keeps_the_snapshot():
    model = _model()
    snapshot = _check_premise(model, lambda: model.set_weights(model.get_weights()))
    assert snapshot.holds(model)


def test_distributed_variables_are_read_and_compared():
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    with strategy.scope():
        model = _model(dtype="float32")
    snapshot = _check_premise(model, lambda: _set_weights(model))
    assert not snapshot.holds(model)


@pytest.mark.parametrize("name", sorted(WRITES))
def test_maps_after_a_write_are_those_of_the_new_weights(name, tmp_path):
    traced.clear_cache()
    model = _model()
    explainer = DeconvNet(model, batch_size=2)
    for _ in range(3):  # fill, check row by row, serve from the cache
        explainer.explain(X, T)
    assert explainer.frontier["used"] and signals.cached_bytes(), explainer.frontier["reason"]
    before = explainer.explain(X, T).numpy()
    WRITES[name](model, tmp_path)
    want = reference.attribution(model, X, np.eye(3)[T], "deconvnet")
    assert not np.allclose(want, before), f"{name}: the write should change the maps"
    assert_maps_close(explainer.explain(X, T).numpy(), want, "float64", f"after {name}")


class _Scale(keras.layers.Layer):
    """A custom layer whose ``tf.Variable`` Keras 3 does not track (not in ``model.weights``)."""

    def __init__(self, **options):
        super().__init__(**options)
        self.s = tf.Variable(np.float64(1.0), trainable=False)

    def call(self, t):
        return t * self.s


def _untracked(kind):
    """The no-pool model with its output scaled by a variable outside ``model.weights``."""
    model = _model()
    if kind == "lambda":
        s = tf.Variable(np.float64(1.0))
        return keras.Model(model.inputs, keras.layers.Lambda(lambda t: t * s, dtype="float64")(model.outputs[0])), s
    scale = _Scale(dtype="float64")
    return keras.Model(model.inputs, scale(model.outputs[0])), scale.s


@pytest.mark.parametrize("kind", ["lambda", "layer"])
def test_a_variable_outside_the_weights_is_watched(kind):
    traced.clear_cache()
    model, s = _untracked(kind)
    assert not any(w is s for w in model.weights)
    explainer = DeconvNet(model, batch_size=2)
    for _ in range(3):  # fill, check row by row, serve from the cache
        explainer.explain(X, T)
    assert explainer.frontier["used"] and signals.cached_bytes(), explainer.frontier["reason"]
    before = explainer.explain(X, T).numpy()
    s.assign(-2.0)
    got = explainer.explain(X, T).numpy()
    traced.clear_cache()
    want = DeconvNet(model, batch_size=2).explain(X, T).numpy()  # computed anew: the model as it is now
    assert not np.allclose(want, before), "the variable should change the maps"
    assert_maps_close(got, want, "float64", f"after assigning the {kind}'s variable")
