"""No silent wrong map on real models (the "real models" issue), part 1: the rule reaches
every ReLU that TensorFlow differentiates, the record tells the truth, and threads do not leak.

- ReLUs inside recurrent layers with ``unroll=False`` (cells run in a ``while`` loop body) get
  the rule: the map equals the same model with ``unroll=True``, and differs from the gradient;
  in Keras 3 and tf-keras, plain, ``Bidirectional`` and ``TimeDistributed``. (Against the
  reference: ``tests/explainers/test_recurrent_maps.py``.)
- A ReLU whose own gradient TensorFlow never builds (a user's ``tf.custom_gradient``) is
  recorded ``"not reached"`` with a warning naming it, never claimed.
- Keras's ``hard_sigmoid``/``hard_silu`` (computed through ``relu6``) are not ReLUs: they keep
  their ordinary gradient; a ``ReLU(6.)`` layer is a ReLU wherever it is used.
- Explainers traced concurrently from many threads give the maps they give alone, and code
  outside refdeconv gets Keras's own ReLU meanwhile.
"""

import threading
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from refdeconv import DeconvNet, Gradient, GuidedBackprop, reference
from refdeconv.testing import assert_maps_close

L = keras.layers
EXPLAINERS = (DeconvNet, GuidedBackprop, Gradient)


