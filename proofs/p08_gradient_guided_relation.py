"""P8. DeconvNet, the gradient and Guided Backprop agree exactly where their ReLU rules agree.

Statement
---------
At one ReLU with forward input `z` (active: `m = 1[z > 0]`) and upstream signal `u`:

    gradient  G = u m,    deconvnet  D = relu(u),    guided  GB = relu(u) m = D m = G 1[u > 0].

So, unit by unit, `GB` is DeconvNet's signal masked by the forward pass (and
the gradient's masked by the signal's sign); `D = G` exactly where
`(m = 1 and u >= 0) or (m = 0 and u <= 0)`; `GB = D` where `m = 1 or u <= 0`;
`GB = G` where `u >= 0 or m = 0`. For whole networks:

1. if every ReLU is active on `x`, `GB(x, y) = D(x, y)` for every `y`;
2. if moreover every upstream signal at every ReLU is `>= 0`, all three maps coincide;
3. if every upstream signal of the gradient pass is `>= 0`, `GB = G` (active or not);
4. with no ReLU at all, all three maps coincide (every other operation,
   max-pooling and `tanh`/`sigmoid` included, has one backward rule).

Assumptions
-----------
- Plain ReLUs, the default operator. "Upstream signal" means the signal at
  the ReLU's output in the backward pass of the rule named.

Derivation
----------
1. The unit-level identities are the rule table (P1) read case by case over
   the signs of `z` and `u`.
2. Network level, by induction from the output down: the three backward passes
   share the seed `y` and every non-ReLU step (P2, P3). If at every ReLU the
   rules of two methods give the same output for the same input signal, the
   two passes carry equal signals through every layer, hence equal maps.
3. All ReLUs active (`m = 1`): `GB = relu(u) * 1 = D` at every unit, for any `u`.
   All upstream signals `>= 0` too: `G = u = relu(u) = D`.
4. Gradient-pass signals `>= 0` at every ReLU: `GB = relu(u) m = u m = G` there,
   so both passes carry the same signal to the next ReLU. A sufficient
   condition, used below: `y >= 0` and every layer above the first
   (between the first ReLU and the output) has nonnegative weights, so each
   adjoint maps nonnegative signals to nonnegative signals.
5. With no ReLU the three rules are never consulted: one backward pass.

References
----------
- J. T. Springenberg et al., "Striving for Simplicity: The All Convolutional
  Net", ICLR 2015 workshop, arXiv:1412.6806, fig. 1 (the three rules side by side).
- W. Nie, Y. Zhang, A. Patel, "A Theoretical Explanation for Perplexing
  Behaviors of Backpropagation-based Visualizations", ICML 2018, arXiv:1805.07039.
- Captum `GuidedBackprop` / `Deconvolution`: one flag tells the two classes apart.
"""

from __future__ import annotations

from _common import (IMPLEMENTATIONS, RULES, assert_maps_close, assert_maps_differ, keras, layer, maps,
                     np, pytest, reference, sequential)

L = keras.layers
CLASSES = 3
#: Names of the linear layers that feed a ReLU in :func:`deep_net`, in forward order.
FEEDS_RELU = ("lin1", "lin2", "lin3")


def check_unit_by_unit(impl: str) -> None:
    """Unit-level identities on ``f(x) = relu(x)``: every sign pair ``(z, u)``, bitwise."""
    grid = np.array([-2.0, -0.5, 0.0, 0.5, 2.0])
    x = np.tile(grid, len(grid))[None]
    y = np.repeat(grid, len(grid))[None]
    model = sequential(x.shape[1:], layer(L.ReLU))
    g, d, gb = (maps(model, x, y, rule, impl) for rule in RULES)
    m = x > 0
    np.testing.assert_array_equal(gb, d * m)
    np.testing.assert_array_equal(gb, g * (y > 0))
    np.testing.assert_array_equal(d == g, (m & (y >= 0)) | (~m & (y <= 0)))
    np.testing.assert_array_equal(gb == d, m | (y <= 0))
    np.testing.assert_array_equal(gb == g, (y >= 0) | ~m)


def check_hidden_layer(impl: str, seed: int = 0) -> None:
    """One hidden layer: ``G = K1 (m u)``, ``D = K1 relu(u)``, ``GB = K1 (m relu(u))`` with ``u = K2 y``."""
    model = sequential((4,), layer(L.Dense, 6, activation="relu"), layer(L.Dense, CLASSES), seed=seed)
    (k1, b1), (k2, _) = model.layers[0].get_weights(), model.layers[1].get_weights()
    rng = np.random.default_rng([seed, 10])
    x, y = rng.normal(size=(5, 4)), rng.normal(size=(5, CLASSES))
    m, u = (x @ k1 + b1) > 0, y @ k2.T
    expected = {"gradient": m * u, "deconvnet": np.maximum(u, 0.0), "guided": m * np.maximum(u, 0.0)}
    for rule in RULES:
        assert_maps_close(maps(model, x, y, rule, impl), expected[rule] @ k1.T, "float64", f"{impl} {rule}")


