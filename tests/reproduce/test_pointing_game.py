"""``refdeconv reproduce``'s ``pointing_game`` study and its scenes (:mod:`refdeconv.reproduce.scenes`):

- the scenes: each mask is exactly the set of pixels its object brightened, masks are disjoint and do
  not touch, labels match masks, the same seed gives the same scenes (and the same shapes whatever
  the noise);
- the game's pieces: the point of a map, a hit within the tolerance (TorchRay's strict inequality),
  the class-averaged rate;
- the study in quick mode (the entry's fields and figure: test_results.py): the pairs and rates, and that each
  check's verdict is computed from the measured numbers as its claim states (whether the claim held is
  reported, not asserted).
"""

import numpy as np
import pytest

from refdeconv.reproduce import pointing_game as game
from refdeconv.reproduce.scenes import SHAPES, SIZE, scenes, shape_mask
from refdeconv.reproduce.study import RULES

KEY = game.KEY  # the study whose entry the `entry` fixture (conftest.py) gives

METHODS = ("centre", *RULES)


# -- the scenes ---------------------------------------------------------------------------------------

def test_without_noise_each_mask_is_exactly_what_its_object_brightened():
    images, labels, masks = scenes(60, 7, noise=0.0)
    assert images.shape == (60, SIZE, SIZE, 1) and images.dtype == np.float32
    assert labels.shape == (60, len(SHAPES)) and masks.shape == (60, len(SHAPES), SIZE, SIZE)
    for image, mask in zip(images[..., 0], masks):
        np.testing.assert_array_equal(image > 0, mask.any(0))
        for m in mask[mask.any(axis=(1, 2))]:
            values = np.unique(image[m])
            assert len(values) == 1 and 0.6 <= values[0] <= 1.0, values  # one brightness per object


def test_noise_is_added_on_the_same_shapes():
    clean, labels, masks = scenes(40, [3, 4], noise=0.0)
    noisy, labels2, masks2 = scenes(40, [3, 4], noise=0.1)
    np.testing.assert_array_equal(masks, masks2)
    np.testing.assert_array_equal(labels, labels2)
    residual = noisy - clean
    assert 0.08 < residual.std() < 0.12 and abs(residual.mean()) < 0.01


def test_masks_are_disjoint_and_do_not_touch():
    _, _, masks = scenes(80, 1, objects=(2, 3))
    for mask in masks:
        present = mask[mask.any(axis=(1, 2))]
        assert len(present) in (2, 3)
        for i in range(len(present)):
            grown = np.pad(present[i], 1)
            near = np.logical_or.reduce([grown[1 + a:1 + a + SIZE, 1 + b:1 + b + SIZE]
                                         for a in (-1, 0, 1) for b in (-1, 0, 1)])
            for j in range(len(present)):
                if i != j:
                    assert not (near & present[j]).any()


def test_labels_match_masks_and_counts():
    _, labels, masks = scenes(100, 2, objects=(1, 2))
    np.testing.assert_array_equal(labels > 0, masks.any(axis=(2, 3)))
    assert set(labels.sum(1).astype(int)) == {1, 2}
    _, labels, _ = scenes(30, 2, objects=(2,))
    np.testing.assert_array_equal(labels.sum(1), 2.0)


def test_the_same_seed_gives_the_same_scenes():
    a, b = scenes(20, [5, 0]), scenes(20, [5, 0])
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    assert not np.array_equal(a[0], scenes(20, [5, 1])[0])


def test_shape_masks():
    square = shape_mask("square", 10, 10, 5)
    assert square.sum() == 9 * 9  # |dy|, |dx| <= 4: rows and columns 6..14
    circle = shape_mask("circle", 16, 16, 6)
    assert circle[16, 10] and circle[16, 22] and not circle[16, 23] and not circle[10, 10]
    triangle = shape_mask("triangle", 16, 16, 6)
    assert triangle[10, 16] and not triangle[10, 17] and triangle[20, 16 - 3]  # apex up, widening
    with pytest.raises(ValueError, match="unknown shape"):
        shape_mask("star", 10, 10, 5)


# -- the game's pieces --------------------------------------------------------------------------------

def test_point_is_the_first_maximum_of_the_absolute_map():
    m = np.zeros((2, 4, 5, 2))
    m[0, 1, 2, 0] = -3.0  # the absolute value counts
    m[0, 3, 4, 1] = 2.0
    m[1, 2, 1, :] = 1.0   # a tie: the first in row-major order
    m[1, 3, 0, :] = 1.0
    np.testing.assert_array_equal(game.point(m), [[1, 2], [2, 1]])


def test_a_hit_is_strictly_within_the_tolerance():
    mask = np.zeros((1, 10, 10), bool)
    mask[0, 5, 5] = True
    assert game.hits([[5, 7]], mask, tolerance=2.5)[0]
    assert not game.hits([[5, 7]], mask, tolerance=2.0)[0]  # distance 2 is not < 2
    assert game.hits([[5, 5]], mask, tolerance=0.5)[0]


def test_rate_averages_over_classes():
    hit = np.array([True, True, True, False])
    classes = np.array([0, 0, 0, 1])
    assert game.rate(hit, classes) == 0.5


# -- the study ---------------------------------------------------------------------------------------

def test_the_measurement(entry):
    m = entry[1]["measured"]
    assert m["pairs"] == 2 * m["test_scenes"] == 64
    assert m["tolerance_px"] == pytest.approx(15 * SIZE / 224)
    assert m["paper_voc07_vgg16_percent"] == game.PAPER
    for method in METHODS:
        assert 0.0 <= m["hit_rate"][method] <= 1.0 and 0.0 <= m["other_object_rate"][method] <= 1.0
        per_class = m["hit_rate_per_class"][method]
        assert m["hit_rate"][method] == pytest.approx(np.mean(list(per_class.values())))
    assert f"{m['tolerance_px']:.2f} px" in entry[1]["setting"]
    assert f"trained on {m['train_scenes']} scenes" in entry[1]["setting"]


def test_each_check_is_decided_by_its_measured_numbers(entry):
    e = entry[1]
    rates, other = e["measured"]["hit_rate"], e["measured"]["other_object_rate"]
    below, beat, lower = e["checks"]
    assert below["measured"] == {"deconvnet": rates["deconvnet"], "centre": rates["centre"]}
    assert below["held"] == (rates["deconvnet"] <= rates["centre"])
    assert beat["held"] == (rates["gradient"] > rates["centre"] and rates["guided"] > rates["centre"])
    assert lower["held"] == (rates["deconvnet"] < rates["gradient"] and rates["deconvnet"] < rates["guided"])
    assert set(other) == {"centre", *RULES}  # where each map points at the other object: reported, not a check
    for check in e["checks"]:
        if not check["held"]:
            assert e["why"], check
