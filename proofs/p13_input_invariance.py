"""P13. Input invariance (Kindermans et al. 2017): a constant shift of the input compensated in the first layer's bias leaves every activation, and so all three rules' maps, unchanged.

Statement
---------
Let `f` be a network whose first layer is affine, `z = W x + b`, followed by anything (ReLUs,
max- and average pooling, more affine layers). For a shift `m` with `W m` expressible as a bias
(any vector for a `Dense`; a constant per input channel for a convolution without zero padding),
let `f'` be `f` with first bias `b' = b - W m`. Then for every input `x`, every target `y` and each
rule `R` in {gradient, Guided Backprop, DeconvNet}:

    f'(x + m) = f(x),        R_{f'}(x + m, y) = R_f(x, y),

while gradient × input changes by exactly `m ⊙ R_f(x, y)` (rule `R` = gradient).

Assumptions
-----------
- The first layer reads only input values: a `Dense`, or a convolution with `padding="valid"`.
  With zero padding the border outputs read padded zeros that the shift does not move, `W m` is
  no longer one vector per output channel, and the compensation fails at the borders (checked
  below as the counterexample).
- The maps are taken with respect to the network's input (refdeconv's maps are).

Derivation
----------
1. `W (x + m) + b' = W x + W m + b - W m = W x + b`: the first layer's output is the same, so
   every later activation, every ReLU's sign and every max-pool switch is the same.
2. Each rule's backward pass reads the weights, the ReLUs' forward signs (gradient, guided) or
   nothing of the forward pass (DeconvNet's `relu(u)`), and the switches; it never reads a bias.
   The weights of `f'` are those of `f` but for the first bias. So the signal reaching the first
   layer is the same, and the map `W^T u` is the same.
3. Gradient × input is `(x + m) ⊙ M` for `f'` against `x ⊙ M` for `f`: they differ by `m ⊙ M`,
   which is zero only where the map is.

This is Kindermans et al.'s argument; `refdeconv reproduce` measures it on trained networks
(study `kindermans2017`). The checks below build the compensated copy independently of that
study's code.

References
----------
Kindermans, Hooker, Adebayo, Alber, Schütt, Dähne, Erhan & Kim, "The (un)reliability of saliency
methods", arXiv:1711.00867 (2017); in *Explainable AI*, LNCS 11700 (2019).
"""

from __future__ import annotations

from _common import (F64, IMPLEMENTATIONS, RULES, assert_maps_close, assert_maps_differ, keras, layer, maps, np,
                     one_hot, pytest, sequential)

L = keras.layers


def compensated(model, m):
    """A float64 copy of ``model`` with first bias ``b - W m`` (``m``: one value per input channel)."""
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    first = next(lay for lay in copy.layers if lay.weights)
    kernel, bias = first.get_weights()
    per_channel = kernel.reshape(-1, kernel.shape[-2], kernel.shape[-1]).sum(0)  # (in, out): W m by channel
    first.set_weights([kernel, bias - np.asarray(m) @ per_channel])
    return copy


def nets(seed: int) -> dict:
    """The networks of the checks: Dense first, valid Conv2D with max-pooling, valid Conv1D."""
    return {
        "mlp": sequential((12,), layer(L.Dense, 8, activation="relu"), layer(L.Dense, 6, activation="relu"),
                          layer(L.Dense, 4), seed=seed),
        "cnn": sequential((8, 8, 2), layer(L.Conv2D, 4, 3, activation="relu"), layer(L.MaxPooling2D, 2),
                          layer(L.Conv2D, 4, 2, activation="relu"), layer(L.Flatten), layer(L.Dense, 4), seed=seed),
        "conv1d": sequential((10, 3), layer(L.Conv1D, 4, 3, activation="relu"), layer(L.MaxPooling1D, 2),
                             layer(L.Flatten), layer(L.Dense, 4), seed=seed),
    }


def check_invariance(name: str, impl: str, seed: int = 0) -> None:
    """Steps 1-2: same output, same map, for each rule, for a shift per input channel."""
    model = nets(seed)[name]
    rng = np.random.default_rng([seed, 13])
    x = rng.uniform(0, 1, (5, *model.input_shape[1:]))
    m = -rng.uniform(0.5, 2.0, model.input_shape[-1])  # one shift per channel (any vector for the MLP)
    twin = compensated(model, m)
    assert_maps_close(np.asarray(twin(x + m)), np.asarray(model(x)), F64, f"{name}: forward")
    y = one_hot(np.arange(len(x)) % 4, 4)
    for rule in RULES:
        base = maps(model, x, y, rule, impl)
        assert np.abs(base).max() > 0, "a zero map would make the check vacuous"
        assert_maps_close(maps(twin, x + m, y, rule, impl), base, F64, f"{name} {impl} {rule}")
    gradient = maps(model, x, y, "gradient", impl)
    change = maps(twin, x + m, y, "gradient", impl) * (x + m) - gradient * x
    assert_maps_close(change, m * gradient, F64, f"{name} {impl}: gradient x input changes by m * M")
    assert_maps_differ(change + gradient * x, gradient * x, F64, f"{name} {impl}: gradient x input")


def check_zero_padding_breaks_it(impl: str) -> None:
    """The counterexample: with ``padding="same"`` the compensated copy is another function."""
    model = sequential((6, 6, 1), layer(L.Conv2D, 3, 3, padding="same", activation="relu"), layer(L.Flatten),
                       layer(L.Dense, 4), seed=4)
    x = np.random.default_rng(4).uniform(0, 1, (3, 6, 6, 1))
    twin = compensated(model, np.array([-1.0]))
    assert_maps_differ(np.asarray(twin(x - 1.0)), np.asarray(model(x)), F64, "same padding: forward")
    y = one_hot([0, 1, 2], 4)
    assert_maps_differ(maps(twin, x - 1.0, y, "gradient", impl), maps(model, x, y, "gradient", impl), F64,
                       f"{impl}: same padding, gradient")


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize("name", ["mlp", "cnn", "conv1d"])
def test_input_invariance(name, impl):
    check_invariance(name, impl)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_zero_padding_is_a_counterexample(impl):
    check_zero_padding_breaks_it(impl)


if __name__ == "__main__":
    import sys

    sys.exit(pytest.main([__file__, "-q"]))
