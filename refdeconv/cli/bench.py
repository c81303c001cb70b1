"""Benchmark: DeconvNet against the plain-gradient floor, a new explainer's first call, and memory.

Run ``python -m refdeconv.cli.bench`` (``--quick`` for a smaller model). Everything
is timed in this one process and reported as ratios, so the figures compare
like with like on whatever machine runs them:

- **warm ratio**: ``DeconvNet.explain`` on a warm explainer against a compiled
  ``tf.GradientTape`` gradient of the same operator on the same model and
  batches (the floor any gradient-based method starts from). DeconvNet can go
  below 1: its ReLU rule ignores the forward ReLU values, so TensorFlow prunes
  forward work that the backward pass no longer needs.
- **new explainer**: the first ``explain`` of a new ``DeconvNet`` on a model
  that was already explained (refdeconv reuses its traced function), and, for
  contrast, the cold first call after the trace cache is cleared.
- **memory**: explaining a streamed Dataset of images generated on the fly
  (so inputs are never all in memory), the resident-memory peak above the
  baseline, against the output's own size.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time

import keras
import numpy as np
import tensorflow as tf

from ..explainers import DeconvNet, traced


def median_seconds(fn, repeats: int) -> float:
    """Median wall time of ``repeats`` calls of ``fn`` (warm it up first)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def gradient_floor(model, x, y, batch):
    """A function running the plain-gradient floor on ``x``: a compiled ``tf.GradientTape`` gradient
    of ``sum_k f(x)_k y_k`` per batch of ``batch`` samples (traced on its first call)."""

    @tf.function
    def grad(xb, yb):
        with tf.GradientTape() as tape:
            tape.watch(xb)
            score = tf.reduce_sum(model(xb, training=False) * yb, -1)
        return tape.gradient(score, xb)

    def run():
        for i in range(0, len(x), batch):
            grad(tf.constant(x[i : i + batch]), tf.constant(y[i : i + batch])).numpy()

    return run


def speed(model, n: int, batch: int, repeats: int) -> dict:
    """Warm DeconvNet vs the gradient floor, and first calls of new explainers."""
    shape = tuple(model.inputs[0].shape[1:])
    classes = model.outputs[0].shape[-1]
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, *shape)).astype(np.float32)
    y = np.eye(classes, dtype=np.float32)[rng.integers(0, classes, n)]
    floor = gradient_floor(model, x, y, batch)
    floor()
    explainer = DeconvNet(model, batch_size=batch)
    explainer.explain(x, y)
    warm_floor, warm = median_seconds(floor, repeats), median_seconds(lambda: explainer.explain(x, y), repeats)
    start = time.perf_counter()
    DeconvNet(model, batch_size=batch).explain(x, y)
    new = time.perf_counter() - start
    traced.clear_cache()
    start = time.perf_counter()
    DeconvNet(model, batch_size=batch).explain(x, y)
    cold = time.perf_counter() - start
    return {"gradient_floor_s": warm_floor, "deconvnet_warm_s": warm, "warm_ratio": warm / warm_floor,
            "new_explainer_first_call_s": new, "new_explainer_overhead_s": new - warm, "cold_first_call_s": cold}


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def memory(n: int, batch: int) -> dict:
    """Peak resident memory above baseline while explaining a streamed Dataset of ``n`` 32x32x3 images."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Conv2D(8, 3, activation="relu"),
                              keras.layers.MaxPooling2D(2), keras.layers.Flatten(), keras.layers.Dense(10)])

    def images(i):
        x = tf.random.stateless_normal((32, 32, 3), seed=tf.stack([i, tf.constant(0, tf.int64)]))
        return x, tf.one_hot(i % 10, 10)

    dataset = tf.data.Dataset.range(n).map(images).batch(batch)
    DeconvNet(model, batch_size=batch).explain(dataset.take(2))  # trace, warm the allocator
    baseline, peak, done = _rss(), [0], threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], _rss())
            time.sleep(0.002)

    sampler = threading.Thread(target=sample)
    sampler.start()
    maps = DeconvNet(model, batch_size=batch).explain(dataset)
    done.set()
    sampler.join()
    output = maps.numpy().nbytes
    return {"images": n, "output_mb": output / 1e6, "peak_above_baseline_mb": (peak[0] - baseline) / 1e6,
            "peak_over_output": (peak[0] - baseline) / output}


def main(argv=None) -> None:
    """Run the benchmark and print its figures (``python -m refdeconv.cli.bench [--quick] [--repeats R]``)."""
    parser = argparse.ArgumentParser(prog="python -m refdeconv.cli.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small CNN and 1,000 images instead of ResNet50 and 10,000")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    if args.quick:
        model = keras.Sequential([keras.Input((64, 64, 3)), keras.layers.Conv2D(16, 3, activation="relu"),
                                  keras.layers.MaxPooling2D(2), keras.layers.Conv2D(32, 3, activation="relu"),
                                  keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(10)])
        title = "small CNN"
    else:
        # Logits: attribution explains the class score before the softmax (whose backward pass
        # needs the whole forward pass, which would hide what DeconvNet's rule saves).
        model = keras.applications.ResNet50(weights=None, input_shape=(64, 64, 3), classes=1000,
                                            classifier_activation=None)
        title = "ResNet50 (weights=None, logits)"
    print(f"refdeconv benchmark, TensorFlow {tf.__version__}, CPU, {title}, 64x64, N=128, batch 32")
    s = speed(model, 128, 32, args.repeats)
    print(f"  plain gradient floor (compiled GradientTape): {s['gradient_floor_s']:.3f} s")
    print(f"  DeconvNet, warm:                              {s['deconvnet_warm_s']:.3f} s")
    print(f"  warm ratio DeconvNet / gradient floor:        {s['warm_ratio']:.2f}")
    print(f"  new explainer, first call (model already explained): {s['new_explainer_first_call_s']:.3f} s "
          f"({s['new_explainer_overhead_s']:+.3f} s over warm)")
    print(f"  cold first call (trace cache cleared):        {s['cold_first_call_s']:.3f} s")
    m = memory(1000 if args.quick else 10000, 32)
    print(f"memory: Dataset of {m['images']} 32x32x3 images at batch 32: output {m['output_mb']:.1f} MB, "
          f"peak above baseline {m['peak_above_baseline_mb']:.1f} MB ({m['peak_over_output']:.2f}x the output)")


if __name__ == "__main__":
    main()
