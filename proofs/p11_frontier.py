"""P11. Above the last switch, the DeconvNet signal is a function of the target: it can be cached.

Statement
---------
Write the network as `f = g ∘ h`, where `h` ends with the last operation whose
backward pass reads forward values (here the last max-pooling layer, whose
switches it reads) and `g` holds only affine maps, ReLUs, average pooling and
reshapes. With the default operator `s = sum_k f(x)_k y_k`, let
`S(y) = D_g(z, y)` be the DeconvNet map of `g` at any of its inputs `z`. Then

    S(y) does not depend on z, and  D_f(x, y) = VJP_h(x, S(y)),

the DeconvNet backward pass of `h` at `x` seeded with `S(y)`. So `S(y)`, the
signal at the *frontier* (the output of `h`), can be computed once per target and
reused for every input. The frontier cannot be placed one operation higher: with
the last max-pool inside `g`, `S` depends on `z` and a signal cached for one input
gives a wrong map for another. refdeconv's explainers find the frontier in the
traced graph and put it exactly at the last switch (the output of `h`).

Assumptions
-----------
- `g` has no max-pooling, no non-ReLU nonlinearity (P5's assumptions, for `g`).
- The default operator (the seed of `g` is `y`); inference mode.

Derivation
----------
1. Reverse mode is compositional: the map of `g ∘ h` is the backward pass of `h`
   seeded with the signal that the backward pass of `g` delivers at `h(x)`, under
   the same rule at every ReLU (the rule is local to each ReLU).
2. That signal is `D_g(h(x), y)`, and by P5 applied to `g` it equals `D_g(z, y)`
   for every `z`: it is `S(y)`.
3. Hence `D_f(x, y) = VJP_h(x, S(y))`, and `S(y)` computed at any `z` (e.g. from
   another input, or once for the class) gives the map of every input.
4. One operation higher: if `g` starts with the max-pool, `D_g(z, y)` sends the
   signal through the switches of `z` (P3, P6), so `S` depends on `z`: a cached
   signal is right only for inputs with the same switches.
5. The graph-level finder marks every op reached from the input (data or control
   edges; a static shape is a constant): a max-pool gradient reads the pool's
   input, so it and everything below it are input-dependent, and the frontier is
   the signal it reads, the output of `h`. Under the gradient and guided rules
   every ReLU's backward reads its input, which moves the frontier to the head.

References
----------
- M. D. Zeiler, R. Fergus, "Visualizing and Understanding Convolutional
  Networks", ECCV 2014, arXiv:1311.2901, sec. 2.1 (switches).
- A. Griewank, A. Walther, "Evaluating Derivatives", 2nd ed., SIAM 2008,
  ch. 3 (the reverse mode of a composition).
"""

from __future__ import annotations

from _common import (IMPLEMENTATIONS, assert_maps_close, assert_maps_differ, keras, layer, maps, np,
                     pytest, sequential)

L = keras.layers
CLASSES = 3


def net(seed: int = 0):
    """Conv/ReLU/max-pool stem (``h``: layers 0-1), then convolutions, ReLUs, average pool, dense (``g``)."""
    return sequential(
        (8, 8, 2),
        layer(L.Conv2D, 4, 3, padding="same", activation="relu"),
        layer(L.MaxPooling2D, 3, strides=2, padding="same"),
        layer(L.Conv2D, 8, 3, padding="same"),
        layer(L.ReLU),
        layer(L.Conv2D, 8, 3, padding="same", activation="relu"),
        layer(L.AveragePooling2D, 2),
        layer(L.Flatten),
        layer(L.Dense, 6, activation="relu"),
        layer(L.Dense, CLASSES),
        seed=seed,
    )


def split(model, k: int):
    """``(h, g)``: the first ``k`` layers of ``model`` and the rest, as models sharing its layers."""
    h = keras.Sequential([keras.Input(model.input_shape[1:], dtype="float64"), *model.layers[:k]])
    g = keras.Sequential([keras.Input(h.output_shape[1:], dtype="float64"), *model.layers[k:]])
    return h, g


def inputs(seed: int, n: int = 4) -> np.ndarray:
    return np.random.default_rng([seed, 11]).normal(size=(n, 8, 8, 2))


def cached_map(model, k: int, x, other, y, impl: str) -> np.ndarray:
    """``VJP_h(x, S(y))`` with ``S(y) = D_g(h(other), y)``: the signal taken at another input."""
    h, g = split(model, k)
    signal = maps(g, np.asarray(h(other)), y, "deconvnet", impl)
    return maps(h, x, signal, "deconvnet", impl)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_map_is_the_lower_pass_of_a_signal_cached_at_another_input(seed, impl):
    """Steps 1-3: the signal of ``g`` taken at ``h`` of *other* inputs gives every input's map."""
    model = net(seed)
    x, other = inputs(seed), inputs(seed + 100)
    for target in range(CLASSES):
        y = np.tile(np.eye(CLASSES)[target], (len(x), 1))
        assert_maps_close(cached_map(model, 2, x, other, y, impl), maps(model, x, y, "deconvnet", impl),
                          "float64", f"{impl}, seed {seed}, class {target}")


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_one_operation_higher_the_cached_signal_is_wrong(impl):
    """Step 4: with the max-pool in ``g`` (cut after the stem's conv), another input's signal fails."""
    model = net(0)
    x, other = inputs(0), inputs(100)
    y = np.tile(np.eye(CLASSES)[0], (len(x), 1))
    assert_maps_differ(cached_map(model, 1, x, other, y, impl), maps(model, x, y, "deconvnet", impl),
                       context=f"{impl}: a signal cached above the max-pool")


def test_the_finder_places_the_frontier_at_the_last_switch():
    """Step 5: the explainer's frontier is the max-pool's output (shape of ``h``'s output), per target."""
    from refdeconv import DeconvNet, GuidedBackprop
    from refdeconv.explainers import frontier

    model = net(0)
    x, y = inputs(0), np.arange(4) % CLASSES
    deconvnet = DeconvNet(model, batch_size=2)
    deconvnet.explain(x, y)
    assert deconvnet.frontier["used"], deconvnet.frontier["reason"]
    assert deconvnet.frontier["shapes"] == [tuple(model.layers[1].output.shape[1:])]
    guided = GuidedBackprop(model, batch_size=2)
    guided.explain(x, y)
    assert guided.frontier["shapes"] == [(6,)], "guided: the frontier sinks to the last ReLU's signal"
    assert not guided.frontier["used"] and frontier.WORTH > 0


if __name__ == "__main__":
    import sys

    sys.exit(pytest.main([__file__, "-q"]))
