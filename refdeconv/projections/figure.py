"""The figure of Zeiler & Fergus's Fig. 2: per feature, its top projections beside their input patches.

matplotlib is an optional dependency (``pip install "refdeconv[plot]"``), imported when drawing.
"""

from __future__ import annotations

import math

import numpy as np


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("refdeconv.projections.figure needs matplotlib, an optional dependency: "
                          "pip install \"refdeconv[plot]\"") from None
    return plt


def _flat(a: np.ndarray, signed: bool) -> np.ndarray:
    """A 2-D panel of one crop: image channels summed (signed maps) or averaged, RGB inputs kept and
    scaled to [0, 1]; a volume ``(D, H, W, C)`` first summed (maps) or averaged (inputs) over depth."""
    a = np.asarray(a, np.float64)
    if a.ndim == 4:
        a = a.sum(0) if signed else a.mean(0)
    if signed or a.shape[-1] != 3:
        return a.sum(-1) if signed else a.mean(-1)
    lo, hi = a.min(), a.max()
    return (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)


def plot_projections(projections, path=None, features=None, max_features: int = 8, crop: bool = True):
    """Draw feature projections in the paper's layout.

    One block per feature (``features``, else the first ``max_features``), stacked: on the left its
    ``k`` projections on a grid of ``ceil(sqrt(k))`` columns (3 x 3 for the top 9), on the right
    the grid of the input patches they came from, in the same order (strongest first).

    Parameters
    ----------
    projections : refdeconv.projections.Projections
        What :func:`refdeconv.project` returned.
    path : str or path-like, optional
        Where to save the figure (PNG).
    features : sequence of int, optional
        The channels to draw, in this order, each one of ``projections.features``.
    max_features : int
        Without ``features``: how many of the first features to draw.
    crop : bool
        Show projections cropped to their patch, as in the paper (else the whole map).

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ImportError
        matplotlib is not installed.
    ValueError
        A channel of ``features`` that ``projections`` does not hold.

    Notes
    -----
    Images: each projection is summed over the input's channels and shown on ``RdBu_r`` with limits
    ``±max|map|`` of its panel (zero white, positive red); patches in grey, or as RGB for three
    channels; a volume is summed (projections) or averaged (patches) over depth. Time series
    (a layer of shape ``(N, T, C)``): line plots, one line per input channel, over the patch's
    time steps.

    References
    ----------
    .. [1] Zeiler, M. D. & Fergus, R. "Visualizing and Understanding Convolutional Networks",
       ECCV 2014, arXiv:1311.2901, Fig. 2.
    """
    p = projections
    held = [int(c) for c in p.features]
    if features is not None and not set(int(c) for c in features) <= set(held):
        raise ValueError(f"features: the projections hold channels {held}, got {list(features)}")
    if features is None:
        rows_of = list(range(min(len(held), max_features)))
    else:
        rows_of = [held.index(int(c)) for c in features]
    plt = _pyplot()
    f = len(rows_of)
    k = p.samples.shape[1]
    cols = math.ceil(math.sqrt(k))
    rows = math.ceil(k / cols)
    lines = p.positions.shape[-1] == 1
    fig, axes = plt.subplots(f * rows, 2 * cols + 1, squeeze=False, gridspec_kw={
        "width_ratios": [1] * cols + [0.25] + [1] * cols}, figsize=(1.3 * (2 * cols + 0.25), 1.3 * f * rows + 0.4))
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_axis_off()
    for block, i in enumerate(rows_of):
        for j in range(k):
            r, c = block * rows + j // cols, j % cols
            where = tuple(slice(int(a), int(b)) for a, b in p.patches[i, j]) if crop else ()
            shown, patch = p.maps[i, j][where], p.patch(i, j)
            left, right = axes[r, c], axes[r, cols + 1 + c]
            for ax in (left, right):
                ax.set_axis_on()
            if lines:
                left.plot(shown)
                right.plot(patch)
            else:
                panel = _flat(shown, signed=True)
                limit = float(np.abs(panel).max()) or 1.0
                left.imshow(panel, cmap="RdBu_r", vmin=-limit, vmax=limit)
                image = _flat(patch, signed=False)
                right.imshow(image, cmap=None if image.ndim == 3 else "gray")
            if j == 0:
                left.set_ylabel(f"feature {int(p.features[i])}", fontsize=8)
    axes[0, 0].set_title(f"{p.rule} projections", fontsize=9, loc="left")
    axes[0, cols + 1].set_title("input patches", fontsize=9, loc="left")
    fig.suptitle(f"layer {p.layer!r}: top {k} activations" + (f" ({f} of {len(held)} features)" if f < len(held) else ""),
                 fontsize=10)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=110)
    return fig
