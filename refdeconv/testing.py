"""The tolerance table and the comparison every check of refdeconv goes through.

Other projects import it to test their own attribution code against
:mod:`refdeconv.reference`; refdeconv's own test suite uses nothing else.

Checkers: :func:`assert_maps_close` (one map against a reference map),
:func:`assert_conforms` (an implementation over the built-in suite of
:mod:`refdeconv.cases`, as ``refdeconv audit --candidate`` runs it) and
:func:`drawn_cases` (that suite with Hypothesis-drawn seeds)::

    from refdeconv.testing import assert_conforms

    def test_my_deconvnet():
        assert_conforms(lambda model, x, targets: my_deconvnet(model, x, targets))

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
    a = np.asarray(actual, np.float64).reshape(len(expected), -1)
    r = np.asarray(expected, np.float64).reshape(len(expected), -1)
    if a.size == 0:
        return np.zeros(len(r))
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


def _describe(entry: dict, rule: str) -> str:
    where = f"case {entry['name']!r} (inputs of shape {tuple(entry['input_shape'])}, {entry['dtype'] or 'no map'})"
    if entry["error"]:
        return f"{where}: {entry['error']}"
    errors = ", ".join(f"{r} {e:.3g}" for r, e in entry["errors"].items())
    return (f"{where}: scaled error {entry['errors'][rule]:.3g} > tolerance {entry['tolerance']:g} against the "
            f"{rule} reference (max abs error {entry['max_abs_error']:.3g}); it matches {entry['matches']} "
            f"(scaled errors: {errors})")


def assert_conforms(fn, rule: str = "deconvnet", cases=None) -> None:
    """Raise ``AssertionError`` unless ``fn`` implements ``rule`` on every case.

    Runs the audit of ``refdeconv audit --candidate`` (:func:`refdeconv.audit.run`)
    without writing any report.

    Parameters
    ----------
    fn : callable
        ``fn(model, inputs, targets)``: a Keras model, a float32 ndarray of
        inputs and one-hot float32 targets; returns a map of the inputs' shape
        (an ndarray or tensor).
    rule : {"deconvnet", "gradient", "guided"}
        The rule ``fn`` should implement.
    cases : iterable of str or refdeconv.cases.Case, optional
        Case names, or cases (e.g. drawn with :func:`drawn_cases`); default
        the built-in suite.

    Raises
    ------
    AssertionError
        Naming every failing case, its input shape and dtype, its error
        against the ``rule`` reference and the rule the map matches instead
        (or the exception ``fn`` raised, or its wrong shape).
    """
    from .audit import run  # refdeconv.audit imports this module

    report = run(fn, rule, cases)
    failures = [entry for entry in report.cases if not entry["passed"]]
    if failures:
        raise AssertionError(
            f"{report.candidate} does not implement the {rule} rule on {len(failures)} of {len(report.cases)} "
            "cases:\n" + "\n".join(_describe(entry, rule) for entry in failures)
        )


def drawn_cases():
    """A Hypothesis strategy of suite cases with freshly drawn weights and inputs.

    Each example is a case of the suite (as a candidate gets it) whose
    network is reseeded (:func:`refdeconv.cases.reseeded`); pass it as
    ``assert_conforms(fn, cases=[case])``. Needs Hypothesis.
    """
    from hypothesis import strategies as st

    from . import cases

    return st.builds(cases.reseeded, st.sampled_from(cases.select(own=False)), st.integers(0, 2**32 - 1))
