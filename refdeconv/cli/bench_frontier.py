"""Benchmark of the frontier cache on ``keras.applications`` models (``refdeconv bench --frontier``).

For each model (random weights, logits, 64x64 inputs, batch 32), in one process,
reported as ratios to the compiled plain-gradient floor of the same batches:

- **dataset**: ``N`` inputs (default 512) per call, each call explaining 10
  classes no earlier call has seen, so the per-class cache starts empty for them:
  the median of the steady calls (the second to the fourth), and the first call
  apart (it prunes the parts around the frontier and checks them row by row, once);
- **repeated**: 128 inputs, targets over 100 classes, cache warm;
- **worst case**: 128 inputs whose targets are random real vectors (no two rows
  alike, nothing to share), against today's uncached path on a twin of the model
  (same weights, its own traces), the two called in turn: the median of five calls each, and the
  first call apart (it caches four batches' worth of rows before it gives up);
- **Xplique**: its ``DeconvNet`` on the dataset workload, when ``xplique`` is
  importable (an optional benchmark dependency, never a requirement);
- the cold first call (trace cache cleared) with the frontier and without, and
  the cache's memory per target.
"""

from __future__ import annotations

import time

import keras
import numpy as np
import tensorflow as tf

from ..explainers import DeconvNet, frontier, signals, traced
from .bench import gradient_floor, median_seconds

MODELS = ("ResNet50", "MobileNetV2", "DenseNet121", "VGG16")
BATCH = 32


def _model(name: str):
    keras.utils.set_random_seed(0)
    return getattr(keras.applications, name)(weights=None, input_shape=(64, 64, 3), classes=1000,
                                             classifier_activation=None)


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _uncached():
    """Today's path: no frontier is worth caching, traces forgotten."""
    traced.clear_cache()
    frontier.WORTH = float("inf")


def _cached():
    traced.clear_cache()
    frontier.WORTH = _WORTH


_WORTH = frontier.WORTH


def _xplique_seconds(model, x, y) -> float | None:
    try:
        from xplique.attributions import DeconvNet as XpliqueDeconvNet
    except ImportError:
        return None
    explainer = XpliqueDeconvNet(model, batch_size=BATCH)
    explainer.explain(tf.constant(x[:BATCH]), tf.constant(y[:BATCH]))
    return _timed(lambda: explainer.explain(tf.constant(x), tf.constant(y)))


def measure(name: str, n: int, calls: int = 4) -> dict:
    """The figures of one model (see the module docstring)."""
    model, rng = _model(name), np.random.default_rng(0)
    x = rng.normal(size=(n, 64, 64, 3)).astype(np.float32)
    eye = np.eye(1000, dtype=np.float32)
    row = {"model": name}
    _uncached()
    row["cold_uncached_s"] = _timed(lambda: DeconvNet(model, batch_size=BATCH).explain(x[:BATCH], eye[:BATCH]))
    _cached()
    explainer = DeconvNet(model, batch_size=BATCH)
    row["cold_s"] = _timed(lambda: explainer.explain(x[:BATCH], eye[:BATCH]))
    row["frontier"] = dict(explainer.frontier)
    signals.forget()

    def fresh_classes(call: int):  # 10 classes no earlier call has seen
        return eye[10 * call + rng.integers(0, 10, n) + 100]

    floor = gradient_floor(model, x, fresh_classes(0), BATCH)
    floor()
    row["floor_s"] = median_seconds(floor, 2)
    dataset = [_timed(lambda c=c: explainer.explain(x, fresh_classes(c))) for c in range(1, calls + 1)]
    row["dataset_first_s"], row["dataset_s"] = dataset[0], float(np.median(dataset[1:]))
    small, labels = x[:128], eye[rng.integers(0, 100, 128)]
    small_floor = gradient_floor(model, small, labels, BATCH)
    small_floor()
    row["floor_128_s"] = median_seconds(small_floor, 2)
    explainer.explain(small, labels)
    row["repeated_s"] = median_seconds(lambda: explainer.explain(small, labels), 2)
    distinct = lambda: rng.normal(size=(128, 1000)).astype(np.float32)  # noqa: E731
    twin = keras.models.clone_model(model)
    twin.set_weights(model.get_weights())
    today = DeconvNet(twin, batch_size=BATCH)
    frontier.WORTH = float("inf")  # decided when traced: the twin's traces take today's path
    today.explain(small[:BATCH], labels[:BATCH])
    frontier.WORTH = _WORTH
    worst = [(_timed(lambda: explainer.explain(small, distinct())), _timed(lambda: today.explain(small, distinct())))
             for _ in range(6)]
    row["worst_first"] = worst[0][0] / worst[0][1]
    row["worst_s"], row["worst_uncached_s"] = np.median(worst[1:], axis=0).tolist()
    row["dataset_uncached_s"] = _timed(lambda: today.explain(x, fresh_classes(calls + 1)))
    row["xplique_s"] = _xplique_seconds(model, x, fresh_classes(calls + 2))
    signals.forget()
    return row


def report(row: dict, n: int) -> list[str]:
    """Printable lines of one model's row."""
    f = row["frontier"]
    where = (f"frontier {f['shapes']} ({f['bytes_per_target'] / 1e6:.2f} MB per target)" if f["used"]
             else f"no frontier used: {f['reason']}")
    lines = [f"{row['model']}: {where}",
             f"  dataset (N={n}, 10 new classes a call): {row['dataset_s']:.2f} s = "
             f"{row['dataset_s'] / row['floor_s']:.3f}x the gradient floor ({row['floor_s']:.2f} s); "
             f"uncached {row['dataset_uncached_s'] / row['floor_s']:.3f}x; first call {row['dataset_first_s']:.2f} s",
             f"  repeated (N=128, 100 classes, warm): {row['repeated_s'] / row['floor_128_s']:.3f}x the floor",
             f"  worst case (every target distinct): {row['worst_s'] / row['worst_uncached_s']:.2f}x today's path "
             f"(first call {row['worst_first']:.2f}x)",
             f"  cold first call: {row['cold_s']:.2f} s (today's path {row['cold_uncached_s']:.2f} s)"]
    if row["xplique_s"] is not None:
        lines.append(f"  Xplique DeconvNet, dataset workload: {row['xplique_s']:.2f} s; refdeconv / Xplique = "
                     f"{row['dataset_s'] / row['xplique_s']:.3f}")
    else:
        lines.append("  Xplique: not installed (pip install xplique), no comparison")
    return lines


def main(models=MODELS, n: int = 512) -> None:
    """Measure and print every model's row."""
    print(f"refdeconv frontier benchmark, TensorFlow {tf.__version__}, CPU, 64x64, batch {BATCH}, random weights, "
          "logits")
    for name in models:
        print("\n".join(report(measure(name, n), n)), flush=True)
