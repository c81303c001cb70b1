"""The public checkers (like ``numpy.testing``): the tolerance table and the comparisons every check of refdeconv goes through.

Other projects import it to test their own attribution code against
:mod:`refdeconv.reference`; refdeconv's own test suite uses nothing else.

Checkers: :func:`assert_maps_close` (one map against a reference map),
:func:`assert_conforms` (an implementation over the built-in suite of
:mod:`refdeconv.conformance.cases`, as ``refdeconv audit --candidate`` runs it) and
:func:`drawn_cases` (that suite with Hypothesis-drawn seeds)::

    from refdeconv.testing import assert_conforms

    def test_my_deconvnet():
        assert_conforms(lambda model, x, targets: my_deconvnet(model, x, targets))

The tolerance table and its reasoning: :mod:`refdeconv.conformance.tolerances`
(re-exported here as :data:`TOLERANCES`).
"""

from __future__ import annotations

from .conformance.tolerances import TOLERANCES, assert_maps_close, map_error, tolerance

__all__ = ["TOLERANCES", "assert_conforms", "assert_maps_close", "drawn_cases", "map_error", "tolerance"]


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

    Runs the audit of ``refdeconv audit --candidate`` (:func:`refdeconv.conformance.audit.run`)
    without writing any report.

    Parameters
    ----------
    fn : callable
        ``fn(model, inputs, targets)``: a Keras model, a float32 ndarray of
        inputs and one-hot float32 targets; returns a map of the inputs' shape
        (an ndarray or tensor).
    rule : {"deconvnet", "gradient", "guided"}
        The rule ``fn`` should implement.
    cases : iterable of str or refdeconv.conformance.cases.Case, optional
        Case names, or cases (e.g. drawn with :func:`drawn_cases`); default
        the built-in suite.

    Raises
    ------
    AssertionError
        Naming every failing case, its input shape and dtype, its error
        against the ``rule`` reference and the rule the map matches instead
        (or the exception ``fn`` raised, or its wrong shape).
    """
    from .conformance.audit import run  # imports TensorFlow: only when called

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
    network is reseeded (:func:`refdeconv.conformance.cases.reseeded`); pass it as
    ``assert_conforms(fn, cases=[case])``. Needs Hypothesis.
    """
    from hypothesis import strategies as st

    from .conformance import cases

    return st.builds(cases.reseeded, st.sampled_from(cases.select(own=False)), st.integers(0, 2**32 - 1))
