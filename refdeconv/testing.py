"""The public checkers (like ``numpy.testing``): the tolerance table and the comparisons every check of refdeconv goes through.

Other projects import it to test their own attribution code against
:mod:`refdeconv.reference`; refdeconv's own test suite uses nothing else.

Checkers: :func:`assert_maps_close` (one map against a reference map),
:func:`assert_conforms` (an implementation over the built-in suite of
:mod:`refdeconv.conformance.cases`, as ``refdeconv audit --candidate`` runs it),
:func:`assert_model_conforms` (an implementation, or refdeconv itself, on your own
model, as ``refdeconv audit --model`` runs it) and :func:`drawn_cases` (the suite
with Hypothesis-drawn seeds)::

    from refdeconv.testing import assert_conforms

    def test_my_deconvnet():
        assert_conforms(lambda model, x, targets: my_deconvnet(model, x, targets))

The tolerance table and its reasoning: :mod:`refdeconv.conformance.tolerances`
(re-exported here as :data:`TOLERANCES`).
"""

from __future__ import annotations

from .conformance.tolerances import TOLERANCES, assert_maps_close, map_error, tolerance

__all__ = ["TOLERANCES", "assert_conforms", "assert_maps_close", "assert_model_conforms", "drawn_cases", "map_error",
           "tolerance"]


def _describe(entry: dict, rule: str, what: str = "case") -> str:
    where = f"{what} {entry['name']!r} (inputs of shape {tuple(entry['input_shape'])}, {entry['dtype'] or 'no map'})"
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


def assert_model_conforms(model, fn=None, rule: str = "deconvnet", inputs=None, targets=None,
                          output_layer=None) -> None:
    """Raise ``AssertionError`` unless ``fn`` (default: refdeconv's own explainer) implements ``rule`` on ``model``.

    Runs the audit of ``refdeconv audit --model``
    (:func:`refdeconv.conformance.model_audit.run_model`) without writing any report.

    Parameters
    ----------
    model : keras.Model
        A Sequential or Functional Keras 3 model.
    fn : callable or None
        ``fn(model, inputs, targets)``, as for :func:`assert_conforms` (a list
        of inputs and of maps for a model with several inputs); ``None`` for
        refdeconv's explainer of ``rule``.
    rule : {"deconvnet", "gradient", "guided"}
        The rule ``fn`` should implement.
    inputs, targets : array_like, optional
        As for ``run_model``: default two seeded N(0, 1) samples and the top class.
    output_layer : str, int or None
        Where the model is cut.

    Raises
    ------
    AssertionError
        Naming the model's input, its error against the ``rule`` reference and
        the rule the map matches instead (or the exception ``fn`` raised), and
        any near tie of its maxima (:func:`refdeconv.conformance.maxima.near_ties`).
    refdeconv.conformance.model_audit.UnsupportedModel
        A ``NotImplementedError``: the reference does not model a layer of the
        model (named), so no map can be vouched for.
    """
    from .conformance.model_audit import run_model  # imports TensorFlow: only when called

    report = run_model(model, inputs, targets, fn, rule, output_layer)
    failures = [entry for entry in report.cases if not entry["passed"]]
    if failures:
        near = report.model["near_ties"]
        raise AssertionError(f"{report.candidate} does not implement the {rule} rule on model {model.name!r}:\n"
                             + "\n".join(_describe(entry, rule, "map of") for entry in failures)
                             + (f"\nnear ties (rounding picks the switch, so the map may be right): {'; '.join(near)}"
                                if near else ""))


def drawn_cases():
    """A Hypothesis strategy of suite cases with freshly drawn weights and inputs.

    Each example is a case of the suite (as a candidate gets it) whose
    network is reseeded (:func:`refdeconv.conformance.cases.reseeded`); pass it as
    ``assert_conforms(fn, cases=[case])``. Needs Hypothesis.
    """
    from hypothesis import strategies as st

    from .conformance import cases

    return st.builds(cases.reseeded, st.sampled_from(cases.select(own=False)), st.integers(0, 2**32 - 1))
