"""P14. A feature projection of one activation is the map of an `output_layer` cut with a one-hot seed at that unit, scaled by the activation.

Statement
---------
Let `h` be the network up to a layer whose output has a spatial (or time) axis, `h(x)` of shape
`(*spatial, C)`, and let `u = (position, f)` be a unit with activation `a = h(x)_u`. Zeiler &
Fergus project `u` by setting every other activation of the layer to zero and passing the result
back through the deconvnet to the input. That is the backward pass, under the rule `R`, of `h`
alone (the model cut at the layer) seeded with `a e_u`, so

    P_R(x, u) = R_h(x, a e_u) = a R_h(x, e_u)        for a >= 0,

and `refdeconv.project` returns exactly this for each of its top units, for the three rules. Two
consequences are checked: nothing above the layer enters (the head's weights do not change a
projection), and for a first-layer unit of a convolution with a ReLU, DeconvNet's projection is
`a` times the unit's filter placed at its window: the filters that Zeiler & Fergus show for
layer 1. The scaling fails for `a < 0` (a layer without ReLU): `R_h(x, a e_u) = |a| R_h(x, -e_u)`,
not `a R_h(x, e_u)`.

Assumptions
-----------
- The default operator (`s = sum h(x) y`): its seed at the layer's output is `y` itself.
- The layer is called once in the model, so the cut is defined (`output_layer`).
- For the closed form at layer 1: a convolution whose activation is a ReLU, `a > 0`.

Derivation
----------
1. Cutting the model at the layer makes `h` the function explained; with the default operator
   the backward pass starts at `h(x)` with the signal `y`. The seed `a e_u` is the layer's
   activations with all but `u` set to zero and `u` kept at its value `a`: Zeiler & Fergus's
   input to the deconvnet.
2. Every backward step is positively homogeneous in its signal (P7): affine adjoints, unpooling
   through switches fixed by the forward pass, and `relu(a v) = a relu(v)` for `a >= 0` (for
   Guided Backprop and the gradient the forward masks do not depend on the seed either). So
   `R_h(x, a e_u) = a R_h(x, e_u)`.
3. The layers above the cut are not part of `h`: the projection does not read them.
4. Layer 1, `h(x) = relu(W * x + b)`: the DeconvNet signal at the ReLU is `relu(a e_u) = a e_u`
   for `a > 0`, and the adjoint of the convolution (P2) sends it to `a W[:, :, :, f]` on the
   input window of `u` (the transposed filter places the kernel where it read).
5. For `a < 0`, `relu(a v) = |a| relu(-v)`: the rule keeps the other sign's part of the signal.

References
----------
- M. D. Zeiler, R. Fergus, "Visualizing and Understanding Convolutional Networks", ECCV 2014,
  arXiv:1311.2901, sec. 2.1 and Fig. 2.
- DESIGN.md section 5, proposition 13 (this file), and P7 (`p07_positive_homogeneity.py`).
"""

from __future__ import annotations

import warnings

from _common import (F64, IMPLEMENTATIONS, RULES, assert_maps_close, assert_maps_differ, keras, layer, maps, np,
                     pytest, sequential)

import refdeconv

L = keras.layers


def cnn(seed: int = 0):
    """conv/ReLU/max-pool, conv/ReLU (``"conv2"``, the layer projected), conv without ReLU (``"linear"``), dense."""
    return sequential(
        (10, 10, 2),
        layer(L.Conv2D, 4, 3, activation="relu", name="conv1"),
        layer(L.MaxPooling2D, 2, name="pool1"),
        layer(L.Conv2D, 5, 2, padding="same", activation="relu", name="conv2"),
        layer(L.Conv2D, 3, 2, name="linear"),
        layer(L.Flatten),
        layer(L.Dense, 3, name="head"),
        seed=seed,
    )


def draw(seed: int = 0, n: int = 4):
    return np.random.default_rng([seed, 14]).normal(size=(n, 10, 10, 2))


def project(model, x, name, rule="deconvnet", features=(0, 1, 3), top_k=3):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the cut at "linear" ends without a ReLU
        return refdeconv.project(model, x, name, list(features), top_k, rule, batch_size=None)


def unit_seed(model, name, position, feature, scale=1.0):
    """``scale * e_u`` at the output of layer ``name``: one sample, one nonzero entry."""
    seed = np.zeros((1, *model.get_layer(name).output.shape[1:]))
    seed[(0, *(int(i) for i in position), int(feature))] = scale
    return seed


