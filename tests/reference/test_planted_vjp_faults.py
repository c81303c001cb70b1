"""Every new reference operation's comparison has teeth: a planted wrong VJP is caught.

Covers the oracle issue's requirement "a planted-fault test that shows the comparison catches a
wrong VJP", for every operation class the new layers translate to. Each fault is planted in the
one place it would live (the operation class's ``vjp``), as an index error: the returned signal
rolled by one position along its last axis (or, for a one-element axis, scaled by 1.5). The same
check the layer's own tests use, the reference's gradient rule against ``tf.GradientTape`` on a
float64 Keras model (forward first), must then fail; the unpatched control passes.
"""

import keras
import numpy as np
import pytest

from refdeconv import reference
from refdeconv.reference import convolutions, linear, merging, normalization, recurrent, sequence, shaping
from refdeconv.testing import assert_maps_close
from tests.tf_rules import score_gradient

L = keras.layers
F64 = {"dtype": "float64"}


def _model(shape, *layers, merge=None):
    inp = keras.Input(shape, **F64)
    h = inp
    for layer in layers:
        h = layer(h)
    if merge is not None:
        h = merge([h, L.Dense(h.shape[-1], **F64)(inp) if len(shape) == 1 else L.Conv1D(h.shape[-1], 1, **F64)(inp)])
    return keras.Model(inp, L.Dense(3, **F64)(L.Flatten(**F64)(h)))


#: fault name -> (operation class whose vjp is corrupted, model builder, per-sample input shape)
CASES = {
    "Conv groups": (linear.Conv, lambda: _model((6, 4), L.Conv1D(4, 3, groups=2, **F64)), (6, 4)),
    "Conv causal": (linear.Conv, lambda: _model((6, 2), L.Conv1D(3, 3, padding="causal", **F64)), (6, 2)),
    "DepthwiseConv2D": (linear.Conv, lambda: _model((5, 5, 2), L.DepthwiseConv2D(3, depth_multiplier=2, **F64)), (5, 5, 2)),
    "Conv2DTranspose": (convolutions.ConvTranspose, lambda: _model((3, 3, 2), L.Conv2DTranspose(2, 3, strides=2, **F64)),
                        (3, 3, 2)),
    "ZeroPadding2D": (shaping.Pad, lambda: _model((3, 3, 2), L.ZeroPadding2D(((1, 0), (0, 2)), **F64)), (3, 3, 2)),
    "Cropping1D": (shaping.Crop, lambda: _model((7, 2), L.Cropping1D((2, 1), **F64)), (7, 2)),
    "UpSampling2D": (shaping.Repeat, lambda: _model((3, 3, 2), L.UpSampling2D(2, **F64)), (3, 3, 2)),
    "RepeatVector": (shaping.Repeat, lambda: _model((4,), L.RepeatVector(3, **F64)), (4,)),
    "Permute": (shaping.Permute, lambda: _model((3, 4), L.Permute((2, 1), **F64)), (3, 4)),
    "Multiply": (merging.Multiply, lambda: _model((4,), L.Dense(4, **F64), merge=L.Multiply(**F64)), (4,)),
    "Subtract": (merging.WeightedSum, lambda: _model((4,), L.Dense(4, **F64), merge=L.Subtract(**F64)), (4,)),
    "Maximum": (merging.Extremum, lambda: _model((4,), L.Dense(4, **F64), merge=L.Maximum(**F64)), (4,)),
    "LayerNormalization": (normalization.Standardize, lambda: _model((5,), L.Dense(4, **F64),
                                                                      L.LayerNormalization(**F64)), (5,)),
    "GroupNormalization": (normalization.Standardize, lambda: _model((3, 4), L.GroupNormalization(2, **F64)), (3, 4)),
    "Rescaling": (linear.Affine, lambda: _model((4,), L.Dense(4, **F64), L.Rescaling(0.5, 1.0, **F64)), (4,)),
    "SimpleRNN": (recurrent.Recurrent, lambda: _model((4, 3), L.SimpleRNN(3, activation="relu", return_sequences=True,
                                                                           **F64)), (4, 3)),
    "Bidirectional GRU": (sequence.Bidirectional, lambda: _model((4, 2), L.Bidirectional(
        L.GRU(2, return_sequences=True, **F64), merge_mode="sum", **F64)), (4, 2)),
    "TimeDistributed": (sequence.TimeDistributed, lambda: _model((4, 3), L.TimeDistributed(L.Dense(2, **F64), **F64)),
                        (4, 3)),
}


def _rolled(vjp):
    def wrong(self, u, inputs, output, rule):
        grads = vjp(self, u, inputs, output, rule)
        return tuple(np.roll(g, 1, axis=-1) if g.shape[-1] > 1 else 1.5 * g for g in grads)

    return wrong


def _check(model, x):
    targets = np.eye(3)[np.arange(len(x)) % 3]
    out, grad = score_gradient(model, x, targets)
    assert_maps_close(out, reference.forward(model, x), "float64", "forward")
    assert_maps_close(grad, reference.attribution(model, x, targets, "gradient"), "float64", "gradient vs GradientTape")


@pytest.mark.parametrize("case", CASES)
def test_a_wrong_vjp_is_caught(case, monkeypatch):
    cls, make, shape = CASES[case]
    keras.utils.set_random_seed(7)
    model = make()
    x = np.random.default_rng(3).normal(size=(2, *shape))
    _check(model, x)  # control: the unpatched operation passes
    monkeypatch.setattr(cls, "vjp", _rolled(cls.vjp))
    with pytest.raises(AssertionError, match="gradient vs GradientTape"):
        _check(model, x)
