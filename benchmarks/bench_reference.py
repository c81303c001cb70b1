"""How fast the NumPy reference is as an oracle: one process, medians, ratios.

The foundation issue's target: a batch of 8 inputs of 32x32x3 through three
conv layers, two max-pools and a dense head "in well under a second". The
script times ``reference.attribution`` (deconvnet rule, weights re-read on
every call, as a test does) against a compiled ``tf.GradientTape`` gradient of
the same score on the same model and batch, in this one process, and prints
both medians and their ratio.

The oracle issue's target: "a 2-image ResNet50 audit at 32x32 should take seconds, not
minutes, on 2 cores": ``--resnet50`` times ``reference.attribution`` on
``keras.applications.ResNet50(weights=None, input_shape=(32, 32, 3))`` for 2 images, each
rule, and the whole ``refdeconv.conformance.model_audit.run_model`` (reference plus explainer).

Run: ``python benchmarks/bench_reference.py [--repeats R] [--resnet50]``.
"""

import argparse

import keras
import numpy as np

from refdeconv import reference
from refdeconv.cli.bench import gradient_floor, median_seconds


def _model():
    keras.utils.set_random_seed(0)
    return keras.Sequential([
        keras.Input((32, 32, 3)),
        keras.layers.Conv2D(16, 3, padding="same", activation="relu"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
        keras.layers.Flatten(),
        keras.layers.Dense(10),
    ])


def _warm_median(fn, repeats):
    fn()  # warm-up: TensorFlow traces, NumPy touches its buffers
    return median_seconds(fn, repeats)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--resnet50", action="store_true", help="time a 2-image ResNet50 audit at 32x32 instead")
    args = parser.parse_args()
    if args.resnet50:
        return _resnet50(min(args.repeats, 3))
    model = _model()
    x = np.random.default_rng(0).normal(size=(8, 32, 32, 3)).astype(np.float32)
    targets = np.eye(10)[np.arange(8)].astype(np.float32)

    ref = _warm_median(lambda: reference.attribution(model, x, targets, rule="deconvnet"), args.repeats)
    tfg = _warm_median(gradient_floor(model, x, targets, len(x)), args.repeats)
    print(f"reference.attribution (8x32x32x3, 3 conv, 2 max-pool, dense): {ref * 1e3:.1f} ms (median of {args.repeats})")
    print(f"compiled tf.GradientTape gradient, same model and batch:      {tfg * 1e3:.1f} ms")
    print(f"ratio reference / TensorFlow: {ref / tfg:.1f}x")


def _resnet50(repeats):
    from refdeconv.conformance.model_audit import run_model

    keras.utils.set_random_seed(0)
    model = keras.applications.ResNet50(weights=None, input_shape=(32, 32, 3), classifier_activation=None)
    x = np.random.default_rng(0).normal(size=(2, 32, 32, 3)).astype(np.float32)
    for rule in ("deconvnet", "guided", "gradient"):
        seconds = _warm_median(lambda: reference.attribution(model, x, np.array([1, 2]), rule=rule), repeats)
        print(f"reference.attribution, ResNet50, 2 x 32x32x3, {rule}: {seconds:.2f} s (median of {repeats})")
    seconds = _warm_median(lambda: run_model(model, x, np.array([1, 2])), repeats)
    print(f"run_model (audit of refdeconv's DeconvNet on it, reference + explainer): {seconds:.2f} s")


if __name__ == "__main__":
    main()
