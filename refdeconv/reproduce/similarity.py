"""Similarity of two sets of maps, one number per sample: the measures of Adebayo et al. (2018)
and of Sixt et al. (2020).

Maps are ``(N, ...)`` arrays; image maps ``(N, H, W, C)`` are summed over channels first.
"""

from __future__ import annotations

import numpy as np

from .data import need


def _flat(a) -> np.ndarray:
    a = np.asarray(a, np.float64)
    return a.reshape(len(a), -1)


def spearman(a, b, absolute: bool) -> np.ndarray:
    """Spearman's rank correlation of each sample's map in ``a`` and ``b`` (of their absolute values
    when ``absolute``), as Adebayo et al. do (``scipy.stats.spearmanr``: the Pearson correlation of the
    average ranks, computed here for all samples at once); 0 where a map is constant."""
    from scipy.stats import rankdata

    fa, fb = _flat(a), _flat(b)
    if absolute:
        fa, fb = np.abs(fa), np.abs(fb)
    constant = (np.ptp(fa, axis=1) == 0) | (np.ptp(fb, axis=1) == 0)
    ra, rb = (r - r.mean(axis=1, keepdims=True) for r in (rankdata(fa, axis=1), rankdata(fb, axis=1)))
    norms = np.sqrt((ra * ra).sum(1) * (rb * rb).sum(1))
    return np.where(constant, 0.0, (ra * rb).sum(1) / np.where(constant, 1.0, norms))


def ssim(a, b) -> np.ndarray:
    """Structural similarity (Wang et al. 2004; ``skimage.metrics.structural_similarity``) of each
    sample's image map in ``a`` and ``b``, ``(N, H, W[, C])``, on the absolute maps summed over
    channels and each scaled to ``[0, 1]`` by its maximum, as Adebayo et al. compare normalised maps;
    the window is 7 pixels or the image's smaller side, made odd."""
    metrics = need("skimage.metrics", "the SSIM of Adebayo et al.")
    out = []
    for u, v in zip(np.asarray(a, np.float64), np.asarray(b, np.float64)):
        u, v = (np.abs(m.sum(-1)) if m.ndim == 3 else np.abs(m) for m in (u, v))
        u, v = (m / m.max() if m.max() > 0 else m for m in (u, v))
        side = min(7, *u.shape)
        out.append(float(metrics.structural_similarity(u, v, data_range=1.0, win_size=side - 1 + side % 2)))
    return np.array(out)


def cosine(a, b) -> np.ndarray:
    """Cosine similarity of each sample's map (or signal) in ``a`` and ``b``; 0 where one is all zero."""
    fa, fb = _flat(a), _flat(b)
    norms = np.linalg.norm(fa, axis=1) * np.linalg.norm(fb, axis=1)
    return np.where(norms > 0, (fa * fb).sum(1) / np.where(norms > 0, norms, 1.0), 0.0)


def summary(values) -> dict:
    """Mean, standard deviation, minimum and maximum of per-sample values (plain floats)."""
    v = np.asarray(values, np.float64)
    return {"mean": float(v.mean()), "std": float(v.std()), "min": float(v.min()), "max": float(v.max())}
