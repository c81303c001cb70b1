"""P7. Positive homogeneity in the target: `D(x, a y) = a D(x, y)` for `a >= 0`; false for `a < 0`.

Statement
---------
For any network of the supported layers (affine maps, ReLUs, average and
max-pooling, flatten) and the default operator, the DeconvNet map is
positively homogeneous of degree 1 in the target:

    D(x, a y) = a D(x, y)        for every a >= 0,

hence `D(x, a y) = |a| D(x, -y)` for `a < 0`. It is **not** linear in `y`:
`D(x, -y) != -D(x, y)` and `D(x, y1 + y2) != D(x, y1) + D(x, y2)` in general
(counterexamples below), whereas the gradient is linear in `y`.

Assumptions
-----------
- The default operator (`s` linear in `f(x)`, seed `ds/df = y`).
- Non-ReLU nonlinearities, if any, keep their ordinary (linear in `u`)
  vector-Jacobian product, so they do not break the claim; the networks here
  use ReLUs only.

Derivation
----------
1. The seed is `y`; scaling the target by `a` scales the seed by `a`.
2. Every backward step is positively homogeneous in its incoming signal `u`:
   affine adjoints `A^T (a u) = a A^T u` (P2); unpooling
   `unpool_S(a u) = a unpool_S(u)`, with switches `S` fixed by the forward
   pass, which does not see `y` (P3); the DeconvNet ReLU
   `relu(a u) = a relu(u)` for `a >= 0`.
3. A composition of positively homogeneous maps is positively homogeneous,
   so `D(x, a y) = a D(x, y)`; with `a = 0`, `D(x, 0) = 0` exactly.
4. For `a < 0`, `relu(a u) = |a| relu(-u)`, which is not `a relu(u)` unless
   `u = 0`: the ReLU rule keeps the positive part of the signal, and which
   part is positive flips with the sign of the target. So
   `D(x, a y) = |a| D(x, -y)`, generally unrelated to `D(x, y)`.
5. The gradient rule `u 1[z > 0]` is linear in `u`, so `G(x, a y) = a G(x, y)`
   for every real `a`, and `G` is additive in `y`.

References
----------
- M. D. Zeiler, R. Fergus, "Visualizing and Understanding Convolutional
  Networks", ECCV 2014, arXiv:1311.2901, sec. 2.1.
- DESIGN.md section 1 (the ReLU rules).
"""

from __future__ import annotations

from _common import (IMPLEMENTATIONS, assert_maps_close, assert_maps_differ, keras, layer, maps, np,
                     pytest, sequential)

L = keras.layers
CLASSES = 4
SCALES = (0.5, 2.0, 1e3)


def cnn(seed: int = 0):
    """conv/ReLU/max-pool, conv/ReLU/average-pool, dense/ReLU, dense: every kind of backward step."""
    return sequential(
        (9, 9, 2),
        layer(L.Conv2D, 4, 3, activation="relu"),
        layer(L.MaxPooling2D, 2, strides=1),
        layer(L.Conv2D, 4, 2, activation="relu"),
        layer(L.AveragePooling2D, 2),
        layer(L.Flatten),
        layer(L.Dense, 8, activation="relu"),
        layer(L.Dense, CLASSES),
        seed=seed,
    )


def draw(seed: int = 0, n: int = 3):
    """Inputs and real-valued targets of both signs."""
    rng = np.random.default_rng([seed, 9])
    return rng.normal(size=(n, 9, 9, 2)), rng.normal(size=(n, CLASSES))


def check_positive_homogeneity(impl: str, seed: int = 0) -> None:
    """Steps 1-3: ``D(x, a y) = a D(x, y)`` for ``a`` in :data:`SCALES`; ``D(x, 0) = 0`` exactly."""
    model = cnn(seed)
    x, y = draw(seed)
    base = maps(model, x, y, "deconvnet", impl)
    assert np.abs(base).max(axis=tuple(range(1, base.ndim))).min() > 0, "a zero map would make the check vacuous"
    for a in SCALES:
        assert_maps_close(maps(model, x, a * y, "deconvnet", impl), a * base, "float64", f"{impl} a={a}")
    np.testing.assert_array_equal(maps(model, x, 0.0 * y, "deconvnet", impl), np.zeros_like(x))


def check_negative_scale(impl: str, seed: int = 0) -> None:
    """Step 4: ``D(x, -y) != -D(x, y)``, but ``D(x, a y) = |a| D(x, -y)`` for ``a < 0``."""
    model = cnn(seed)
    x, y = draw(seed)
    plus, minus = maps(model, x, y, "deconvnet", impl), maps(model, x, -y, "deconvnet", impl)
    assert_maps_differ(minus, -plus, context=f"{impl} D(x, -y) vs -D(x, y)")
    assert_maps_close(maps(model, x, -3.0 * y, "deconvnet", impl), 3.0 * minus, "float64", f"{impl} a=-3")


def check_not_additive(impl: str, seed: int = 0) -> None:
    """DeconvNet is not additive in the target: two one-hot classes versus their sum."""
    model = cnn(seed)
    x, _ = draw(seed)
    y1, y2 = np.eye(CLASSES)[[0, 0, 0]], np.eye(CLASSES)[[1, 1, 1]]
    whole = maps(model, x, y1 + y2, "deconvnet", impl)
    assert_maps_differ(whole, maps(model, x, y1, "deconvnet", impl) + maps(model, x, y2, "deconvnet", impl),
                       context=f"{impl} additivity")


def check_gradient_is_linear(impl: str, seed: int = 0) -> None:
    """Step 5, the contrast: ``G(x, a y) = a G(x, y)`` for negative ``a`` too."""
    model = cnn(seed)
    x, y = draw(seed)
    base = maps(model, x, y, "gradient", impl)
    for a in (-1.0, -2.5):
        assert_maps_close(maps(model, x, a * y, "gradient", impl), a * base, "float64", f"{impl} gradient a={a}")


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize("seed", [0, 1])
def test_positive_homogeneity(seed, impl):
    check_positive_homogeneity(impl, seed)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_fails_for_negative_scales(impl):
    check_negative_scale(impl)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_not_additive_in_the_target(impl):
    check_not_additive(impl)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_gradient_is_linear_in_the_target(impl):
    check_gradient_is_linear(impl)


if __name__ == "__main__":
    import sys

    sys.exit(pytest.main([__file__, "-q"]))
