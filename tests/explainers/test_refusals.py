"""3-D ops whose TensorFlow gradient is not the derivative of their forward pass (``refdeconv.explainers.refusals``).

Covers issue 23 (no silent wrong map): ``Conv3D``, ``AveragePooling3D`` and ``Conv3DTranspose``
with ``"same"`` padding and a stride above the window plan the padding one way forward and
another in their gradient (``tests/reference/test_volumes.py`` measures it). Such a model gets a
``ValueError`` naming ``model``, the op and the way out, and is left as it was; the next extent,
where the two plans agree, is explained and equals the reference.
"""

import keras
import numpy as np
import pytest

from refdeconv import DeconvNet, reference
from refdeconv.testing import assert_maps_close

L = keras.layers
LAYERS = {
    "Conv3D": lambda: L.Conv3D(2, 1, strides=3, padding="same", activation="relu"),
    "AvgPool3D": lambda: L.AveragePooling3D(1, strides=3, padding="same"),
    "Conv3DBackpropInputV2": lambda: L.Conv3DTranspose(2, 1, strides=3, padding="same", activation="relu"),
}


def _model(kind: str, extent: int):
    keras.utils.set_random_seed(0)
    shape = (2, 2, 2, 1) if kind == "Conv3DBackpropInputV2" else (extent, extent, extent, 1)
    model = keras.Sequential([keras.Input(shape), L.Conv3D(2, 1, activation="relu"), LAYERS[kind](), L.Flatten(), L.Dense(2)])
    return model, np.random.default_rng(0).normal(size=(2, *shape)).astype("float32")


@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_a_gradient_that_is_not_the_derivative_is_refused(kind):
    model, x = _model(kind, 6)  # extent 6, window 1, stride 3: total padding -2
    before = [w.copy() for w in model.get_weights()]
    with pytest.raises(ValueError, match=f"model: the {kind} op .* 'same' padding with a stride above its window"):
        DeconvNet(model).explain(x, np.array([0, 1]))
    for old, new in zip(before, model.get_weights()):
        np.testing.assert_array_equal(old, new)


@pytest.mark.parametrize("kind", ["Conv3D", "AvgPool3D"])
def test_where_the_plans_agree_the_map_is_the_reference(kind):
    model, x = _model(kind, 7)  # total padding 0
    maps = DeconvNet(model).explain(x, np.array([0, 1])).numpy()
    assert_maps_close(maps, reference.attribution(model, x, np.array([0, 1]), "deconvnet"), "float32", kind)
