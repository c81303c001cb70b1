"""The oracle through ONNX against the oracle through Keras and TensorFlow's own gradient, on
ResNet50 at 224x224: one process, medians, ratios (issue 25's speed target).

``keras.applications.ResNet50(weights=None)`` (seeded) is exported to ONNX by Keras
(``model.export(format="onnx")``, tf2onnx); then, for a batch of ``--batch`` images, the script
times: reading the ONNX file (``reference.compile``, and the first trace for the batch's shape),
``Oracle.attribution`` (DeconvNet) on the compiled ONNX model and on the Keras model, and a
compiled ``tf.GradientTape`` gradient of the same score in float32. It prints seconds per input
and the ratios: the target is reading negligible next to the oracle's pass, and the ONNX oracle
within the Keras oracle's ratio to TensorFlow (about 6.8x, docs/performance.md).

Run: ``python benchmarks/bench_onnx.py [--batch B] [--repeats R] [--side S]``.
"""

import argparse
import os
import tempfile
import time

import keras
import numpy as np

from refdeconv import reference
from refdeconv.cli.bench import gradient_floor, median_seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--side", type=int, default=224)
    args = parser.parse_args()
    keras.utils.set_random_seed(0)
    model = keras.applications.ResNet50(weights=None, input_shape=(args.side, args.side, 3), classifier_activation=None)
    x = np.random.default_rng(0).normal(size=(args.batch, args.side, args.side, 3)).astype(np.float32)
    labels = np.arange(args.batch) % 1000
    targets = np.eye(1000, dtype=np.float32)[labels]
    model(x[:1])
    path = os.path.join(tempfile.mkdtemp(), "resnet50.onnx")
    model.export(path, format="onnx", verbose=False)

    gradient = gradient_floor(model, x, targets, len(x))
    gradient()  # traced
    tfg = median_seconds(gradient, args.repeats)
    start = time.perf_counter()
    oracle = reference.compile(path)
    read = time.perf_counter() - start
    start = time.perf_counter()
    oracle.forward(x)  # the first trace for this shape
    first = time.perf_counter() - start
    onnx_s = median_seconds(lambda: oracle.attribution(x, labels, "deconvnet"), args.repeats)
    keras_oracle = reference.compile(model)
    keras_s = median_seconds(lambda: keras_oracle.attribution(x, labels, "deconvnet"), args.repeats)
    n = args.batch
    print(f"ResNet50 {args.side}x{args.side}, batch {n}, medians of {args.repeats}, seconds per input:")
    print(f"  TensorFlow compiled float32 gradient:        {tfg / n:.3f}")
    print(f"  oracle on the Keras model (float64):         {keras_s / n:.3f}  ({keras_s / tfg:.1f}x TensorFlow)")
    print(f"  oracle on the ONNX export (float64):         {onnx_s / n:.3f}  ({onnx_s / tfg:.1f}x TensorFlow)")
    print(f"  reading the .onnx file once: {read:.2f} s; first trace (forward pass included): {first:.2f} s")


if __name__ == "__main__":
    main()
