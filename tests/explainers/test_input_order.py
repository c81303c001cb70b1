"""Several inputs in any order: each returned map is the map of its own input (issue 24, item 2).

Covers: Functional models of two or three inputs, of one shape and dtype (a mix-up raises nothing,
only the values tell) and of different shapes, named out of alphabetical order, and a model built
on a dict (``keras.Model({"b": ..., "a": ...}, out)``, whose input order Keras sorts by key);
explained from a dict in the model's order, in reversed and in shuffled key order, a list and a
tuple in the model's order, and a ``tf.data.Dataset`` of dicts in another key order (batched and
not; ``(dict, targets)`` pairs, or dicts alone for the top class); for all three rules and targets
given as labels, one-hot or ``None`` (a Latin square of models, rules and targets by default, all of
them in the heavy tier). The forward output is checked first; then each map, found by
its input's name (or position, for a list or tuple), equals the reference map of that input, and
every order gives bitwise the same maps per input name. Branches have their own weights, max-pool
switches and value ranges, so maps of swapped inputs differ by O(1) under every rule.
"""

import functools
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

from refdeconv import DeconvNet, Gradient, GuidedBackprop, reference
from refdeconv.keras_model import written_order
from refdeconv.testing import assert_maps_close

EXPLAINERS = {cls.rule: cls for cls in (DeconvNet, Gradient, GuidedBackprop)}
L = keras.layers
F = "float64"
N = 5
#: Per input, in the model's order: the scale and offset of its values (different ranges per input).
RANGES = [(1.0, 0.0), (3.0, 1.0), (0.3, -0.5)]


def _branch(inp):
    """Conv, ReLU and max-pool (switches that depend on the input's values), flattened."""
    conv, pool = (L.Conv1D, L.MaxPooling1D) if len(inp.shape) == 3 else (L.Conv2D, L.MaxPooling2D)
    return L.Flatten(dtype=F)(pool(2, dtype=F)(conv(3, 2, activation="relu", dtype=F)(inp)))


def _model(shapes: dict, as_dict: bool, seed: int):
    """Inputs named and ordered as ``shapes`` (a list model) or a dict model of them; one branch each."""
    inputs = {name: keras.Input(shape, dtype=F, name=name) for name, shape in shapes.items()}
    h = L.Concatenate(dtype=F)([_branch(inp) for inp in inputs.values()])
    out = L.Dense(3, dtype=F)(L.Dense(4, activation="relu", dtype=F)(h))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = keras.Model(inputs if as_dict else list(inputs.values()), out)
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(size=w.shape) for w in model.get_weights()])
    return model


#: name -> (input shapes in the order written, whether the model is built on a dict).
MODELS = {
    "three inputs of one shape, named zeta, alpha, mid": ({"zeta": (6, 2), "alpha": (6, 2), "mid": (6, 2)}, False),
    "a dict model {'b', 'a'} of one shape": ({"b": (6, 2), "a": (6, 2)}, True),
    "two inputs of different shapes, named zeta (image), alpha (sequence)": ({"zeta": (5, 5, 1), "alpha": (6, 2)},
                                                                              False),
}


@functools.cache
def model_and_inputs(name: str):
    """The model, its input names in its own order, and N inputs per input (a list in that order)."""
    shapes, as_dict = MODELS[name]
    model = _model(shapes, as_dict, seed=len(name))
    names = [t.name for t in model.inputs]
    rng = np.random.default_rng(24)
    xs = [rng.normal(size=(N, *model.inputs[i].shape[1:])) * scale + offset
          for i, (scale, offset) in enumerate(RANGES[: len(names)])]
    return model, names, xs