def deep_net(seed: int = 0, nonnegative_above_first: bool = False):
    """conv/ReLU/max-pool, conv/ReLU, dense/ReLU, dense; ReLUs as separate layers after ``lin*``."""
    model = sequential(
        (8, 8, 2),
        layer(L.Conv2D, 3, 3, name="lin1"), layer(L.ReLU),
        layer(L.MaxPooling2D, 2, strides=1),
        layer(L.Conv2D, 3, 2, name="lin2"), layer(L.ReLU),
        layer(L.Flatten),
        layer(L.Dense, 6, name="lin3"), layer(L.ReLU),
        layer(L.Dense, CLASSES, name="head"),
        seed=seed,
    )
    if nonnegative_above_first:
        for name in ("lin2", "lin3", "head"):
            kernel, bias = model.get_layer(name).get_weights()
            model.get_layer(name).set_weights([np.abs(kernel), bias])
    return model


def activate_all(model, x) -> None:
    """Set the biases of the ``lin*`` layers so that every ReLU is active on ``x``, and verify it."""
    for name in FEEDS_RELU:
        lay = model.get_layer(name)
        kernel, bias = lay.get_weights()
        lay.set_weights([kernel, np.zeros_like(bias)])
        z = reference.forward(model, x, name)
        lay.set_weights([kernel, 1.0 - z.min(axis=tuple(range(z.ndim - 1)))])
    for name in FEEDS_RELU:
        assert (reference.forward(model, x, name) > 0).all(), f"{name}: a ReLU is still inactive"


def draw(seed: int = 0, n: int = 3):
    """Inputs, targets of both signs, and nonnegative targets."""
    rng = np.random.default_rng([seed, 11])
    return rng.normal(size=(n, 8, 8, 2)), rng.normal(size=(n, CLASSES)), rng.uniform(0.0, 1.0, (n, CLASSES))


def check_all_active(impl: str, seed: int = 0) -> None:
    """Statement 1: every ReLU active -> ``GB = D``; with mixed-sign signals ``G`` still differs."""
    model = deep_net(seed)
    x, y, _ = draw(seed)
    activate_all(model, x)
    g, d, gb = (maps(model, x, y, rule, impl) for rule in RULES)
    assert_maps_close(gb, d, "float64", f"{impl} all active: guided vs deconvnet")
    assert_maps_differ(g, d, context=f"{impl} all active, mixed signals: gradient vs deconvnet")


def check_all_coincide(impl: str, seed: int = 0) -> None:
    """Statement 2: every ReLU active and every upstream signal >= 0 -> ``G = D = GB``."""
    model = deep_net(seed, nonnegative_above_first=True)
    x, _, y = draw(seed)
    activate_all(model, x)
    g, d, gb = (maps(model, x, y, rule, impl) for rule in RULES)
    assert np.abs(g).max() > 0
    assert_maps_close(d, g, "float64", f"{impl} deconvnet vs gradient")
    assert_maps_close(gb, g, "float64", f"{impl} guided vs gradient")


def check_nonnegative_signals(impl: str, seed: int = 0) -> None:
    """Statement 3: nonnegative signals, some ReLUs off -> ``GB = G``, while ``D`` differs."""
    model = deep_net(seed, nonnegative_above_first=True)
    x, _, y = draw(seed)
    assert not all((reference.forward(model, x, name) > 0).all() for name in FEEDS_RELU)
    g, d, gb = (maps(model, x, y, rule, impl) for rule in RULES)
    assert_maps_close(gb, g, "float64", f"{impl} guided vs gradient")
    assert_maps_differ(d, g, context=f"{impl} deconvnet vs gradient with inactive ReLUs")


def check_no_relu(impl: str, seed: int = 0) -> None:
    """Statement 4: no ReLU (tanh, sigmoid, max- and average pooling) -> one map for all three rules."""
    model = sequential(
        (8, 8, 2),
        layer(L.Conv2D, 3, 3, activation="tanh"),
        layer(L.MaxPooling2D, 2, strides=1),
        layer(L.Conv2D, 3, 2),
        layer(L.AveragePooling2D, 2),
        layer(L.Flatten),
        layer(L.Dense, 5, activation="sigmoid"),
        layer(L.Dense, CLASSES),
        seed=seed,
    )
    x, y, _ = draw(seed)
    g = maps(model, x, y, "gradient", impl)
    for rule in ("deconvnet", "guided"):
        assert_maps_close(maps(model, x, y, rule, impl), g, "float64", f"{impl} {rule} vs gradient, no ReLU")


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_unit_by_unit(impl):
    check_unit_by_unit(impl)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_one_hidden_layer_closed_forms(impl):
    check_hidden_layer(impl)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_all_relus_active_guided_equals_deconvnet(impl):
    check_all_active(impl)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_active_and_nonnegative_signals_all_three_coincide(impl):
    check_all_coincide(impl)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_nonnegative_signals_guided_equals_gradient(impl):
    check_nonnegative_signals(impl)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_no_relu_all_three_coincide(impl):
    check_no_relu(impl)


if __name__ == "__main__":
    import sys

    sys.exit(pytest.main([__file__, "-q"]))
