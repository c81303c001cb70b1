"""P5. Without max-pooling, the DeconvNet map does not depend on the input.

Statement
---------
Let `f` be built only from affine maps (`Dense`, `Conv1D/2D` with biases),
ReLUs (any Keras writing), average pooling (windowed or global), `Flatten`
and inference-time identities (`Dropout`). With the default operator
`s = sum_k f(x)_k y_k`, the DeconvNet map is a function of the target alone:

    D(x, y) = D(0, y)      for every input x.

Each of the assumptions is needed: with a max-pooling layer, a non-ReLU
nonlinearity (`tanh`), a score that is not linear in `f(x)`, or the plain
gradient rule, the map changes with `x` (counterexamples below).

Assumptions
-----------
- No max-pooling (windowed or global), no other nonlinearity than ReLUs.
- The default operator (`s` linear in `f(x)`, so the seed `ds/df = y`).

Derivation
----------
Reverse mode sends a signal from the output to the input through the layers
in reverse order. Induction on the layers, from the output down: *the signal
`u_l` arriving at layer `l` is a function of `y` only.*

1. Base: the seed is `u_L = ds/df = y`.
2. Affine layer `z -> A z + b` (dense, convolution, average pooling, global
   average pooling, flatten/reshape, dropout at inference): its adjoint sends
   `A^T u_l` (P2), a fixed linear map of `u_l`; neither `z` nor `b` is read.
3. ReLU under DeconvNet: it sends `relu(u_l)` (P1), not reading its input.
4. So every layer maps a function of `y` to a function of `y`, and the map
   `D(x, y) = u_0` is a function of `y` alone; in particular `D(x, y) = D(0, y)`.
5. Where it breaks: max-pooling's adjoint reads `x` through its switches
   (P3, P6); `tanh`'s adjoint multiplies by `1 - tanh(z)^2`, which reads `z`;
   a score `sum_k f(x)_k^2 y_k` seeds `2 f(x) y`; the gradient rule multiplies
   by `1[z > 0]`.

References
----------
- W. Nie, Y. Zhang, A. Patel, "A Theoretical Explanation for Perplexing
  Behaviors of Backpropagation-based Visualizations", ICML 2018,
  arXiv:1805.07039 (the backward ReLU, local connections and max-pooling in
  DeconvNet's image-like maps).
- M. D. Zeiler, R. Fergus, "Visualizing and Understanding Convolutional
  Networks", ECCV 2014, arXiv:1311.2901, sec. 2.1.
"""

from __future__ import annotations

import tensorflow as tf
from _common import (IMPLEMENTATIONS, assert_maps_close, assert_maps_differ, keras, layer, maps, np,
                     pytest, sequential)

L = keras.layers
CLASSES = 3


def image_net(seed: int = 0, pool=None, activation: str = "relu"):
    """Conv/ReLU/average-pool/flatten/dense image network; ``pool`` replaces the average pooling."""
    pool = pool or layer(L.AveragePooling2D, 2, strides=1)
    return sequential(
        (8, 8, 2),
        layer(L.Conv2D, 4, 3, activation=activation),
        pool,
        layer(L.Conv2D, 3, 2, strides=2, padding="same"),
        layer(L.ReLU),
        layer(L.Dropout, 0.5),
        layer(L.Flatten),
        layer(L.Dense, 5),
        layer(L.Activation, "relu"),
        layer(L.Dense, CLASSES),
        seed=seed,
    )


def sequence_net(seed: int = 0):
    """Conv1D/ReLU/average-pool/global-average-pool/dense sequence network."""
    return sequential(
        (12, 3),
        layer(L.Conv1D, 4, 3, dilation_rate=2, activation="relu"),
        layer(L.AveragePooling1D, 3, strides=2, padding="same"),
        layer(L.Conv1D, 4, 2),
        layer(L.ReLU, max_value=1.0),
        layer(L.GlobalAveragePooling1D),
        layer(L.Dense, CLASSES),
        seed=seed,
    )


NETS = {"image": image_net, "sequence": sequence_net}


def inputs(model, seed: int = 0, n: int = 6) -> np.ndarray:
    """``x = 0`` followed by random inputs of scales 0.1 to 10 (float64)."""
    rng = np.random.default_rng([seed, 5])
    shape = (n, *model.input_shape[1:])
    x = rng.normal(size=shape) * rng.choice([0.1, 1.0, 10.0], size=(n,) + (1,) * (len(shape) - 1))
    x[0] = 0.0
    return x


def assert_input_free(model, x, rule: str, impl: str, context: str) -> None:
    """Every sample's map (one target for all) equals the map at ``x[0] = 0``."""
    for target in np.eye(CLASSES):
        y = np.tile(target, (len(x), 1))
        got = maps(model, x, y, rule, impl)
        assert_maps_close(got, np.repeat(got[:1], len(x), axis=0), "float64", f"{context} target {target}")


def check_input_free(net: str, impl: str, seed: int = 0) -> None:
    """Derivation steps 1-4: ``D(x, y) = D(0, y)`` for the network ``net``."""
    model = NETS[net](seed)
    assert_input_free(model, inputs(model, seed), "deconvnet", impl, f"{impl} {net} DeconvNet")


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize("net", sorted(NETS))
@pytest.mark.parametrize("seed", [0, 1])
def test_map_is_free_of_the_input(seed, net, impl):
    check_input_free(net, impl, seed)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize("breaking", ["maxpool", "tanh", "gradient rule"])
def test_each_assumption_is_needed(breaking, impl):
    """Derivation step 5: max-pooling, a tanh, or the gradient rule bring the input back."""
    if breaking == "maxpool":
        model, rule = image_net(0, pool=layer(L.MaxPooling2D, 2, strides=1)), "deconvnet"
    elif breaking == "tanh":
        model, rule = image_net(0, activation="tanh"), "deconvnet"
    else:
        model, rule = image_net(0), "gradient"
    x = inputs(model)
    with pytest.raises(AssertionError):
        assert_input_free(model, x, rule, impl, breaking)


def test_a_nonlinear_operator_brings_the_input_back():
    """Step 5, the operator: ``s = sum_k f(x)_k^2 y_k`` seeds ``2 f(x) y`` (TensorFlow explainer only)."""
    from refdeconv import DeconvNet

    model = image_net(0)
    x = inputs(model)
    y = np.tile(np.eye(CLASSES)[:1], (len(x), 1))
    squared = DeconvNet(model, batch_size=None, operator=lambda f, x, y: tf.reduce_sum(f(x) ** 2 * y, axis=-1))
    got = np.asarray(squared.explain(x, y))
    assert_maps_differ(got, np.repeat(got[:1], len(x), axis=0), context="squared operator across inputs")


if __name__ == "__main__":
    import sys

    sys.exit(pytest.main([__file__, "-q"]))
