"""The figure of Zeiler & Fergus's Fig. 2: per feature, its top projections beside their input patches.

matplotlib is an optional dependency (``pip install "refdeconv[plot]"``), imported when drawing.
"""

from __future__ import annotations

import math
import textwrap

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
    time steps (x axis: the input's time steps; a legend names the channels). Below each projection
    ``v=<value> · #<sample>``: its unit's activation and the input it belongs to; a feature whose
    values are all <= 0 says "no positive activation" over its (blank) projections.

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
    f, k = len(rows_of), p.samples.shape[1]
    cols = math.ceil(math.sqrt(k))
    rows = math.ceil(k / cols)
    lines = p.positions.shape[-1] == 1
    # The layout in inches, so that no text overlaps for any k and any number of features: panel, gap
    # between the halves, between columns, between rows (room for the label below each panel and, for
    # lines, the time ticks), extra between features, left margin for "feature f".
    P, GAP, W, H, BLOCK, LEFT = 1.3, 0.4, 0.12, (0.5 if lines else 0.32), 0.2, 0.5
    half = cols * P + (cols - 1) * W
    width = LEFT + 2 * half + GAP + 0.15
    title = f"layer {p.layer!r}: top {k} activations" + (f" ({f} of {len(held)} features)" if f < len(held) else "")
    title = textwrap.fill(title, max(20, int(width / 0.085)))
    heads = (f"{p.rule}\nprojections" if cols == 1 else f"{p.rule} projections", "input patches")
    top = 0.15 + 0.2 * (title.count("\n") + 1) + 0.15 + 0.16 * (heads[0].count("\n") + 1)
    if lines:
        note = "x: input time step; lines: the input's channels (legend); v: the unit's activation, #: its input"
    else:
        note = ("each projection scaled to its own max |value| (red positive, blue negative, white 0); "
                "v: the unit's activation, #: its input")
    note = textwrap.fill(note, max(30, int(width / 0.06)))
    bottom = 0.12 + 0.14 * (note.count("\n") + 1) + (0.3 if lines else 0.0)
    grid = f * rows * P + (f * rows - 1) * H + (f - 1) * BLOCK + H
    height = top + grid + bottom
    fig = plt.figure(figsize=(width, height))

    def box(x, y, w, h):  # inches from the left and from the top -> a figure-fraction rectangle
        return [x / width, 1 - (y + h) / height, w / width, h / height]

    fig.suptitle(title, fontsize=10, y=1 - 0.15 / height, va="top")
    for x, head in zip((LEFT, LEFT + half + GAP), heads):
        fig.text(x / width, 1 - (top - 0.06) / height, head, fontsize=9, ha="left", va="bottom")
    handles = None
    for block, i in enumerate(rows_of):
        y0 = top + block * (rows * (P + H) + BLOCK)
        for j in range(k):
            x, y = LEFT + (j % cols) * (P + W), y0 + (j // cols) * (P + H)
            left, right = fig.add_axes(box(x, y, P, P)), fig.add_axes(box(x + half + GAP, y, P, P))
            (start, stop), = p.patches[i, j] if lines else ((0, 0),)
            where = tuple(slice(int(a), int(b)) for a, b in p.patches[i, j]) if crop else ()
            shown, patch = p.maps[i, j][where], p.patch(i, j)
            if lines:
                shown_at = np.arange(start, stop) if crop else np.arange(len(shown))
                handles = left.plot(shown_at, shown, lw=1)
                right.plot(np.arange(start, stop), patch, lw=1)
                for ax, at in ((left, shown_at), (right, np.arange(start, stop))):
                    ax.set_xticks([int(at[0]), int(at[-1])] if len(at) > 1 else [int(at[0])])
                    ax.set_yticks([])
                    ax.tick_params(labelsize=6, length=2, pad=1)
            else:
                panel = _flat(shown, signed=True)
                limit = float(np.abs(panel).max()) or 1.0
                left.imshow(panel, cmap="RdBu_r", vmin=-limit, vmax=limit)
                image = _flat(patch, signed=False)
                right.imshow(image, cmap=None if image.ndim == 3 else "gray")
                for ax in (left, right):
                    ax.set_xticks([])
                    ax.set_yticks([])
            left.set_xlabel(f"v={float(p.values[i, j]):.3g} · #{int(p.samples[i, j])}", fontsize=7, labelpad=2)
            if j == 0:
                left.set_ylabel(f"feature {int(p.features[i])}", fontsize=8)
        if np.all(p.values[i] <= 0):  # a dead feature: its projections are blank; say why over its first row
            dead = textwrap.fill(f"feature {int(p.features[i])}: no positive activation", max(12, int(half / 0.06)))
            fig.text((LEFT + half / 2) / width, 1 - (y0 + P / 2) / height, dead, fontsize=8,
                     ha="center", va="center", bbox={"facecolor": "white", "edgecolor": "0.5", "alpha": 0.9})
    fig.text(LEFT / width, (bottom - 0.1) / height, note, fontsize=7, ha="left", va="top", color="0.25")
    if lines and handles:
        channels = len(handles)
        labels = [f"channel {c}" for c in range(channels)]
        fig.legend(handles[:10], labels[:10], loc="lower center", ncol=min(channels, 5), fontsize=7, frameon=False,
                   bbox_to_anchor=(0.5, 0.0), title=None if channels <= 10 else f"first 10 of {channels} channels",
                   title_fontsize=7, handlelength=1.5, columnspacing=1.0)
    if path is not None:
        fig.savefig(path, dpi=110)
    return fig