def check_scaled_unit_map(rule: str, impl: str, seed: int = 0) -> None:
    """Steps 1-2: each projection equals ``a R_h(x, e_u)`` (and ``R_h(x, a e_u)``), ``a > 0``."""
    model, x = cnn(seed), draw(seed)
    p = project(model, x, "conv2", rule)
    assert (p.values > 0).all(), "live units only: a zero activation would make the check vacuous"
    for i, f in enumerate(p.features):
        for j in range(p.values.shape[1]):
            n, a = int(p.samples[i, j]), float(p.values[i, j])
            unit = maps(model, x[n : n + 1], unit_seed(model, "conv2", p.positions[i, j], f), rule, impl, "conv2")
            assert np.abs(unit).max() > 0, "a zero unit map would make the check vacuous"
            assert_maps_close(p.maps[i, j][None], a * unit, F64, f"{rule} {impl}: projection vs a * R(x, e_u)")
            seeded = maps(model, x[n : n + 1], unit_seed(model, "conv2", p.positions[i, j], f, a), rule, impl, "conv2")
            assert_maps_close(p.maps[i, j][None], seeded, F64, f"{rule} {impl}: projection vs R(x, a e_u)")


def check_head_does_not_enter(seed: int = 0) -> None:
    """Step 3: other weights above the cut, the same projections (and units)."""
    model, x = cnn(seed), draw(seed)
    before = project(model, x, "conv2")
    for name in ("linear", "head"):
        lay = model.get_layer(name)
        lay.set_weights([w * -3.0 + 1.0 for w in lay.get_weights()])
    after = project(model, x, "conv2")
    np.testing.assert_array_equal(after.positions, before.positions)
    assert_maps_close(after.maps.reshape(9, -1), before.maps.reshape(9, -1), F64, "head changed")


def check_first_layer_filters(impl: str, seed: int = 0) -> None:
    """Step 4: a layer-1 unit's DeconvNet projection is ``a W[..., f]`` on its window, zero elsewhere."""
    model = sequential((7, 7, 2), layer(L.Conv2D, 3, (3, 2), strides=2, activation="relu", name="conv"), seed=seed)
    x = draw(seed)[:, :7, :7]
    kernel = model.get_layer("conv").get_weights()[0]
    p = project(model, x, "conv", features=(0, 2), top_k=2)
    for i, f in enumerate(p.features):
        for j in range(2):
            (r, c), a = p.positions[i, j], p.values[i, j]
            expected = np.zeros((1, 7, 7, 2))
            expected[0, 2 * r : 2 * r + 3, 2 * c : 2 * c + 2] = a * kernel[..., f]
            n = int(p.samples[i, j])
            got = p.maps[i, j][None] if impl == "tensorflow" else \
                maps(model, x[n : n + 1], unit_seed(model, "conv", (r, c), f, a), "deconvnet", impl, "conv")
            assert_maps_close(got, expected, F64, f"{impl}: layer-1 projection vs the scaled filter")
            assert_maps_close(p.patch(i, j)[None], x[n : n + 1, 2 * r : 2 * r + 3, 2 * c : 2 * c + 2], F64, "patch")


def check_negative_activation(impl: str, seed: int = 0) -> None:
    """Step 5, the limit: at a layer without ReLU, a unit with ``a < 0``: ``R(x, a e_u) = |a| R(x, -e_u)``,
    which is not ``a R(x, e_u)``."""
    model, x = cnn(seed), draw(seed)
    acts = refdeconv.reference.forward(model, x, output_layer="linear")
    n, *position, f = np.unravel_index(np.argmin(acts), acts.shape)
    a = float(acts[(n, *position, f)])
    assert a < 0
    one = x[n : n + 1]
    seeded = maps(model, one, unit_seed(model, "linear", position, f, a), "deconvnet", impl, "linear")
    minus = maps(model, one, unit_seed(model, "linear", position, f, -1.0), "deconvnet", impl, "linear")
    plus = maps(model, one, unit_seed(model, "linear", position, f), "deconvnet", impl, "linear")
    assert_maps_close(seeded, abs(a) * minus, F64, f"{impl}: a < 0 is |a| R(x, -e_u)")
    assert_maps_differ(seeded, a * plus, context=f"{impl}: a < 0 vs a R(x, e_u)")


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize("rule", RULES)
def test_projection_is_the_scaled_unit_map(rule, impl):
    check_scaled_unit_map(rule, impl)


def test_layers_above_the_cut_do_not_enter():
    check_head_does_not_enter()


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_first_layer_projection_is_the_scaled_filter(impl):
    check_first_layer_filters(impl)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_scaling_fails_for_negative_activations(impl):
    check_negative_activation(impl)


if __name__ == "__main__":
    import sys

    sys.exit(pytest.main([__file__, "-q"]))
