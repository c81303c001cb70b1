"""P6. With max-pooling, the input enters the DeconvNet map only through the switches.

Statement
---------
Let `f` be built from the layers of P5 plus windowed max-pooling layers
`P_1, ..., P_m`, and let `S(x) = (S_1(x), ..., S_m(x))` be the switches (the
winning position of every window, ties to the first maximum, P3) of those
layers in the forward pass of `x`. With the default operator there is a
function `Phi` with

    D(x, y) = Phi(S(x), y),

so two inputs with equal switches have equal maps, however different the
inputs are. The converse is not a theorem but the generic case: inputs with
different switches (generally) get different maps (counterexamples below).

Assumptions
-----------
- As P5, with windowed max-pooling added (switches as in P3).
- The default operator.

Derivation
----------
1. Reverse-mode induction of P5, from the output down: the signal at each
   layer is a function of `y` and of the switches of the max-pooling layers
   above it.
2. Affine layers and ReLUs (DeconvNet rule) send a function of their incoming
   signal only (P2, P1).
3. A max-pooling layer sends `unpool(u)`, which reads the forward pass only
   through its switches `S_l(x)` (P3): `unpool_S(u)[p] = sum_{w: S(w) = p} u[w]`.
4. Hence `D(x, y) = Phi(S(x), y)`. In particular:
   a. if max-pooling is the first layer, `S(x)` only depends on the order of
      the values within each window, so any strictly increasing function
      `g` applied element-wise keeps the switches (it keeps order and ties):
      `D(g(x), y) = D(x, y)` (e.g. `g(t) = t^3 + t + 5` or `exp`);
   b. in a deep network, a small enough perturbation `x + e` that crosses no
      ReLU kink and no near-tie keeps every switch, and so the map;
   c. negating the input of a first max-pooling moves its switches to the
      window minima, and the map changes.

References
----------
- M. D. Zeiler, R. Fergus, "Visualizing and Understanding Convolutional
  Networks", ECCV 2014, arXiv:1311.2901, sec. 2.1 (switches).
- W. Nie, Y. Zhang, A. Patel, "A Theoretical Explanation for Perplexing
  Behaviors of Backpropagation-based Visualizations", ICML 2018,
  arXiv:1805.07039 (the role of max-pooling in DeconvNet's maps).
"""

from __future__ import annotations

from numpy.lib.stride_tricks import sliding_window_view

from _common import (IMPLEMENTATIONS, assert_maps_close, assert_maps_differ, keras, layer, maps, np,
                     pytest, reference, sequential)

L = keras.layers
CLASSES = 3


def switches(a: np.ndarray, pool: int, stride: int) -> np.ndarray:
    """Switch of every window of a ``"valid"`` square max-pooling of ``a`` (NHWC): first maximum, row-major."""
    w = sliding_window_view(a, (pool, pool), axis=(1, 2))[:, ::stride, ::stride]
    return w.reshape(*w.shape[:4], -1).argmax(axis=-1)


def pool_first_net(seed: int = 0):
    """``MaxPool(3, stride 2)`` first, then conv/ReLU/average-pool/dense layers."""
    return sequential(
        (9, 9, 2),
        layer(L.MaxPooling2D, 3, strides=2),
        layer(L.Conv2D, 3, 2, activation="relu"),
        layer(L.AveragePooling2D, 2),
        layer(L.Flatten),
        layer(L.Dense, 8, activation="relu"),
        layer(L.Dense, CLASSES),
        seed=seed,
    )


def deep_net(seed: int = 0):
    """conv/ReLU/max-pool twice (overlapping windows), then dense layers; pooling inputs named."""
    return sequential(
        (10, 10, 2),
        layer(L.Conv2D, 3, 3, activation="relu", name="pool_in_1"),
        layer(L.MaxPooling2D, 2, strides=1),
        layer(L.Conv2D, 3, 2, activation="relu", name="pool_in_2"),
        layer(L.MaxPooling2D, 3, strides=2),
        layer(L.Flatten),
        layer(L.Dense, 8, activation="relu"),
        layer(L.Dense, CLASSES),
        seed=seed,
    )


def deep_switches(model, x):
    """The switches of both max-pooling layers of :func:`deep_net` for inputs ``x``."""
    return (switches(reference.forward(model, x, "pool_in_1"), 2, 1),
            switches(reference.forward(model, x, "pool_in_2"), 3, 2))


def targets(n: int) -> np.ndarray:
    """One real-valued target weighting of both signs, the same for all ``n`` samples."""
    return np.tile(np.array([[1.0, -0.5, 2.0]]), (n, 1))


def check_monotone_transform(impl: str, seed: int = 0) -> None:
    """Step 4a: ``x``, ``x^3 + x + 5`` and ``exp(x)`` share switches, hence maps; ``-x`` does not."""
    model = pool_first_net(seed)
    x = np.random.default_rng([seed, 6]).normal(size=(1, 9, 9, 2))
    x[0, :3, :3, 0] = 0.0  # a tied window: g keeps ties too
    batch = np.concatenate([x, x**3 + x + 5.0, np.exp(x)])
    for g in batch[1:]:
        np.testing.assert_array_equal(switches(g[None], 3, 2), switches(x, 3, 2))
    got = maps(model, batch, targets(3), "deconvnet", impl)
    assert np.abs(got).max() > 0, "a zero map would make the check vacuous"
    assert_maps_close(got, np.repeat(got[:1], 3, axis=0), "float64", f"{impl} monotone transforms")
    assert not np.array_equal(switches(-x, 3, 2), switches(x, 3, 2))
    assert_maps_differ(maps(model, -x, targets(1), "deconvnet", impl), got[:1], context=f"{impl} -x")


def check_perturbation_with_equal_switches(impl: str, seed: int = 0) -> None:
    """Step 4b: in a deep network a perturbation that keeps every switch keeps the map."""
    model = deep_net(seed)
    rng = np.random.default_rng([seed, 7])
    x = rng.normal(size=(1, 10, 10, 2))
    near = x + 1e-4 * rng.normal(size=x.shape)
    for a, b in zip(deep_switches(model, x), deep_switches(model, near)):
        np.testing.assert_array_equal(a, b, err_msg="the perturbation must keep every switch")
    assert not np.array_equal(x, near)
    got = maps(model, np.concatenate([x, near]), targets(2), "deconvnet", impl)
    assert np.abs(got).max() > 0, "a zero map would make the check vacuous"
    assert_maps_close(got[1:], got[:1], "float64", f"{impl} equal switches")


def check_different_switches(impl: str, seed: int = 0) -> None:
    """The converse, generically: independent inputs have different switches and different maps."""
    model = deep_net(seed)
    x = np.random.default_rng([seed, 8]).normal(size=(2, 10, 10, 2))
    s0, s1 = deep_switches(model, x[:1]), deep_switches(model, x[1:])
    assert any(not np.array_equal(a, b) for a, b in zip(s0, s1))
    got = maps(model, x, targets(2), "deconvnet", impl)
    assert_maps_differ(got[1:], got[:1], context=f"{impl} different switches")


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize("seed", [0, 2, 3])  # seeds whose map is not zero (DeconvNet maps can be)
def test_monotone_transform_keeps_switches_and_map(seed, impl):
    check_monotone_transform(impl, seed)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize("seed", [0, 1])
def test_equal_switches_equal_maps(seed, impl):
    check_perturbation_with_equal_switches(impl, seed)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_different_switches_different_maps(impl):
    check_different_switches(impl)


if __name__ == "__main__":
    import sys

    sys.exit(pytest.main([__file__, "-q"]))
