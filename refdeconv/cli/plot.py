"""Figures of attribution maps: inputs beside their maps, on a diverging colour map centred on zero.

Used by ``refdeconv demo``, ``refdeconv explain --png`` and from notebooks.
matplotlib is an optional dependency (``pip install "refdeconv[plot]"``).
"""

from __future__ import annotations

import numpy as np


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError(
            "refdeconv.cli.plot needs matplotlib, an optional dependency: pip install \"refdeconv[plot]\""
        ) from None
    return plt


def as_image(sample: np.ndarray, reduce_channels: bool) -> np.ndarray:
    """One sample as a 2-D array (or ``(H, W, 3)`` RGB) for ``imshow``.

    ``(H, W, C)`` maps are summed over channels (signed); inputs with 3
    channels are shown as RGB scaled to [0, 1], other channel counts as their
    mean; ``(T, W)`` is shown as is, ``(W,)`` as one row.
    """
    a = np.asarray(sample, dtype=np.float64)
    if a.ndim == 1:
        return a[None, :]
    if a.ndim == 2:
        return a
    if reduce_channels or a.shape[-1] != 3:
        return a.sum(-1) if reduce_channels else a.mean(-1)
    lo, hi = a.min(), a.max()
    return (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)


def plot_maps(inputs, maps: dict, path=None, titles=None):
    """A grid: one row per input, the input then one column per map, each with a colour bar.

    Parameters
    ----------
    inputs : array_like
        ``(N, ...)`` inputs.
    maps : dict of str to array_like
        Method name -> maps of the inputs' shape (e.g. ``{"DeconvNet": ...}``).
    path : str or path-like, optional
        Where to save the figure (PNG).
    titles : list of str, optional
        One label per input row.

    Returns
    -------
    matplotlib.figure.Figure

    Notes
    -----
    Each map is shown on ``RdBu_r`` with limits ``±max|map|`` of that panel, so
    zero is white, positive red and negative blue; maps of image inputs are
    summed over channels.
    """
    plt = _pyplot()
    inputs = np.asarray(inputs)
    columns = 1 + len(maps)
    fig, axes = plt.subplots(len(inputs), columns, figsize=(2.6 * columns, 2.4 * len(inputs)), squeeze=False)
    for i, x in enumerate(inputs):
        ax = axes[i, 0]
        image = as_image(x, reduce_channels=False)
        ax.imshow(image, cmap=None if image.ndim == 3 else "gray", aspect="auto" if x.ndim < 3 else "equal")
        ax.set_title(titles[i] if titles else "input", fontsize=9)
        for j, (name, m) in enumerate(maps.items(), start=1):
            panel = as_image(np.asarray(m)[i], reduce_channels=x.ndim == 3)
            limit = float(np.abs(panel).max()) or 1.0
            shown = axes[i, j].imshow(panel, cmap="RdBu_r", vmin=-limit, vmax=limit,
                                      aspect="auto" if x.ndim < 3 else "equal")
            axes[i, j].set_title(name, fontsize=9)
            fig.colorbar(shown, ax=axes[i, j], fraction=0.046, pad=0.04)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=110)
    return fig
