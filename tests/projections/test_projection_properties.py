"""Feature projections on Hypothesis-drawn networks (issue 26): every spatial or time layer of a drawn
image or sequence network (every supported layer family, ReLU written every way, integer nets with
exact ties among them), a drawn feature, ``top_k`` and rule. The forward pass first (the explainers'
model against the reference at the cut), then the units (values are the reference activations, the
top ``top_k`` in order, ties by first occurrence) and the maps (the oracle's map of each unit's
one-hot seed scaled by its value)."""

import keras
import numpy as np
from hypothesis import assume, given
from hypothesis import strategies as st

from refdeconv import reference
from refdeconv.testing import assert_maps_close
from tests.builders import build
from tests.projections.checks import check_maps, check_units
from tests.strategies import cases


@given(case=st.sampled_from(["image", "sequence"]).flatmap(lambda kind: cases(kind=kind)),
       rule=st.sampled_from(["deconvnet", "guided", "gradient"]), data=st.data())
def test_projections_of_drawn_networks_equal_the_reference(case, rule, data):
    spec, x, _ = case
    model = build(spec, "sequential")
    layers = [layer.name for layer in model.layers if len(layer.output.shape) >= 3]
    assume(layers)
    layer = data.draw(st.sampled_from(layers), label="layer")
    cut = reference.forward(model, x, output_layer=layer)
    tensor = model.get_layer(layer).output
    keras_cut = np.asarray(keras.Model(model.inputs[0], tensor)(x))
    assert_maps_close(keras_cut.reshape(len(x), -1), cut.reshape(len(x), -1), "float64", f"forward at {layer}")
    feature = data.draw(st.integers(0, cut.shape[-1] - 1), label="feature")
    top_k = data.draw(st.integers(1, min(6, int(np.prod(cut.shape[:-1])))), label="top_k")
    check_units(model, x, layer, [feature], top_k)
    check_maps(model, x, layer, rule, [feature], top_k)
