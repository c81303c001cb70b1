"""The small networks of the studies: a VGG-like CNN for the 8 x 8 digits (with max-pooling, or
with average pooling in its place), trained with a fixed seed, and copies of a trained net with
some layers re-initialised (the randomisation tests).
"""

from __future__ import annotations

import keras
import numpy as np

#: The digits CNN's layers with weights, from the input up.
LAYERS = ("conv1", "conv2", "conv3", "dense", "logits")


def digits_cnn(pooling: str = "max") -> keras.Model:
    """Conv(16)-ReLU, Conv(16)-ReLU, pool, Conv(32)-ReLU, pool, Dense(64)-ReLU, Dense(10) logits on
    ``(8, 8, 1)``; ``pooling`` is ``"max"`` (2 x 2 max-pooling, the switches of DeconvNet) or
    ``"average"`` (2 x 2 average pooling: no input-dependent switch)."""
    L = keras.layers
    pool = {"max": L.MaxPooling2D, "average": L.AveragePooling2D}[pooling]
    return keras.Sequential([
        keras.Input((8, 8, 1)),
        L.Conv2D(16, 3, padding="same", activation="relu", name="conv1"),
        L.Conv2D(16, 3, padding="same", activation="relu", name="conv2"),
        pool(2, name="pool1"),
        L.Conv2D(32, 3, padding="same", activation="relu", name="conv3"),
        pool(2, name="pool2"),
        L.Flatten(name="flatten"),
        L.Dense(64, activation="relu", name="dense"),
        L.Dense(10, name="logits"),
    ], name=f"digits_cnn_{pooling}")


def train(model: keras.Model, x, y, x_test, y_test, epochs: int, seed: int) -> float:
    """Train ``model`` in place (Adam 3e-3, batch 64, cross-entropy on logits) with ``seed``;
    returns the accuracy on ``(x_test, y_test)``."""
    keras.utils.set_random_seed(seed)
    model.compile(optimizer=keras.optimizers.Adam(3e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, batch_size=64, epochs=epochs, verbose=0, shuffle=True)
    return float((model.predict(x_test, verbose=0).argmax(1) == y_test).mean())


def trained_digits(context, pooling: str = "max", labels: str = "true") -> tuple[keras.Model, float]:
    """The digits CNN trained on the digits (kept for the run): ``(model, held-out accuracy)``.

    ``labels="permuted"`` trains it on the training labels permuted at random (Adebayo et al.'s
    data randomisation test); its accuracy is then measured against the true labels.
    """
    from .data import digits

    def make():
        x, y, x_test, y_test = digits(context.seed)
        if labels == "permuted":
            y = np.random.default_rng([context.seed, 1]).permutation(y)
        keras.utils.set_random_seed(context.seed)
        model = digits_cnn(pooling)
        epochs = context.size(4, 30 if labels == "permuted" else 15)
        return model, train(model, x, y, x_test, y_test, epochs, context.seed)

    return context.kept(("digits", pooling, labels), make)


def reinitialized(model: keras.Model, names, seed: int) -> keras.Model:
    """A copy of ``model`` with the layers ``names`` re-initialised by their own initialisers
    (seeded by ``seed`` and the layer's position); ``model`` is not changed."""
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    for i, layer in enumerate(copy.layers):
        if layer.name in names:
            layer.kernel.assign(_fresh(layer.kernel_initializer, seed * 1000 + i)(layer.kernel.shape))
            layer.bias.assign(_fresh(layer.bias_initializer, seed * 1000 + i)(layer.bias.shape))
    return copy


def _fresh(initializer, seed: int):
    config = initializer.get_config()
    if "seed" in config:  # the constant initialisers (zeros for the biases) take no seed
        config["seed"] = seed
    return initializer.__class__.from_config(config)
