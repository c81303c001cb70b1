"""The architectures people explain: every ReLU family of ``keras.applications`` against the reference.

Covers item 2 of the oracle issue: at the smallest input size each family accepts, random
weights, logits heads (``classifier_activation=None``), two seeded N(0, 1) images, DeconvNet,
GuidedBackprop and Gradient maps equal :func:`refdeconv.reference.attribution` within the
tolerance table (the forward output first). The ReLU-free families (EfficientNet,
EfficientNetV2, ConvNeXt) run too, with the documented warning, and match the reference's
gradient under every rule. The whole matrix is the ``heavy`` tier (``.ci/run`` runs it after the default suite);
the default suite's ``test_model_audit`` and property tests cover the operations one by one.
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


@pytest.mark.heavy
@pytest.mark.parametrize("family", FAMILIES)
def test_application_maps_equal_the_reference(family):
    model = build(family)
    side, has_relu = FAMILIES[family][1], FAMILIES[family][2]
    x = np.random.default_rng(1).normal(size=(2, side, side, 3)).astype("float32")
    labels = np.array([3, 7])
    assert_maps_close(model.predict(x, verbose=0), reference.forward(model, x), "float32", f"{family} forward")
    for rule, cls in EXPLAINERS.items():
        start = time.perf_counter()
        want = reference.attribution(model, x, labels, rule)
        seconds = time.perf_counter() - start
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            got = cls(model).explain(x, labels).numpy()
        assert_maps_close(got, want, "float32", f"{cls.__name__} on {family} (reference {seconds:.1f} s)")
        if rule != "gradient" and not has_relu:
            assert any("has no ReLU" in str(w.message) for w in caught), f"{family}: no warning that it has no ReLU"
    if not has_relu:
        np.testing.assert_array_equal(reference.attribution(model, x, labels, "deconvnet"), want)
