"""Scenes with exact object masks, for the pointing game (:mod:`refdeconv.reproduce.pointing_game`).

A scene is a grayscale ``size x size`` canvas of Gaussian noise with one or more shapes of
different classes (square, circle, triangle, drawn as in :func:`refdeconv.cli.demo.shapes_dataset`)
at uniformly random positions. Each shape adds one brightness, drawn from ``[0.6, 1]``, to the
pixels of its mask and to no other pixel, and the masks of a scene are disjoint and do not touch
(not even diagonally), so each mask is exactly the set of pixels its object brightened. The noise
comes from its own random stream: the same seed gives the same shapes and masks whatever the
noise level.
"""

from __future__ import annotations

import numpy as np

#: The classes, in label order.
SHAPES = ("square", "circle", "triangle")
#: The side of a scene in pixels (the pointing game's tolerance is scaled to it).
SIZE = 32


def shape_mask(kind: str, cy: float, cx: float, r: float, size: int = SIZE, grid=None) -> np.ndarray:
    """The boolean ``(size, size)`` mask of one shape of class ``kind`` centred at ``(cy, cx)`` with
    radius ``r``: a square of half-side ``0.8 r``, a disc of radius ``r``, or a triangle with its apex up
    (height ``1.8 r``, half-width growing ``0.6`` pixel a row). ``grid``: ``np.mgrid[0:size, 0:size]``,
    when the caller has it already."""
    rows, cols = np.mgrid[0:size, 0:size] if grid is None else grid
    dy, dx = rows - cy, cols - cx
    if kind == "square":
        return (np.abs(dy) <= 0.8 * r) & (np.abs(dx) <= 0.8 * r)
    if kind == "circle":
        return dy**2 + dx**2 <= r**2
    if kind == "triangle":
        return (dy <= 0.8 * r) & (dy >= -r) & (np.abs(dx) <= (dy + r) * 0.6)
    raise ValueError(f"shape_mask: unknown shape {kind!r}; expected one of {list(SHAPES)}")


def _grown(mask: np.ndarray) -> np.ndarray:
    """``mask`` and its 8 neighbours (one pixel of dilation), to keep objects from touching."""
    padded = np.pad(mask, 1)
    h, w = mask.shape
    return np.logical_or.reduce([padded[1 + i:1 + i + h, 1 + j:1 + j + w]
                                 for i in (-1, 0, 1) for j in (-1, 0, 1)])


def scenes(n: int, seed, objects=(1, 2), size: int = SIZE, noise: float = 0.1):
    """``n`` scenes: ``(images, labels, masks)``.

    Parameters
    ----------
    n : int
        Number of scenes.
    seed : int or sequence of int
        Seed of :func:`numpy.random.default_rng` (the shapes); the noise uses ``[*seed, 1]``'s stream.
    objects : sequence of int
        The numbers of objects a scene may have, drawn uniformly per scene (at most ``len(SHAPES)``;
        the classes of a scene are distinct).
    size : int
        Side of the canvas; radii are drawn from ``[size / 8, 7 size / 32]``.
    noise : float
        Standard deviation of the Gaussian background noise.

    Returns
    -------
    images : numpy.ndarray
        float32 ``(n, size, size, 1)``.
    labels : numpy.ndarray
        float32 multi-hot ``(n, len(SHAPES))``.
    masks : numpy.ndarray
        bool ``(n, len(SHAPES), size, size)``: the pixels of each class's object (all False when absent).
    """
    seeds = list(np.atleast_1d(seed))
    rng, noise_rng = np.random.default_rng(seeds), np.random.default_rng([*seeds, 1])
    images = noise_rng.normal(0.0, noise, (n, size, size, 1)).astype(np.float32)
    labels = np.zeros((n, len(SHAPES)), np.float32)
    masks = np.zeros((n, len(SHAPES), size, size), bool)
    grid = np.mgrid[0:size, 0:size]
    for i in range(n):
        count = int(rng.choice(objects))
        taken = np.zeros((size, size), bool)
        for label in rng.choice(len(SHAPES), count, replace=False):
            for _ in range(1000):  # uniform positions, rejected where they would touch another object
                r = rng.uniform(size / 8, 7 * size / 32)
                cy, cx = rng.uniform(r + 1, size - r - 1, 2)
                mask = shape_mask(SHAPES[label], cy, cx, r, size, grid)
                if not (_grown(mask) & taken).any():
                    break
            else:
                raise RuntimeError(f"scenes: no room for {count} objects on a {size} x {size} canvas")
            taken |= mask
            masks[i, label] = mask
            labels[i, label] = 1.0
            images[i, mask, 0] += np.float32(rng.uniform(0.6, 1.0))
    return images, labels, masks
