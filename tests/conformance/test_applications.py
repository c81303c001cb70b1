"""The architectures people explain: every ReLU family of ``keras.applications`` against the reference.

Covers item 2 of the oracle issue: at the smallest input size each family accepts, random
weights, logits heads (``classifier_activation=None``), two seeded N(0, 1) images. The forward
output first; then DeconvNet's float32 map, and the three rules' maps on the model's float64 twin
(same weights, exact), equal :func:`refdeconv.reference.attribution` within the tolerance table.

GuidedBackprop and Gradient read the sign of every ReLU's input. In a float32 forward pass of a
network hundreds of layers deep, some unit's input is within rounding of zero, and which side
it falls on depends on the order of the kernels' sums, not on the model: on one CI machine,
ResNet152V2's first image had such a unit, and TensorFlow's own ``GradientTape`` gradient
differed from the float64 reference by 1.4e-3 of the map's scale (refdeconv's Gradient agreed
with TensorFlow's to 2e-7). That is a near tie of a ReLU with zero (docs/method.md, "Switches and
ties"), and no tolerance makes two correct implementations agree there. DeconvNet's backward
pass reads no ReLU sign, so its float32 map is well posed and compared in float32; the rules that
read signs are compared in float64, where rounding is 1e-16 and the same maps agree to 1e-15.

The ReLU-free families (EfficientNet, EfficientNetV2, ConvNeXt) run too, with the documented
warning, and match the reference's gradient under every rule. The whole matrix is the ``heavy``
tier (``.ci/run`` runs it after the default suite); the default suite's ``test_model_audit`` and
property tests cover the operations one by one.
"""

import time
import warnings

import keras
import numpy as np
import pytest

from refdeconv import DeconvNet, Gradient, GuidedBackprop, reference
from refdeconv.testing import assert_maps_close

A = keras.applications
EXPLAINERS = {"deconvnet": DeconvNet, "guided": GuidedBackprop, "gradient": Gradient}

#: family -> (constructor, smallest input side, has ReLUs)
FAMILIES = {
    "VGG16": (A.VGG16, 32, True), "VGG19": (A.VGG19, 32, True),
    "ResNet50": (A.ResNet50, 32, True), "ResNet101": (A.ResNet101, 32, True), "ResNet152": (A.ResNet152, 32, True),
    "ResNet50V2": (A.ResNet50V2, 32, True), "ResNet101V2": (A.ResNet101V2, 32, True),
    "ResNet152V2": (A.ResNet152V2, 32, True),
    "MobileNet": (A.MobileNet, 32, True), "MobileNetV2": (A.MobileNetV2, 32, True),
    "MobileNetV3Small": (A.MobileNetV3Small, 32, True), "MobileNetV3Large": (A.MobileNetV3Large, 32, True),
    "DenseNet121": (A.DenseNet121, 32, True), "DenseNet169": (A.DenseNet169, 32, True),
    "DenseNet201": (A.DenseNet201, 32, True),
    "Xception": (A.Xception, 71, True), "InceptionV3": (A.InceptionV3, 75, True),
    "InceptionResNetV2": (A.InceptionResNetV2, 75, True), "NASNetMobile": (A.NASNetMobile, 32, True),
    "EfficientNetB0": (A.EfficientNetB0, 32, False), "EfficientNetV2B0": (A.EfficientNetV2B0, 32, False),
    "ConvNeXtTiny": (A.ConvNeXtTiny, 32, False),
}
def build(family: str):
    constructor, side, _ = FAMILIES[family]
    keras.utils.set_random_seed(0)
    kwargs = {"include_preprocessing": False} if family.startswith(("MobileNetV3", "EfficientNetV2")) else {}
    if family.startswith("ConvNeXt"):
        kwargs = {"include_preprocessing": False}
    return constructor(weights=None, input_shape=(side, side, 3), classifier_activation=None, **kwargs)


def float64_twin(family: str, model):
    """``model`` built again in float64 (inputs, variables and computation) with its weights, cast exactly."""
    floatx, policy = keras.config.floatx(), keras.config.dtype_policy()
    keras.config.set_floatx("float64")
    keras.config.set_dtype_policy("float64")
    try:
        twin = build(family)
    finally:
        keras.config.set_floatx(floatx)
        keras.config.set_dtype_policy(policy)
    twin.set_weights(model.get_weights())
    return twin


@pytest.mark.heavy
@pytest.mark.parametrize("family", FAMILIES)
def test_application_maps_equal_the_reference(family):
    model = build(family)
    side, has_relu = FAMILIES[family][1], FAMILIES[family][2]
    x = np.random.default_rng(1).normal(size=(2, side, side, 3)).astype("float32")
    labels = np.array([3, 7])
    forward = reference.forward(model, x)
    assert_maps_close(model.predict(x, verbose=0), forward, "float32", f"{family} forward")
    wants, seconds = {}, {}
    for rule in EXPLAINERS:
        start = time.perf_counter()
        wants[rule] = reference.attribution(model, x, labels, rule)
        seconds[rule] = time.perf_counter() - start
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = DeconvNet(model).explain(x, labels).numpy()
    assert_maps_close(got, wants["deconvnet"], "float32", f"DeconvNet on {family} (reference {seconds['deconvnet']:.1f} s)")
    twin, x64 = float64_twin(family, model), x.astype("float64")
    assert_maps_close(twin.predict(x64, verbose=0), forward, "float64", f"{family} float64 forward")
    for rule, cls in EXPLAINERS.items():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            got = cls(twin).explain(x64, labels).numpy()
        assert got.dtype == np.float64, f"{cls.__name__} on {family}'s float64 twin: map dtype {got.dtype}"
        assert_maps_close(got, wants[rule], "float64",
                          f"{cls.__name__} on {family}'s float64 twin (reference {seconds[rule]:.1f} s)")
        if rule != "gradient" and not has_relu:
            assert any("has no ReLU" in str(w.message) for w in caught), f"{family}: no warning that it has no ReLU"
    if not has_relu:
        np.testing.assert_array_equal(wants["deconvnet"], wants["gradient"])
        np.testing.assert_array_equal(wants["guided"], wants["gradient"])
