"""P10. Class sensitivity: on random deep networks DeconvNet maps barely change with the target class.

Statement
---------
Nie, Zhang and Patel (ICML 2018) explain why DeconvNet (and Guided Backprop)
produce crisp, image-like maps that hardly depend on the class being
explained, while the plain gradient does depend on it. We **measure** this on
random CNNs: for each input `x` the maps `M_k = D(x, e_k)` of all ten classes
`k`, and for each pair of classes `j < k`

    cos_jk = <M_j, M_k> / (|M_j| |M_k|),    rel_jk = |M_j - M_k| / max(|M_j|, |M_k|).

Measured (TensorFlow 2.21 CPU, float64; setup below; numbers are means over
5 nets x 4 inputs x 45 class pairs = 900 pairs):

| network                          | rule       | mean cos | min cos | max cos | mean rel |
|----------------------------------|------------|---------:|--------:|--------:|---------:|
| deep (3 blocks x 2 conv)         | DeconvNet  |    0.846 |   0.721 |   0.932 |    0.535 |
| deep (3 blocks x 2 conv)         | Guided BP  |    0.945 |   0.871 |   0.980 |    0.336 |
| deep (3 blocks x 2 conv)         | gradient   |   -0.004 |  -0.343 |   0.311 |    1.362 |
| shallow (1 block x 1 conv)       | DeconvNet  |    0.535 |   0.478 |   0.593 |    0.950 |
| shallow (1 block x 1 conv)       | gradient   |   -0.001 |  -0.074 |   0.088 |    1.399 |

Per net, the deep DeconvNet mean cosine lies in [0.763, 0.900] and the gradient's
in [-0.017, 0.014]. Gradient maps of different classes are nearly orthogonal
(relative distance about `sqrt(2)`); DeconvNet maps of different classes point
the same way, more so the deeper the network, as Nie et al. predict.

The checks assert the qualitative claim with margins taken from these numbers:
deep DeconvNet mean cosine `> 0.7` (every net `> 0.6`), Guided Backprop `> 0.7`,
the gradient's `|mean cosine| < 0.1`; every DeconvNet pair more similar than
every gradient pair (`min cos_D = 0.72 > max cos_G = 0.31`); gradient
relative distance more than `1.8x` DeconvNet's (measured `2.5x`); the deep
DeconvNet mean cosine above the shallow one by more than `0.15` (measured `0.31`).

Setup: input `32 x 32 x 3`, entries `N(0, 1)` (`default_rng([seed, 13])`);
deep net = 3 blocks of (`Conv2D(16, 3, padding="same", relu)` x 2,
`MaxPooling2D(2)`), `Flatten`, `Dense(10)`; shallow net = 1 block of one
conv; kernels `N(0, 1 / fan_in)` (`default_rng(seed)`), zero biases, float64;
seeds 0-4; targets one-hot. The maps come from `refdeconv.DeconvNet` /
`Gradient` / `GuidedBackprop`, checked against `refdeconv.reference` on one
net. Runtime about 10 s on 2 CPU cores.

Assumptions
-----------
- Random (untrained) weights, as in Nie et al.'s random-network experiments;
  trained networks are outside this check.
- The figures are measurements, not theorems: the margins protect against
  roundoff and platform differences, not against a change of setup.

Derivation
----------
Why DeconvNet forgets the class: the argument of Nie et al., in
outline (they name the backward ReLU and the local connections of CNNs as
the two causes). It is a heuristic for wide random layers, not a theorem; the
measurement above is what the checks assert.
1. The class enters only through the seed `e_k`, i.e. through the `k`-th
   column of the last kernel; below it every layer is shared by all classes.
2. Under DeconvNet each backward ReLU keeps `relu(u)`, a nonnegative signal.
   A nonnegative signal has a large component along the constant vector,
   `relu(u) = mean(relu(u)) 1 + (relu(u) - mean(relu(u)) 1)`, and the
   adjoint `A^T` of the next layer maps that component to `A^T 1`, which is
   the same for every class. Each rectified layer thus adds a shared term,
   and the class-specific remainder is a shrinking fraction of the signal.
3. Max-pooling's switches (P6) are the same for every class, so where the
   signal is sent depends on the input but not on the class; by P5 nothing
   else of `x` remains. The maps of all classes converge to one
   input-dependent, class-independent pattern as the depth grows (compare
   the shallow and deep rows of the table).
4. The gradient masks by `1[z > 0]` instead of rectifying: given the masks
   its backward pass is linear and keeps signs, so maps seeded by the
   independent random columns of the last kernel stay nearly orthogonal.

References
----------
- W. Nie, Y. Zhang, A. Patel, "A Theoretical Explanation for Perplexing
  Behaviors of Backpropagation-based Visualizations", ICML 2018,
  arXiv:1805.07039 (DeconvNet and Guided Backprop do partial image recovery,
  unrelated to the decision; experiments on random and trained networks).
- J. Adebayo et al., "Sanity Checks for Saliency Maps", NeurIPS 2018,
  arXiv:1810.03292 (Guided Backprop is insensitive to randomised labels).
"""

from __future__ import annotations

import functools

from _common import (assert_maps_close, keras, layer, np, pytest, ref_map, sequential, tf_map)

