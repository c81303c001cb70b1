"""What the studies of ``refdeconv reproduce`` share (issue 26): the similarity measures against the
libraries they stand for (SciPy's ``spearmanr``, scikit-image's ``structural_similarity``), the
re-initialised copies of the randomisation tests, the digits split and the run's cache. A wrong
measure or a copy that re-initialises nothing would make every randomisation study report a
claim it never measured."""

import keras
import numpy as np
import pytest
from scipy.stats import spearmanr
from skimage.metrics import structural_similarity

from refdeconv.reproduce import data, networks, similarity
from refdeconv.reproduce.study import Context


def _maps(seed, shape=(5, 8, 8, 1)):
    return np.random.default_rng(seed).normal(size=shape)


@pytest.mark.parametrize("absolute", [False, True])
def test_spearman_is_scipys_per_sample(absolute):
    a, b = _maps(0), _maps(1)
    b[0] = a[0] ** 3  # a monotone map of a: rank correlation 1 (signed), not with absolute values
    b[1] = np.round(b[1])  # ties: average ranks, as scipy
    got = similarity.spearman(a, b, absolute)
    f = (np.abs if absolute else np.asarray)
    want = [spearmanr(f(u).ravel(), f(v).ravel()).statistic for u, v in zip(a, b)]
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    if not absolute:
        assert got[0] == pytest.approx(1.0)
    assert similarity.spearman(a, np.zeros_like(a), absolute).tolist() == [0.0] * len(a)  # constant map


def test_ssim_is_scikit_images_on_the_normalised_absolute_maps():
    a, b = _maps(2), _maps(3)
    got = similarity.ssim(a, b)
    for i, (u, v) in enumerate(zip(a, b)):
        u, v = np.abs(u[..., 0]), np.abs(v[..., 0])
        want = structural_similarity(u / u.max(), v / v.max(), data_range=1.0, win_size=7)
        assert got[i] == pytest.approx(want, abs=1e-12)
    np.testing.assert_allclose(similarity.ssim(a, 3.0 * a), 1.0, atol=1e-12)  # scale-free: each map normalised
    np.testing.assert_allclose(similarity.ssim(a, -a), 1.0, atol=1e-12)  # absolute values


def test_cosine_and_summary():
    a = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
    b = np.array([[0.0, 2.0], [-2.0, -2.0], [1.0, 0.0]])
    np.testing.assert_allclose(similarity.cosine(a, b), [0.0, -1.0, 0.0])
    assert similarity.summary([1.0, 3.0]) == {"mean": 2.0, "std": 1.0, "min": 1.0, "max": 3.0}


def test_reinitialized_changes_exactly_the_named_layers():
    keras.utils.set_random_seed(0)
    model = networks.digits_cnn("max")
    before = {layer.name: [np.array(w) for w in layer.get_weights()] for layer in model.layers}
    copy = networks.reinitialized(model, ("logits", "conv2"), seed=0)
    for layer in copy.layers:
        for old, new in zip(before[layer.name], layer.get_weights()):
            same = np.array_equal(old, new)
            if layer.name in ("logits", "conv2") and old.ndim > 1:  # kernels drawn again
                assert not same, layer.name
            elif layer.name not in ("logits", "conv2"):
                assert same, layer.name
    for layer in model.layers:  # the model itself untouched
        for old, now in zip(before[layer.name], layer.get_weights()):
            np.testing.assert_array_equal(old, now)
    again = networks.reinitialized(model, ("logits", "conv2"), seed=0)
    for w, v in zip(copy.get_weights(), again.get_weights()):
        np.testing.assert_array_equal(w, v)  # seeded: the same copy twice


def test_digits_split_is_seeded_and_disjoint():
    x, y, xt, yt = data.digits(0)
    assert x.shape[1:] == (8, 8, 1) and x.dtype == np.float32 and 0.0 <= x.min() and x.max() <= 1.0
    assert len(xt) == 400 and len(x) + len(xt) == 1797 and set(np.unique(y)) == set(range(10))
    np.testing.assert_array_equal(data.digits(0)[2], xt)
    assert not np.array_equal(data.digits(1)[2], xt)


def test_context_keeps_what_it_made(tmp_path):
    context, made = Context(out=tmp_path, quick=True), []
    first = context.kept("net", lambda: made.append(1) or object())
    assert context.kept("net", lambda: made.append(2) or object()) is first and made == [1]
    assert context.size(3, 30) == 3 and Context(out=tmp_path).size(3, 30) == 30
