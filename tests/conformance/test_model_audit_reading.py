"""How ``refdeconv audit --model`` (:func:`refdeconv.conformance.model_audit.run_model`) reads what
it gives and gets: a candidate's dict of maps matched to the inputs by name, whatever its key
order (on inputs of one shape, where a swap raises nothing); a model built on a dict written out
of key order fed a dict, as Keras requires; ``targets=None`` as the top class of each sample, for
the candidate and the reference alike.
"""

import keras
import numpy as np
import pytest

from refdeconv import DeconvNet
from refdeconv.conformance.model_audit import run_model

from .test_model_audit import _cnn

L = keras.layers


def _same_shape_inputs(as_dict: bool):
    """Two inputs of one shape, each through its own max-pool branch (a swap raises nothing: only the
    values tell), as a list model [a, b] or a model built on the dict {"b", "a"} (Keras orders it [a, b])."""
    keras.utils.set_random_seed(5)
    a, b = keras.Input((6, 2), name="a"), keras.Input((6, 2), name="b")
    branches = [L.Flatten()(L.MaxPooling1D(2)(L.Conv1D(3, 2, activation="relu")(t))) for t in (a, b)]
    out = L.Dense(3)(L.Concatenate()(branches))
    return keras.Model({"b": b, "a": a} if as_dict else [a, b], out, name="same_shapes")


def reversed_keys(model, inputs, targets):
    """refdeconv's DeconvNet maps, returned as a dict in the reverse of the model's input order."""
    maps = DeconvNet(model).explain(inputs, targets)
    names = [t.name for t in model.inputs]
    by_name = maps if isinstance(maps, dict) else dict(zip(names, maps))
    return {name: by_name[name] for name in reversed(names)}


@pytest.mark.parametrize("as_dict", [False, True], ids=["list model", "dict model written {b, a}"])
def test_maps_returned_as_a_dict_are_read_by_input_name_whatever_their_order(as_dict):
    """A candidate's dict of maps is matched to the inputs by name, not by its key order; a model built
    on a dict written out of key order is fed a dict (Keras refuses a list for it)."""
    report = run_model(_same_shape_inputs(as_dict), fn=reversed_keys)
    assert report.failed == 0 and [c["matches"] for c in report.cases] == ["deconvnet", "deconvnet"], \
        [(c["name"], c["matches"], c["errors"], c["error"]) for c in report.cases]


def test_targets_none_are_the_top_class_of_the_models_output():
    """Without targets the candidate and the reference are both given the one-hot of each sample's top
    class (as the explainers read ``targets=None``): not another class, and the same for both."""
    model, given = _cnn(), []

    def recording(m, inputs, targets):
        given.append(np.asarray(targets))
        return DeconvNet(m).explain(inputs, targets)

    x = 3 * np.random.default_rng(10).standard_normal((8, 8, 8, 2)).astype("float32")  # all three classes on top
    report = run_model(model, inputs=x, fn=recording)
    top = np.asarray(model(x)).argmax(axis=1)
    assert len(set(top)) == 3, f"top classes {top}: not every class is on top, so a fixed class could pass"
    np.testing.assert_array_equal(given[0], np.eye(3)[top], err_msg="targets given to the candidate for targets=None")
    assert report.failed == 0 and report.model["targets"] == "the top class of the reference's output", report.model