L = keras.layers
CLASSES, SIZE, SEEDS, INPUTS = 10, 32, range(5), 4
DEPTHS = {"deep": (3, 2), "shallow": (1, 1)}  # name -> (blocks, convolutions per block)


def random_cnn(seed: int, blocks: int, convs: int):
    """A random VGG-like CNN: ``blocks`` x (``convs`` x conv3x3/ReLU, max-pool 2), flatten, dense(10)."""
    stack = []
    for _ in range(blocks):
        stack += [layer(L.Conv2D, 16, 3, padding="same", activation="relu") for _ in range(convs)]
        stack.append(layer(L.MaxPooling2D, 2))
    return sequential((SIZE, SIZE, 3), *stack, layer(L.Flatten), layer(L.Dense, CLASSES), seed=seed, bias_scale=0.0)


def inputs(seed: int) -> np.ndarray:
    """The seeded ``N(0, 1)`` inputs of one net."""
    return np.random.default_rng([seed, 13]).normal(size=(INPUTS, SIZE, SIZE, 3))


def class_pairs(model, x, rule: str, implementation=tf_map):
    """Cosine similarity and relative distance of the maps of every pair of classes.

    Parameters
    ----------
    model : keras.Model
    x : numpy.ndarray
        ``(n, 32, 32, 3)`` inputs.
    rule : {"deconvnet", "gradient", "guided"}
    implementation : callable
        :func:`_common.tf_map` or :func:`_common.ref_map`.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        Each ``(n, 45)``: per input, per class pair ``j < k``.
    """
    n = len(x)
    m = implementation(model, np.repeat(x, CLASSES, axis=0), np.tile(np.eye(CLASSES), (n, 1)), rule)
    m = m.reshape(n, CLASSES, -1)
    norms = np.linalg.norm(m, axis=-1)
    assert (norms > 0).all(), "a zero map has no direction"
    j, k = np.triu_indices(CLASSES, 1)
    cos = np.einsum("icd,ied->ice", m, m)[:, j, k] / (norms[:, j] * norms[:, k])
    rel = np.linalg.norm(m[:, j] - m[:, k], axis=-1) / np.maximum(norms[:, j], norms[:, k])
    return cos, rel


@functools.lru_cache(maxsize=None)
def measurement(depth: str, rule: str):
    """``(cos, rel)`` of shape ``(nets, inputs, 45)`` over the seeded nets of one depth."""
    results = [class_pairs(random_cnn(seed, *DEPTHS[depth]), inputs(seed), rule) for seed in SEEDS]
    return np.array([c for c, _ in results]), np.array([r for _, r in results])


def report(depth: str, rule: str) -> str:
    """One line of the table in the module docstring."""
    cos, rel = measurement(depth, rule)
    per_net = cos.mean(axis=(1, 2))
    return (f"{depth:8s} {rule:10s} mean cos {cos.mean():+.3f} min {cos.min():+.3f} max {cos.max():+.3f} "
            f"per-net [{per_net.min():+.3f}, {per_net.max():+.3f}] mean rel {rel.mean():.3f}")


def test_tensorflow_maps_match_the_reference():
    """The measured maps are the right ones: TensorFlow vs reference on one deep net, one input, all classes."""
    model, x = random_cnn(0, *DEPTHS["deep"]), inputs(0)[:1]
    xs, ys = np.repeat(x, CLASSES, axis=0), np.eye(CLASSES)
    for rule in ("deconvnet", "gradient"):
        assert_maps_close(tf_map(model, xs, ys, rule), ref_map(model, xs, ys, rule), "float64", f"p10 {rule}")


def test_deconvnet_maps_are_nearly_class_independent():
    cos, _ = measurement("deep", "deconvnet")
    print(report("deep", "deconvnet"))
    assert cos.mean() > 0.7, report("deep", "deconvnet")
    assert cos.mean(axis=(1, 2)).min() > 0.6, report("deep", "deconvnet")


def test_guided_backprop_maps_are_nearly_class_independent():
    cos, _ = measurement("deep", "guided")
    print(report("deep", "guided"))
    assert cos.mean() > 0.7, report("deep", "guided")


def test_gradient_maps_are_class_specific():
    cos, _ = measurement("deep", "gradient")
    print(report("deep", "gradient"))
    assert abs(cos.mean()) < 0.1, report("deep", "gradient")


def test_every_deconvnet_pair_closer_than_every_gradient_pair():
    (cos_d, rel_d), (cos_g, rel_g) = measurement("deep", "deconvnet"), measurement("deep", "gradient")
    assert cos_d.min() > cos_g.max(), (report("deep", "deconvnet"), report("deep", "gradient"))
    assert rel_g.mean() > 1.8 * rel_d.mean(), (report("deep", "deconvnet"), report("deep", "gradient"))


def test_class_insensitivity_grows_with_depth():
    deep, shallow = measurement("deep", "deconvnet")[0], measurement("shallow", "deconvnet")[0]
    print(report("shallow", "deconvnet"), report("shallow", "gradient"), sep="\n")
    assert deep.mean() > shallow.mean() + 0.15, (report("deep", "deconvnet"), report("shallow", "deconvnet"))
    assert abs(measurement("shallow", "gradient")[0].mean()) < 0.1, report("shallow", "gradient")


if __name__ == "__main__":
    import sys

    sys.exit(pytest.main([__file__, "-q", "-s"]))
