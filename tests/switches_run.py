"""Run by ``tests/explainers/test_switches.py`` in a fresh process, so that a build flag
(``TF_ENABLE_ONEDNN_OPTS``) can be set before TensorFlow starts.

``python tests/switches_run.py OUT``: explains the tie-heavy pooling models of :data:`SPECS`
under the three rules and saves the maps and the forward outputs to the ``.npz`` file OUT.
"""

from __future__ import annotations

import sys

import numpy as np

#: ``name -> (input shape, layers)``: every max-pool rank, padding and stride, overlapping windows,
#: each after a ReLU (all-zero windows tie) and fed integer values (windows tie often).
SPECS = {
    "pool1d": ((9, 2), [("conv", 1, 3, 1), ("maxpool", 1, 3, 2, "valid")]),
    "pool1d_same": ((7, 2), [("conv", 1, 2, 1), ("maxpool", 1, 2, 3, "same")]),
    "pool2d": ((7, 7, 2), [("conv", 2, 3, 1), ("maxpool", 2, 3, 2, "same")]),
    "pool2d_valid": ((8, 8, 1), [("conv", 2, 2, 1), ("maxpool", 2, 2, 2, "valid"), ("conv", 2, 2, 1),
                                 ("maxpool", 2, 2, 1, "valid")]),
    "pool3d": ((4, 8, 8, 2), [("conv", 3, 3, 1), ("maxpool", 3, 2, 2, "valid"), ("conv", 3, 2, 1),
                              ("maxpool", 3, 2, 2, "valid")]),
    "pool3d_overlap": ((5, 6, 6, 1), [("conv", 3, 2, 1), ("maxpool", 3, 3, 2, "same")]),
    "pool3d_skip": ((6, 5, 4, 1), [("conv", 3, 1, 1), ("maxpool", 3, 1, 3, "same")]),
}
#: Where kernels differ: Eigen's 3-D pool (oneDNN off) skips the first position of a 6-long axis
#: here (``"same"`` unclamped), oneDNN's clamps, and so computes the ``"valid"`` twin's forward pass.
TWINS = {"pool3d_skip": ((6, 5, 4, 1), [("conv", 3, 1, 1), ("maxpool", 3, 1, 3, "valid")])}


def build(keras, name: str, twin: bool = False):
    """The model ``name`` of :data:`SPECS`, float32 (TensorFlow has no float64 ``MaxPool3D``), with
    integer weights in {-1, 0, 1}: every value is exact."""
    L = keras.layers
    shape, layers = (TWINS if twin else SPECS)[name]
    inp = keras.Input(shape)
    h = inp
    for kind, rank, size, stride, *padding in layers:
        if kind == "conv":
            conv = {1: L.Conv1D, 2: L.Conv2D, 3: L.Conv3D}[rank]
            h = conv(3, size, padding="same", activation="relu")(h)
        else:
            pool = {1: L.MaxPooling1D, 2: L.MaxPooling2D, 3: L.MaxPooling3D}[rank]
            h = pool(size, stride, padding=padding[0])(h)
    out = L.Dense(3)(L.Flatten()(h))
    model = keras.Model(inp, out)
    rng = np.random.default_rng(len(name))
    model.set_weights([rng.integers(-1, 2, w.shape).astype(np.float32) for w in model.get_weights()])
    return model


def inputs(name: str) -> np.ndarray:
    """Integer-valued inputs in [-2, 2] for the model ``name``."""
    return np.random.default_rng(7).integers(-2, 3, (3, *SPECS[name][0])).astype(np.float32)


def main(out: str) -> None:
    import keras

    from refdeconv import DeconvNet, Gradient, GuidedBackprop

    saved = {}
    for name in SPECS:
        model, x = build(keras, name), inputs(name)
        saved[f"{name}/forward"] = model(x).numpy()
        for method in (DeconvNet, Gradient, GuidedBackprop):
            saved[f"{name}/{method.__name__}"] = method(model).explain(x, np.arange(3)).numpy()
    np.savez(out, **saved)
    print("OK")


if __name__ == "__main__":
    main(sys.argv[1])