def reordered(names: list, xs: list, sequences: bool = True) -> dict:
    """label -> the inputs as a dict in the model's order, reversed, shuffled; a list and a tuple
    (unless not ``sequences``: a model built on a dict written out of order refuses them)."""
    by_name = dict(zip(names, xs))
    orders = {"dict in the model's order": names, "dict in reversed key order": names[::-1],
              "dict in shuffled key order": names[1:] + names[:1]}
    seen, structures = set(), {}
    for label, order in orders.items():
        if tuple(order) not in seen:
            seen.add(tuple(order))
            structures[label] = {k: by_name[k] for k in order}
    if not sequences:
        return structures
    return {**structures, "list in the model's order": list(xs), "tuple in the model's order": tuple(xs)}


def forward_and_targets(model, names, xs, targets_kind, context):
    """The forward output checked against the reference's; the targets given and those the reference uses."""
    want = reference.forward(model, dict(zip(names, xs)))
    for label, inputs in reordered(names, xs).items():
        if isinstance(inputs, dict):  # Keras takes a dict model's inputs as a dict only
            assert_maps_close(model(inputs, training=False).numpy(), want, F, f"forward of {context}, {label}")
    labels = np.argmax(want, axis=1)
    top2 = np.sort(want, axis=1)[:, -2:]
    assert (top2[:, 1] - top2[:, 0] > 1e-6).all(), f"{context}: top classes nearly tied, outputs {want}"
    given = {"labels": labels[::-1].copy(), "one-hot": np.eye(3)[(labels + 1) % 3], None: None}[targets_kind]
    return given, labels if given is None else given


def check_by_name(maps, want: dict, names: list, first: dict | None, context: str) -> dict:
    """Each map (found by name, or by position in a list or tuple) equals the reference map of its
    input, and bitwise the maps of the first structure; returns the maps by name."""
    if isinstance(maps, dict):
        assert sorted(maps) == sorted(names), f"{context}: maps keyed {list(maps)}, inputs named {names}"
        by_name = maps
    else:
        assert len(maps) == len(names), f"{context}: {len(maps)} maps for inputs {names}"
        by_name = dict(zip(names, maps))
    for name in names:
        got = by_name[name]
        assert isinstance(got, tf.Tensor) and got.dtype == tf.float64 and got.shape == want[name].shape, \
            f"{context}: map of input {name!r} is {type(got).__name__} {getattr(got, 'shape', '')}"
        assert_maps_close(got.numpy(), want[name], F, f"{context}, map of input {name!r}")
        if first is not None:
            np.testing.assert_array_equal(got.numpy(), first[name].numpy(),
                                          err_msg=f"{context}: map of input {name!r} differs from the first order's")
    return by_name


def check_arrays(name: str, rule: str, targets_kind):
    """Dicts in every key order, a list and a tuple: each map is its own input's, the same in every order."""
    model, names, xs = model_and_inputs(name)
    context = f"{EXPLAINERS[rule].__name__}, {name}, targets {targets_kind}"
    given, used = forward_and_targets(model, names, xs, targets_kind, context)
    want = reference.attribution(model, dict(zip(names, xs)), used, rule)
    explainer, first = EXPLAINERS[rule](model, batch_size=None), None
    for label, inputs in reordered(names, xs, written_order(model) is None).items():
        maps = explainer.explain(inputs, given)
        assert type(maps) is type(inputs), f"{context}, {label}: maps returned as {type(maps).__name__}"
        by_name = check_by_name(maps, want, names, first, f"{context}, {label}")
        first = first or by_name


def check_datasets(name: str, rule: str, targets_kind):
    """A Dataset of dicts in reversed and shuffled key order (unbatched, batched by 2), with
    targets in ``(dict, targets)`` pairs, or dicts alone for the top class; bitwise the maps of a dict."""
    model, names, xs = model_and_inputs(name)
    context = f"{EXPLAINERS[rule].__name__}, {name}, targets {targets_kind}"
    given, used = forward_and_targets(model, names, xs, targets_kind, context)
    want = reference.attribution(model, dict(zip(names, xs)), used, rule)
    explainer, by_name = EXPLAINERS[rule](model, batch_size=None), dict(zip(names, xs))
    first = check_by_name(explainer.explain(dict(zip(names, xs)), given), want, names, None, f"{context}, dict")
    for order, batch in ((names[::-1], None), (names[1:] + names[:1], 2)):
        x = {k: by_name[k] for k in order}
        data = tf.data.Dataset.from_tensor_slices(x if given is None else (x, given))
        data = data if batch is None else data.batch(batch)
        label = f"Dataset of dicts keyed {order}{', batched by 2' if batch else ''}"
        maps = explainer.explain(data)
        assert isinstance(maps, dict), f"{context}, {label}: maps returned as {type(maps).__name__}"
        check_by_name(maps, want, names, first, f"{context}, {label}")