def _explain(cls, model, x, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        explainer = cls(model)
        return explainer.explain(x, y).numpy(), explainer.rules_applied


def _recurrent(lib, kind, wrapper, unroll):
    lib.utils.set_random_seed(3)
    Lk = lib.layers
    cell = {"SimpleRNN": lambda **k: Lk.SimpleRNN(4, activation="relu", **k),
            "LSTM": lambda **k: Lk.LSTM(4, activation="relu", **k),
            "GRU": lambda **k: Lk.GRU(4, activation="relu", **k)}[kind]
    if wrapper == "Bidirectional":
        body = [Lk.Bidirectional(cell(unroll=unroll, return_sequences=True)), Lk.Flatten()]
    elif wrapper == "TimeDistributed":
        body = [Lk.TimeDistributed(Lk.Dense(3, activation="relu")), cell(unroll=unroll)]
    else:
        body = [cell(unroll=unroll)]
    return lib.Sequential([lib.Input((5, 3)), *body, Lk.Dense(2)])


QUICK = {("keras3", "SimpleRNN", None), ("keras3", "GRU", "Bidirectional"), ("keras3", "LSTM", "TimeDistributed"),
         ("tf_keras", "SimpleRNN", None)}
MATRIX = [pytest.param(lib, kind, wrapper, id=f"{name}-{kind}-{wrapper}",
                       marks=() if (name, kind, wrapper) in QUICK else pytest.mark.heavy)
          for name, lib in (("keras3", keras), ("tf_keras", tf_keras))
          for kind in ("SimpleRNN", "LSTM", "GRU") for wrapper in (None, "Bidirectional", "TimeDistributed")]


@pytest.mark.parametrize("lib, kind, wrapper", MATRIX)
def test_recurrent_relus_get_the_rule_inside_the_loop(lib, kind, wrapper):
    x = np.random.default_rng(0).normal(size=(3, 5, 3)).astype("float32")
    y = np.array([0, 1, 0])
    looped, unrolled = _recurrent(lib, kind, wrapper, False), _recurrent(lib, kind, wrapper, True)
    unrolled.set_weights(looped.get_weights())
    np.testing.assert_allclose(looped.predict(x, verbose=0), unrolled.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    maps = {}
    for cls in EXPLAINERS:
        maps[cls], record = _explain(cls, looped, x, y)
        want, _ = _explain(cls, unrolled, x, y)
        assert_maps_close(maps[cls], want, "float32", f"{cls.__name__} {kind} {wrapper} unroll=False vs unroll=True")
        assert record and all(e["rule"] != "not reached" for e in record), record
    deconv, grad = maps[DeconvNet], maps[Gradient]
    assert np.abs(deconv - grad).max() > 1e-3, "DeconvNet equals the gradient: the rule did not reach the loop"


def test_relu_under_a_custom_gradient_is_recorded_not_reached():
    @tf.custom_gradient
    def opaque_relu(z):
        return tf.nn.relu(z), lambda u: u * tf.cast(z > 0, u.dtype)

    inp = keras.Input((4,))
    hidden = L.Dense(5, activation="relu")(inp)
    out = L.Dense(2)(L.Lambda(opaque_relu)(L.Dense(5)(hidden)))
    model = keras.Model(inp, out)
    explainer = DeconvNet(model)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        explainer.explain(np.ones((2, 4), np.float32), np.array([0, 1]))
    messages = [str(w.message) for w in caught]
    assert any("did not get the deconvnet rule" in m and "lambda" in m for m in messages), messages
    assert not any("has no ReLU" in m for m in messages), messages
    rules = {e["op"]: e["rule"] for e in explainer.rules_applied}
    assert sorted(rules.values()) == ["deconvnet", "not reached"], explainer.rules_applied


@pytest.mark.parametrize("activation", ["hard_sigmoid", "hard_silu"])
def test_hard_sigmoid_and_hard_silu_are_not_relus(activation):
    keras.utils.set_random_seed(2)
    model = keras.Sequential([keras.Input((6,), dtype="float64"), L.Dense(8, activation=activation, dtype="float64"),
                              L.Dense(3, dtype="float64")])
    x = np.random.default_rng(1).normal(scale=3.0, size=(4, 6))
    y = np.array([0, 1, 2, 0])
    grad, _ = _explain(Gradient, model, x, y)
    deconv, record = _explain(DeconvNet, model, x, y)
    np.testing.assert_array_equal(deconv, grad)
    assert [e["type"] for e in record] == [activation] and record[0]["rule"] == "gradient", record
    assert_maps_close(deconv, reference.attribution(model, x, y, "deconvnet"), "float64", activation)


def test_relu6_layers_inside_a_hard_sigmoid_block_are_relus():
    """MobileNetV3 builds its hard sigmoid from ReLU(6.) layers: those are ReLUs and get the rule."""
    keras.utils.set_random_seed(4)
    inp = keras.Input((6,), dtype="float64")
    z = L.Dense(8, dtype="float64")(inp)
    gate = L.Rescaling(1 / 6, dtype="float64")(L.ReLU(6.0, dtype="float64")(L.Rescaling(1.0, 3.0, dtype="float64")(z)))
    model = keras.Model(inp, L.Dense(3, dtype="float64")(L.Multiply(dtype="float64")([z, gate])))
    x = np.random.default_rng(1).normal(scale=3.0, size=(4, 6))
    deconv, record = _explain(DeconvNet, model, x, np.array([0, 1, 2, 0]))
    relus = [e for e in record if e["type"].startswith("ReLU")]
    assert [e["rule"] for e in relus] == ["deconvnet"], record
    assert [(e["type"], e["rule"]) for e in record if e not in relus] == [("Mul", "gradient")], record  # the gate: z * g(z)
    grad, _ = _explain(Gradient, model, x, np.array([0, 1, 2, 0]))
    assert np.abs(deconv - grad).max() > 1e-6


def _thread_models():
    models = []
    for i, relu in enumerate([L.ReLU(max_value=3.0), L.ReLU(threshold=0.2), L.ReLU(), L.ReLU(max_value=6.0),
                              L.ReLU(max_value=1.0, threshold=0.1), L.Activation("relu6"), L.ReLU(threshold=0.5),
                              L.ReLU(max_value=2.0)]):
        keras.utils.set_random_seed(10 + i)
        models.append(keras.Sequential([keras.Input((6,)), L.Dense(8), relu, L.Dense(8), L.Dense(3)]))
    return models


def test_concurrent_explains_equal_the_same_calls_alone():
    x = np.random.default_rng(0).normal(scale=2.0, size=(5, 6)).astype("float32")
    y = np.array([0, 1, 2, 0, 1])
    models = _thread_models()
    alone = {(i, cls): _explain(cls, m, x, y)[0] for i, m in enumerate(models) for cls in EXPLAINERS}
    from refdeconv.explainers import traced

    traced.clear_cache()  # every thread traces anew, at the same moment
    barrier, results, errors = threading.Barrier(len(alone) + 1), {}, []

    def work(key):
        try:
            barrier.wait()
            results[key] = _explain(key[1], models[key[0]], x, y)[0]
        except Exception as err:  # noqa: BLE001 - reported below
            errors.append(f"{key}: {err!r}")

    def outsider():  # other code of the process runs a capped Keras ReLU meanwhile
        barrier.wait()
        relu = L.ReLU(max_value=3.0)
        for _ in range(50):
            z = tf.constant([[-1.0, 0.5, 4.0]])
            with tf.GradientTape() as tape:
                tape.watch(z)
                out = tf.reduce_sum(relu(z) * [1.0, -1.0, 1.0])
            results.setdefault("outsider", []).append(tape.gradient(out, z).numpy())

    threads = [threading.Thread(target=work, args=(key,)) for key in alone] + [threading.Thread(target=outsider)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors
    for key, want in alone.items():
        np.testing.assert_array_equal(results[key], want, err_msg=f"model {key[0]}, {key[1].__name__}: threads leaked")
    for g in results["outsider"]:
        np.testing.assert_array_equal(g, [[0.0, -1.0, 0.0]], err_msg="Keras's own ReLU gradient changed for other code")


def _prelu_model(lib):
    lib.utils.set_random_seed(6)
    Lk = lib.layers
    return lib.Sequential([lib.Input((6,)), Lk.Dense(8), Lk.PReLU(alpha_initializer=lib.initializers.Constant(0.25)),
                           Lk.Dense(8), Lk.ReLU(negative_slope=0.2, max_value=1.0) if lib is keras else Lk.Dense(8),
                           Lk.Dense(3)])


@pytest.mark.parametrize("lib", [keras, tf_keras], ids=["keras3", "tf_keras"])
def test_leaky_relus_computed_with_relu_ops_are_not_relus(lib):
    """PReLU is relu(x) - alpha relu(-x), and a capped leaky ReLU is computed with Relu ops too:
    neither is a ReLU, so they keep their gradient, with the warning that names non-ReLUs."""
    model = _prelu_model(lib)
    x, y = np.random.default_rng(2).normal(size=(4, 6)).astype("float32"), np.array([0, 1, 2, 0])
    explainer = DeconvNet(model)
    with pytest.warns(UserWarning, match="non-ReLU nonlinearities keep their ordinary gradient: .*prelu"):
        deconv = explainer.explain(x, y).numpy()
    grad, _ = _explain(Gradient, model, x, y)
    np.testing.assert_array_equal(deconv, grad)
    assert all(e["rule"] == "gradient" for e in explainer.rules_applied), explainer.rules_applied
    if lib is keras:
        assert_maps_close(deconv, reference.attribution(model, x[:, :].astype("float64"), y, "gradient"), "float32",
                          "PReLU and capped leaky ReLU vs the reference")


def test_recompute_grad_inside_a_model_is_differentiated():
    """tf.recompute_grad hands the gradient registry a nameless mock op: no crash, right gradient."""
    keras.utils.set_random_seed(7)
    model = keras.Sequential([keras.Input((6,)), L.Dense(8), L.Lambda(lambda z: tf.recompute_grad(tf.nn.relu)(z)),
                              L.Dense(2)])
    x, y = np.random.default_rng(3).normal(size=(3, 6)).astype("float32"), np.array([0, 1, 0])
    got, _ = _explain(Gradient, model, x, y)
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        score = tf.reduce_sum(model(xt) * tf.one_hot(y, 2))
    np.testing.assert_allclose(got, tape.gradient(score, xt).numpy(), rtol=1e-5, atol=1e-7)
    _explain(DeconvNet, model, x, y)  # runs; what its ReLU got is on the record
