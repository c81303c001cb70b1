"""The tolerance table: how close a map must be to the reference map, per dtype.

Public through :mod:`refdeconv.testing`; every comparison of refdeconv (the
audit, the test vectors, the test suite) goes through :func:`assert_maps_close`
or :func:`map_error` with :func:`tolerance`.

Tolerance table
---------------
A map ``a`` computed in dtype ``d`` matches a reference map ``r`` (float64)
when, for every sample ``i``,

    max_j |a_ij - r_ij| <= TOLERANCES[d] * scale_i,
    scale_i = max_j |r_ij|   (or max over the batch when sample i is all zero,
                              or 1 when the whole batch is zero)

=================== ========= ===============================================
key                 tolerance reasoning
=================== ========= ===============================================
float64             1e-9      unit roundoff 1.1e-16; a backward pass of depth
                              L with fan-in F accumulates roughly
                              L * sqrt(F) roundoffs of the terms it sums, and
                              cancellation can make the terms up to ~10^4
                              times the result in the small nets we draw;
                              1e-9 leaves three orders of magnitude of margin
                              and still catches any wrong rule, which errs by
                              O(1) of the scale.
float32             1e-4      roundoff 6e-8; same reasoning, same margin
                              (oneDNN on CPU reorders sums: results differ
                              from a naive order by a few roundoffs).
float16             1e-2      roundoff 4.9e-4, ~20x margin: half precision
                              leaves little room, the check is a sanity check.
bfloat16            5e-2      roundoff 3.9e-3, ~13x margin, as float16.
finite-difference   1e-6      central differences of order 8 with adaptive
                              steps (``scipy.differentiate.jacobian``) on
                              float64 models reach ~1e-10 where the function
                              is smooth at the step scale; the margin covers
                              a ReLU kink within reach of the largest step.
=================== ========= ===============================================

The scale is per sample so that one sample with a large map does not hide a
wrong map of a small one; it is the map's own scale, not an unscaled sum (the
weak point of comparing ``sum(|a - r|)`` against a fixed number).
"""

from __future__ import annotations

import numpy as np

#: dtype name (or ``"finite-difference"``) -> relative tolerance; see the module docstring.
TOLERANCES = {
    "float64": 1e-9,
    "float32": 1e-4,
    "float16": 1e-2,
    "bfloat16": 5e-2,
    "finite-difference": 1e-6,
}


def tolerance(key) -> float:
    """Relative tolerance for a dtype (anything ``numpy.dtype`` or its name accepts) or a table key."""
    name = key if isinstance(key, str) and key in TOLERANCES else getattr(key, "name", None) or np.dtype(key).name
    if name not in TOLERANCES:
        raise ValueError(f"key: no tolerance for {key!r}; the table has {sorted(TOLERANCES)}")
    return TOLERANCES[name]


def map_error(actual, expected) -> np.ndarray:
    """Per-sample error ``max_j |a_ij - r_ij| / scale_i`` (see the module docstring)."""
    a, r = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    if a.size == 0 or r.size == 0:  # no sample, or samples of no element: nothing differs
        return np.zeros(len(r))
    a, r = a.reshape(len(r), -1), r.reshape(len(r), -1)
    scale = np.abs(r).max(axis=1)
    floor = scale.max() if scale.max() > 0 else 1.0
    return np.abs(a - r).max(axis=1) / np.where(scale > 0, scale, floor)


def assert_maps_close(actual, expected, key, context: str = "") -> None:
    """Raise ``AssertionError`` unless ``actual`` matches ``expected`` within ``tolerance(key)``.

    The message names the context, the shapes, the worst sample and its error.
    """
    actual, expected = np.asarray(actual), np.asarray(expected)
    if actual.shape != expected.shape:
        raise AssertionError(f"{context}: map shape {actual.shape} != reference shape {expected.shape}")
    if not np.isfinite(actual).all():
        raise AssertionError(f"{context}: map of shape {actual.shape} contains NaN or Inf")
    err, tol = map_error(actual, expected), tolerance(key)
    if err.size and err.max() > tol:
        i = int(err.argmax())
        raise AssertionError(
            f"{context}: map of shape {actual.shape} differs from the reference: sample {i} has "
            f"scaled error {err[i]:.3g} > tolerance {tol:g} ({key}); "
            f"max |map| {np.abs(actual[i]).max():.6g}, max |reference| {np.abs(expected[i]).max():.6g}"
        )
