"""``refdeconv demo``: a correct DeconvNet picture of a model that learned something, with no download.

Generates images of squares, circles and triangles at random positions and
sizes, trains a small CNN on them (well under a minute on a CPU), reports its
held-out accuracy, explains a handful of held-out images with ``DeconvNet``,
``Gradient`` and ``GuidedBackprop``, and writes ``demo.png`` and ``maps.npz``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import keras
import numpy as np

SHAPES = ("square", "circle", "triangle")
SIZE = 32


def shapes_dataset(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` noisy ``(32, 32, 1)`` images of one shape each, and their labels (0 square, 1 circle, 2 triangle).

    Shapes have a random centre and radius (5 to 10 pixels), brightness in
    [0.6, 1], on Gaussian noise of standard deviation 0.1.
    """
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, len(SHAPES), n)
    rows, cols = np.mgrid[0:SIZE, 0:SIZE]
    images = rng.normal(0.0, 0.1, (n, SIZE, SIZE, 1)).astype(np.float32)
    for image, label in zip(images, labels):
        r = rng.uniform(5, 10)
        cy, cx = rng.uniform(r + 1, SIZE - r - 1, 2)
        dy, dx = rows - cy, cols - cx
        if label == 0:
            mask = (np.abs(dy) <= r * 0.8) & (np.abs(dx) <= r * 0.8)
        elif label == 1:
            mask = dy**2 + dx**2 <= r**2
        else:  # apex up: inside when below the apex and within the widening sides
            mask = (dy <= r * 0.8) & (dy >= -r) & (np.abs(dx) <= (dy + r) * 0.6)
        image[mask, 0] += rng.uniform(0.6, 1.0)
    return images, labels


def small_cnn() -> keras.Model:
    """Two conv/ReLU/max-pool blocks and a dense head: the architecture DeconvNet was made for."""
    L = keras.layers
    return keras.Sequential([
        keras.Input((SIZE, SIZE, 1)),
        L.Conv2D(16, 3, padding="same", activation="relu"), L.MaxPooling2D(2),
        L.Conv2D(32, 3, padding="same", activation="relu"), L.MaxPooling2D(2),
        L.Conv2D(32, 3, padding="same", activation="relu"), L.GlobalMaxPooling2D(),
        L.Dense(len(SHAPES)),
    ], name="shapes_cnn")


def train(n_train: int = 3000, epochs: int = 4, seed: int = 0, verbose: int = 1):
    """Train :func:`small_cnn` on generated shapes; returns ``(model, held-out accuracy, test images, labels)``."""
    keras.utils.set_random_seed(seed)
    x, y = shapes_dataset(n_train, seed)
    x_test, y_test = shapes_dataset(600, seed + 1)
    model = small_cnn()
    model.compile(optimizer=keras.optimizers.Adam(3e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    model.fit(x, y, batch_size=64, epochs=epochs, verbose=2 if verbose else 0)
    accuracy = float((model.predict(x_test, verbose=0).argmax(1) == y_test).mean())
    return model, accuracy, x_test, y_test


def run(out: str | Path, n_images: int = 6, seed: int = 0, verbose: int = 1) -> dict:
    """The whole demo; writes ``demo.png`` (when matplotlib is present) and ``maps.npz`` into ``out``."""
    from ..explainers import DeconvNet, Gradient, GuidedBackprop

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    say = (lambda *a: print(*a, file=sys.stderr, flush=True)) if verbose else (lambda *a: None)
    start = time.perf_counter()
    say(f"[1/3] training a small CNN on generated {', '.join(SHAPES)} images")
    model, accuracy, x_test, y_test = train(seed=seed, verbose=verbose)
    say(f"      held-out accuracy {accuracy:.1%} (chance {1 / len(SHAPES):.1%}), {time.perf_counter() - start:.0f} s")
    x, labels = x_test[:n_images], y_test[:n_images]
    say(f"[2/3] explaining {n_images} held-out images with DeconvNet, Gradient and GuidedBackprop")
    maps = {cls.__name__: cls(model).explain(x, labels).numpy() for cls in (DeconvNet, Gradient, GuidedBackprop)}
    np.savez(out / "maps.npz", inputs=x, labels=labels, **maps)
    say(f"[3/3] writing {out / 'demo.png'} and {out / 'maps.npz'}")
    try:
        from .plot import plot_maps

        plot_maps(x, maps, out / "demo.png", titles=[SHAPES[k] for k in labels])
    except ImportError as err:
        say(f"      no demo.png: {err}")
    return {"accuracy": accuracy, "seconds": time.perf_counter() - start, "out": str(out)}
