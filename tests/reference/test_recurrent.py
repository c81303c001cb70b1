"""Recurrent layers and sequence wrappers of the reference (``reference/recurrent.py``,
``reference/sequence.py``) against Keras and an independent TensorFlow loop.

Part of the spec covered (DESIGN.md §1, §3, §4): for ``SimpleRNN``, ``LSTM``, ``GRU`` (both
``reset_after`` forms), ``Bidirectional`` (every single-output ``merge_mode``) and
``TimeDistributed``, with drawn settings (activations, ``use_bias``, ``return_sequences``,
``go_backwards``, ``unroll``, inference dropout), N <= 2, T <= 5, features <= 3, units <= 4:

- the forward pass equals the float64 Keras model (checked first);
- ``rule="gradient"`` equals ``tf.GradientTape`` on that model;
- all three rules with ReLU activations equal the TensorFlow loop of :mod:`tests.recurrent_spec`
  (each step's ReLU a ``tf.custom_gradient`` of the rule), and DeconvNet really differs from the
  gradient on a ReLU ``SimpleRNN`` (the rule reaches the loop);
- settings that the reference cannot model are refused with ``NotImplementedError``;
- planted faults (LSTM gates ``i``/``f`` swapped in BPTT, GRU update gate ``z`` for ``1 - z``,
  the Bidirectional backward direction not flipped back, the rule stopped at the loop) are caught.

Every comparison goes through :func:`refdeconv.testing.assert_maps_close`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import keras
import numpy as np
import pytest
from hypothesis import Phase, find, given, settings
from hypothesis import strategies as st
from scipy.differentiate import jacobian

from refdeconv import reference
from refdeconv.reference import recurrent, sequence
from refdeconv.reference.layers import translate
from refdeconv.testing import assert_maps_close, map_error, tolerance
from tests.recurrent_spec import tf_map
from tests.tf_rules import score_gradient

L = keras.layers
RULE_NAMES = sorted(reference.RULES)
RNNS = {"SimpleRNN": L.SimpleRNN, "LSTM": L.LSTM, "GRU": L.GRU}
SMOOTH = ("tanh", "sigmoid", "linear", "elu")
RECURRENT_ACTIVATIONS = ("sigmoid", "tanh", "relu", "hard_sigmoid")


@st.composite
def rnn_settings(draw, kinds=tuple(RNNS), activations=("relu", *SMOOTH), recurrent_activations=RECURRENT_ACTIVATIONS):
    """Keyword arguments of a recurrent layer (``kind`` included), every draw labelled."""
    kind = draw(st.sampled_from(kinds), label="layer")
    kw = dict(
        units=draw(st.integers(1, 4), label="units"),
        activation=draw(st.sampled_from(activations), label="activation"),
        use_bias=draw(st.booleans(), label="use_bias"),
        return_sequences=draw(st.booleans(), label="return_sequences"),
        go_backwards=draw(st.booleans(), label="go_backwards"),
        unroll=draw(st.booleans(), label="unroll"),
        dropout=draw(st.sampled_from([0.0, 0.3]), label="dropout (identity at inference)"),
    )
    if kind != "SimpleRNN":
        kw["recurrent_activation"] = draw(st.sampled_from(recurrent_activations), label="recurrent_activation")
    if kind == "GRU":
        kw["reset_after"] = draw(st.booleans(), label="reset_after")
    return kind, kw


@st.composite
def recurrent_cases(draw, wrapper=st.sampled_from(["none", "bidirectional"]), fixed=(), **settings_kw):
    """A :class:`Case` of one (wrapped) recurrent layer.

    A Bidirectional layer's own backward copy of a ``go_backwards=True`` layer is refused by
    Keras 3.15, so a wrapped layer runs forwards; half of them get an explicit
    ``backward_layer``, drawn of any kind and settings (``go_backwards=True``).
    """
    kind, kw = draw(rnn_settings(**settings_kw))
    kw.update(fixed)
    if draw(wrapper, label="wrapper") == "none":
        return _case(draw, lambda: RNNS[kind](dtype="float64", **kw), _sequence_shape(draw), f"{kind}{kw}")
    kw["go_backwards"] = False
    merge = draw(st.sampled_from(sorted(sequence.MERGES)), label="merge_mode")
    backward = draw(st.none() | rnn_settings(**settings_kw), label="backward_layer (None: Keras's copy)")
    if backward is not None:
        backward[1].update(fixed, go_backwards=True, return_sequences=kw["return_sequences"], units=kw["units"])

    def make():
        explicit = None if backward is None else RNNS[backward[0]](dtype="float64", **backward[1])
        return L.Bidirectional(RNNS[kind](dtype="float64", **kw), merge_mode=merge, backward_layer=explicit,
                               dtype="float64")

    return _case(draw, make, _sequence_shape(draw), f"Bidirectional({kind}{kw}, {merge!r}, backward={backward})")


def _sequence_shape(draw):
    return draw(st.integers(1, 5), label="T"), draw(st.integers(1, 3), label="features")


@dataclass
class Case:
    """A drawn layer (built in the test: Keras draws random numbers), its input shape and seeds."""

    spec: str
    shape: tuple
    seed: int
    n: int
    make: object = field(repr=False)

    def build(self):
        """``(model, layer, x, targets)``: float64 model around the layer, weights and data from ``seed``."""
        layer = self.make()
        inputs = keras.Input(self.shape, dtype="float64")
        model = keras.Model(inputs, layer(inputs))
        rng = np.random.default_rng(self.seed)
        for v in model.weights:
            v.assign(rng.normal(0.0, 0.8, v.shape))
        x = rng.normal(0.0, 1.0, (self.n, *self.shape))
        return model, layer, x, rng.normal(0.0, 1.0, (self.n, *model.output.shape[1:]))


def _case(draw, make, shape, spec):
    return Case(spec, shape, draw(st.integers(0, 2**32 - 1), label="seed"), draw(st.integers(1, 2), label="N"), make)


@st.composite
def time_distributed_cases(draw, inners=("Dense", "Conv1D", "MaxPooling1D", "recurrent")):
    """``TimeDistributed`` over Dense, Conv1D, MaxPooling1D or a recurrent layer."""
    inner = draw(st.sampled_from(inners), label="inner layer")
    act = draw(st.sampled_from(("relu", "tanh")), label="activation")
    t, f = draw(st.integers(1, 4), label="T"), draw(st.integers(1, 3), label="features")
    shape = (t, f) if inner == "Dense" else (t, draw(st.integers(2, 4), label="inner steps"), f)
    if inner == "Dense":
        units = draw(st.integers(1, 4), label="units")
        make = lambda: L.Dense(units, activation=act, dtype="float64")  # noqa: E731
    elif inner == "Conv1D":
        pad = draw(st.sampled_from(["valid", "same"]), label="padding")
        make = lambda: L.Conv1D(2, 2, padding=pad, activation=act, dtype="float64")  # noqa: E731
    elif inner == "MaxPooling1D":
        make = lambda: L.MaxPooling1D(2, dtype="float64")  # noqa: E731
    else:
        kind, kw = draw(rnn_settings(activations=(act,)))
        make = lambda: RNNS[kind](dtype="float64", **kw)  # noqa: E731
    return _case(draw, lambda: L.TimeDistributed(make(), dtype="float64"), shape, f"TimeDistributed({inner}, {act})")


def check_gradient(case):
    """Forward against Keras, then ``rule="gradient"`` against ``tf.GradientTape``."""
    model, _, x, targets = case.build()
    out, grad = score_gradient(model, x, targets)
    assert_maps_close(out, reference.forward(model, x), "float64", f"forward of {case}")
    got = reference.attribution(model, x, targets, rule="gradient")
    assert_maps_close(grad, got, "float64", f"GradientTape vs reference gradient, {case}")


def check_rule(case, rule):
    """The TensorFlow loop's forward against Keras, then the reference's ``rule`` map against it."""
    model, layer, x, targets = case.build()
    out, expected = tf_map(layer, x, targets, rule)
    assert_maps_close(out, model(x).numpy(), "float64", f"TF loop spec vs Keras forward, {case}")
    got = reference.attribution(model, x, targets, rule=rule)
    assert_maps_close(expected, got, "float64", f"TF loop {rule} vs reference {rule}, {case}")


@given(case=recurrent_cases())
def test_forward_and_gradient_equal_keras(case):
    check_gradient(case)


@given(case=recurrent_cases(activations=SMOOTH, recurrent_activations=("sigmoid", "tanh")))
def test_vjp_equals_finite_differences(case):
    """Backpropagation through time of the reference's own forward pass (smooth cells)."""
    model, _, x, targets = case.build()

    def total_score(flat):  # flat: (D, *batch) -> (1, *batch), one evaluation per trailing index
        xs = np.moveaxis(flat, 0, -1).reshape(-1, *x.shape[1:])
        scores = reference.forward(model, xs) * np.tile(targets, (xs.shape[0] // len(x),) + (1,) * (targets.ndim - 1))
        return scores.reshape(*flat.shape[1:], -1).sum(-1)[None]

    fd = jacobian(total_score, x.ravel(), initial_step=1e-3, tolerances={"atol": 1e-10})
    assert fd.success.all(), f"finite differences did not converge for {case}"
    got = reference.attribution(model, x, targets, rule="gradient")
    assert_maps_close(fd.df.reshape(x.shape), got, "finite-difference", f"finite differences vs reference, {case}")


@given(case=recurrent_cases(activations=("relu",)), rule=st.sampled_from(RULE_NAMES))
def test_rules_equal_tensorflow_loop(case, rule):
    check_rule(case, rule)


@given(case=time_distributed_cases())
def test_time_distributed_forward_and_gradient_equal_keras(case):
    check_gradient(case)


@given(case=time_distributed_cases(inners=("Dense", "recurrent")), rule=st.sampled_from(RULE_NAMES))
def test_time_distributed_rules_equal_tensorflow_loop(case, rule):
    check_rule(case, rule)


def test_deconvnet_reaches_every_step_of_a_relu_simple_rnn():
    """Some drawn ReLU SimpleRNN has a DeconvNet map other than its gradient map."""

    def differs(case):
        model, _, x, targets = case.build()
        maps = [reference.attribution(model, x, targets, rule=r) for r in ("deconvnet", "gradient")]
        return map_error(*maps).max() > tolerance("float64")

    strategy = recurrent_cases(wrapper=st.just("none"), kinds=("SimpleRNN",), activations=("relu",))
    find(strategy, differs, settings=settings(max_examples=30, database=None, derandomize=True))


@pytest.mark.parametrize("build, why", [
    (lambda x: L.LSTM(2, return_state=True, dtype="float64")(x)[0], "output"),
    (lambda x: L.Bidirectional(L.GRU(2, dtype="float64"), merge_mode=None, dtype="float64")(x)[0], "output"),
    (lambda x: L.GRU(2, recurrent_activation=lambda t: t / 2, dtype="float64")(x), "lambda"),
])
def test_unsupported_settings_are_refused(build, why):
    inputs = keras.Input((3, 2), dtype="float64")
    model = keras.Model(inputs, build(inputs))
    with pytest.raises(NotImplementedError, match=why):
        reference.forward(model, np.zeros((1, 3, 2)))


@pytest.mark.parametrize("make, why", [
    (lambda: L.LSTM(2, return_state=True, dtype="float64"), "return_state"),
    (lambda: L.SimpleRNN(2, stateful=True, dtype="float64"), "stateful"),
    (lambda: L.Bidirectional(L.LSTM(2, dtype="float64"), merge_mode=None, dtype="float64"), "merge_mode=None"),
    (lambda: L.TimeDistributed(L.Lambda(lambda t: t), dtype="float64"), "Lambda"),
])
def test_translation_refuses(make, why):
    """Refusals by the translation itself (the graph reader may refuse some earlier)."""
    layer = make()
    layer(keras.Input(batch_shape=(1, 3, 2), dtype="float64"))
    with pytest.raises(NotImplementedError, match=why):
        translate(layer, [(1, 3, 2)])


def test_masked_input_and_initial_state_are_refused():
    inputs = keras.Input((3, 2), dtype="float64")
    masked = L.LSTM(2, dtype="float64")
    masked(L.Masking(dtype="float64")(inputs))
    with pytest.raises(NotImplementedError, match="mask"):
        translate(masked, [(None, 3, 2)])
    state = keras.Input((2,), dtype="float64")
    with_state = L.GRU(2, dtype="float64")
    with_state(inputs, initial_state=[state])
    with pytest.raises(NotImplementedError, match="initial_state"):
        translate(with_state, [(None, 3, 2), (None, 2)])


# --- planted faults: each must make its property fail; the controls pass ----------------------


def _lstm_if_swapped(step):
    def faulty(self, x, state):
        new, (c_prev, z, i, f, g, o, c) = step(self, x, state)
        return new, (c_prev, z, f, i, g, o, c)

    return faulty


def _gru_update_gate_flipped(step):
    def faulty(self, x, state):
        new, (h, m, az, ar, ah, z, r, hh) = step(self, x, state)
        return new, (h, m, az, ar, ah, 1.0 - z, r, hh)

    return faulty


def _bidirectional_not_flipped_back(vjp):
    def faulty(self, u, inputs, output, rule):
        a, b = self._outputs(inputs[0])
        ua, ub = self.merge_vjp(u, a, b)
        return (self.forward_op.vjp(ua, inputs, None, rule)[0] + self.backward_op.vjp(ub, inputs, None, rule)[0],)

    return faulty


def _rule_stops_at_the_loop(vjp):
    def faulty(self, u, inputs, output, rule):
        return vjp(self, u, inputs, output, "gradient")

    return faulty


RELU_LSTM = dict(kinds=("LSTM",), activations=("relu",))
PROPERTIES = {  # name -> (strategy, check)
    "LSTM gradient": (recurrent_cases(wrapper=st.just("none"), kinds=("LSTM",)), check_gradient),
    "GRU gradient": (recurrent_cases(wrapper=st.just("none"), kinds=("GRU",)), check_gradient),
    "Bidirectional sequences gradient": (
        recurrent_cases(wrapper=st.just("bidirectional"), fixed={"return_sequences": True}).filter(
            lambda case: case.shape[0] > 1), check_gradient),
    "ReLU LSTM deconvnet": (recurrent_cases(wrapper=st.just("none"), **RELU_LSTM),
                            lambda case: check_rule(case, "deconvnet")),
}
FAULTS = {  # name -> (class, method, wrong version, property that must catch it)
    "LSTM gates i and f swapped in BPTT": (recurrent.LSTMCell, "step", _lstm_if_swapped, "LSTM gradient"),
    "GRU update gate z used as 1 - z in BPTT": (recurrent.GRUCell, "step", _gru_update_gate_flipped, "GRU gradient"),
    "Bidirectional backward signal not flipped back in time": (
        sequence.Bidirectional, "vjp", _bidirectional_not_flipped_back, "Bidirectional sequences gradient"),
    "ReLU rule not reaching the recurrent loop": (recurrent.Chain, "vjp", _rule_stops_at_the_loop, "ReLU LSTM deconvnet"),
}


def _run(name):
    strategy, check = PROPERTIES[name]

    @settings(max_examples=8, phases=[Phase.generate], derandomize=True, database=None)
    @given(case=strategy)
    def prop(case):
        check(case)

    prop()


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_planted_fault_is_caught(fault, monkeypatch):
    cls, method, wrong, prop = FAULTS[fault]
    monkeypatch.setattr(cls, method, wrong(getattr(cls, method)))
    with pytest.raises(AssertionError):
        _run(prop)


@pytest.mark.parametrize("prop", sorted(PROPERTIES))
def test_control_without_fault_passes(prop):
    _run(prop)
