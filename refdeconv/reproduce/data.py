"""The data of the studies: shipped inside installed packages, nothing downloaded.

- scikit-learn's *digits* (Alpaydin & Kaynak's optical recognition of handwritten digits, UCI; 1,797
  images of 8 x 8 pixels, 10 classes), the small stand-in for MNIST;
- refdeconv's generated shapes (:func:`refdeconv.cli.demo.shapes_dataset`) and scenes with exact
  object masks (:mod:`refdeconv.reproduce.scenes`).
"""

from __future__ import annotations

import numpy as np

EXTRA = 'pip install "refdeconv[reproduce]"'


def need(module: str, purpose: str):
    """Import the optional ``module`` or raise an ``ImportError`` that says what it is for and how to get it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise ImportError(f"refdeconv reproduce needs {module.split('.')[0]} for {purpose}, an optional "
                          f"dependency: {EXTRA}") from None


def digits(seed: int, n_test: int = 400) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(x_train, y_train, x_test, y_test)``: the digits as float32 ``(N, 8, 8, 1)`` in ``[0, 1]`` and
    int labels, split at random (``seed``) with ``n_test`` held out.

    Raises
    ------
    ImportError
        scikit-learn is missing.
    """
    datasets = need("sklearn.datasets", "its digits dataset (shipped with it: no download)")
    loaded = datasets.load_digits()
    x = (loaded.images / 16.0).astype(np.float32)[..., None]
    y = loaded.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(x))
    test, train = order[:n_test], order[n_test:]
    return x[train], y[train], x[test], y[test]