TARGETS = ("labels", "one-hot", None)


#: Every model, rule and kind of targets: a Latin square of them by default (each model with every
#: rule and every kind of targets, each rule with every kind), the rest in the heavy tier.
CASES = [pytest.param(name, rule, kind, marks=() if (i + j) % 3 == k else pytest.mark.heavy,
                      id=f"{name}-{rule}-targets {kind}")
         for i, name in enumerate(sorted(MODELS)) for j, rule in enumerate(sorted(EXPLAINERS))
         for k, kind in enumerate(TARGETS)]


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize(("name", "rule", "targets_kind"), CASES)
def test_each_map_is_its_own_inputs_whatever_the_order_of_a_dict_list_or_tuple(name, rule, targets_kind):
    check_arrays(name, rule, targets_kind)


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize(("name", "rule", "targets_kind"), CASES)
def test_each_map_is_its_own_inputs_from_a_dataset_of_dicts_in_another_key_order(name, rule, targets_kind):
    check_datasets(name, rule, targets_kind)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_a_list_for_a_model_built_on_a_dict_written_out_of_order_is_refused():
    """``keras.Model({"b": ..., "a": ...})`` takes its inputs in the order [a, b]: a list is ambiguous
    (the author's order or the model's?) and Keras refuses it; so do the explainer (arrays, a cut,
    a Dataset of tuples) and the reference, naming ``inputs``, rather than read it in one order."""
    model, names, xs = model_and_inputs("a dict model {'b', 'a'} of one shape")
    assert names == ["a", "b"] and written_order(model) == ["b", "a"], f"inputs {names}, written {written_order(model)}"
    attempts = {"DeconvNet, list": lambda: DeconvNet(model).explain(list(xs), np.zeros(N, int)),
                "DeconvNet, tuple, cut": lambda: DeconvNet(model, output_layer=model.layers[-2].name).explain(
                    tuple(xs), np.zeros((N, 4))),
                "DeconvNet, Dataset of tuples": lambda: DeconvNet(model).explain(
                    tf.data.Dataset.from_tensor_slices((tuple(xs), np.zeros(N, int)))),
                "reference, list": lambda: reference.attribution(model, list(xs), np.zeros(N, int), "deconvnet")}
    for label, attempt in attempts.items():
        with pytest.raises(ValueError, match=r"inputs: the model was built on a dict of inputs written in the order "
                                             r"\['b', 'a'\].*pass a dict keyed by input name"):
            attempt()
    maps = DeconvNet(model).explain(dict(zip(names, xs)), np.zeros(N, int))
    assert sorted(maps) == names, f"a dict is still taken: maps keyed {list(maps)}"


def test_a_list_for_a_model_built_on_a_dict_written_in_its_own_order_is_taken():
    """Written in sorted key order, the author's order is the model's: a list is unambiguous (Keras takes it)."""
    model = _model({"a": (6, 2), "b": (6, 2)}, True, seed=3)
    assert written_order(model) is None, f"written order {written_order(model)}"
    xs = model_and_inputs("a dict model {'b', 'a'} of one shape")[2]
    want = reference.attribution(model, dict(zip("ab", xs)), np.zeros(N, int), "deconvnet")
    for got, want_one, name in zip(DeconvNet(model).explain(list(xs), np.zeros(N, int)), want.values(), "ab"):
        assert_maps_close(got.numpy(), want_one, F, f"list for a dict model written in order, input {name!r}")
