"""P4. One hidden layer, default operator: `D(x, y) = K1 relu(K2 y)`, free of `x` and of the biases.

Statement
---------
Let `f(x) = K2^T relu(K1^T x + b1) + b2` be a Keras model
`Input(n) -> Dense(h, activation="relu") -> Dense(c)` with Keras kernels
`K1` of shape `(n, h)` and `K2` of shape `(h, c)` (Keras computes `x K + b`
with `x` a row). With the default operator `s = sum_k f(x)_k y_k`, the
DeconvNet map is

    D(x, y) = K1 relu(K2 y)                                 (a vector of R^n)

for every input `x` and every target weighting `y` in `R^c` (one-hot or not):
it depends neither on `x` nor on `b1`, `b2`. By contrast the gradient is
`G(x, y) = K1 (1[K1^T x + b1 > 0] * K2 y)`, which does depend on `x` (and
on `b1`) through the mask.

Assumptions
-----------
- Exactly one ReLU layer; no other nonlinearity (an output softmax would put
  `x` back into the map through its Jacobian).
- The default operator (a linear function of `f(x)`).

Derivation
----------
1. Seed: `ds/df = y`.
2. Second layer `f = a K2 + b2` (row convention): its adjoint sends
   `u = y K2^T`, i.e. the column vector `K2 y` in `R^h`. It does not involve
   `b2` (P2: an affine map's adjoint is its linear part's).
3. ReLU, DeconvNet rule (P1): the signal becomes `relu(u) = relu(K2 y)`,
   whatever the pre-activation `z = K1^T x + b1`: `x` and `b1` are not read.
4. First layer `z = x K1 + b1`: its adjoint sends `K1 relu(K2 y)` to `x`.
5. Under the gradient rule step 3 is `1[z > 0] * u` instead: the mask
   brings in `x` and `b1`. Two inputs with different masks on units where
   `K2 y != 0` get different gradient maps, while their DeconvNet maps are
   equal. In the extreme, biases so negative that every hidden unit is
   off give `G = 0` but still `D = K1 relu(K2 y)`.

References
----------
- M. D. Zeiler, R. Fergus, "Visualizing and Understanding Convolutional
  Networks", ECCV 2014, arXiv:1311.2901, sec. 2.1.
- W. Nie, Y. Zhang, A. Patel, "A Theoretical Explanation for Perplexing
  Behaviors of Backpropagation-based Visualizations", ICML 2018,
  arXiv:1805.07039 (DeconvNet's backward ReLU, analysed on small random networks).
"""

from __future__ import annotations

from _common import (IMPLEMENTATIONS, assert_maps_close, assert_maps_differ, keras, layer, maps, np,
                     pytest, sequential)

L = keras.layers
N_IN, HIDDEN, CLASSES = 5, 7, 3


def one_hidden(seed: int = 0, bias_scale: float = 0.5):
    """``Input(5) -> Dense(7, relu) -> Dense(3)``, float64, seeded weights; also returns ``K1, K2``."""
    model = sequential((N_IN,), layer(L.Dense, HIDDEN, activation="relu"), layer(L.Dense, CLASSES),
                       seed=seed, bias_scale=bias_scale)
    return model, model.layers[0].get_weights()[0], model.layers[1].get_weights()[0]


def draw(seed: int = 0, n: int = 8):
    """Inputs of several scales and real-valued targets of both signs (one-hot rows among them)."""
    rng = np.random.default_rng([seed, 4])
    x = rng.normal(size=(n, N_IN)) * rng.choice([0.1, 1.0, 10.0], size=(n, 1))
    y = rng.normal(size=(n, CLASSES))
    y[: CLASSES] = np.eye(CLASSES)
    return x, y


def closed_form(k1, k2, y) -> np.ndarray:
    """``D(x, y) = K1 relu(K2 y)`` for each row of ``y``."""
    return np.maximum(y @ k2.T, 0.0) @ k1.T


def check_closed_form(impl: str, seed: int = 0) -> None:
    """The DeconvNet map of ``impl`` equals ``K1 relu(K2 y)`` on every sample."""
    model, k1, k2 = one_hidden(seed)
    x, y = draw(seed)
    got = maps(model, x, y, "deconvnet", impl)
    assert_maps_close(got, closed_form(k1, k2, y), "float64", f"{impl} D = K1 relu(K2 y)")


def check_free_of_x_and_biases(impl: str, seed: int = 0) -> None:
    """One target, many inputs, three sets of biases (one turning every unit off): one map."""
    model, k1, k2 = one_hidden(seed)
    x, _ = draw(seed)
    y = np.tile(np.array([[0.3, -1.0, 2.0]]), (len(x), 1))
    expected = closed_form(k1, k2, y)
    for b1 in (np.zeros(HIDDEN), np.full(HIDDEN, 3.0), np.full(HIDDEN, -1e3)):  # last: every unit dead
        model.layers[0].set_weights([k1, b1])
        model.layers[1].set_weights([k2, np.arange(CLASSES, dtype=float)])
        assert_maps_close(maps(model, x, y, "deconvnet", impl), expected, "float64", f"{impl} b1={b1[0]}")


def check_gradient_depends_on_x(impl: str, seed: int = 0) -> None:
    """The contrast: ``G(x, y) = K1 (1[z > 0] * K2 y)`` differs between inputs; ``D`` does not."""
    model, k1, k2 = one_hidden(seed)
    x, _ = draw(seed)
    y = np.tile(np.array([[0.3, -1.0, 2.0]]), (len(x), 1))
    w1, b1 = model.layers[0].get_weights()
    mask = (x @ w1 + b1) > 0
    gradient = maps(model, x, y, "gradient", impl)
    assert_maps_close(gradient, (mask * (y @ k2.T)) @ k1.T, "float64", f"{impl} G = K1 (mask K2 y)")
    assert not (mask == mask[0]).all(), "the drawn inputs must differ in their masks"
    assert_maps_differ(gradient, np.tile(gradient[:1], (len(x), 1)), context=f"{impl} gradient across inputs")
    deconv = maps(model, x, y, "deconvnet", impl)
    assert_maps_close(deconv, np.tile(deconv[:1], (len(x), 1)), "float64", f"{impl} DeconvNet across inputs")


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_closed_form(seed, impl):
    check_closed_form(impl, seed)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_free_of_inputs_and_biases(impl):
    check_free_of_x_and_biases(impl)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_the_gradient_depends_on_the_input(impl):
    check_gradient_depends_on_x(impl)


if __name__ == "__main__":
    import sys

    sys.exit(pytest.main([__file__, "-q"]))
