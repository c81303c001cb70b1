"""Auditing an attribution implementation against the NumPy reference, case by case.

:func:`run` calls a candidate ``fn(model, inputs, targets)`` on every case of
the built-in suite (:mod:`refdeconv.conformance.cases`) and compares its map with the
reference map of each rule. For each case it finds the rule the candidate
actually implements: the asked rule if its map is within tolerance of that
rule's reference (so where rules coincide on a case, the asked one is
reported), else the first of ``deconvnet``, ``gradient``, ``guided`` within
tolerance, else ``none``. A candidate that raises, or returns something other
than a finite real array of the inputs' shape, is reported on that case with
its error, and the audit goes on.

Errors are the per-sample scaled errors of :func:`refdeconv.testing.map_error`
(worst sample), held to :func:`refdeconv.testing.tolerance` of the dtype.
"""

from __future__ import annotations

import importlib
import warnings
from dataclasses import dataclass, field

import numpy as np
import tensorflow as tf

from . import cases as suite
from ..explainers import DeconvNet, Gradient, GuidedBackprop
from .tolerances import map_error, tolerance

RULES = suite.RULES
EXPLAINERS = {cls.rule: cls for cls in (DeconvNet, Gradient, GuidedBackprop)}


@dataclass
class Report:
    """The outcome of an audit: one entry per case, and the maps for the figure.

    Attributes
    ----------
    candidate : str
        What was audited.
    rule : str
        The rule it was asked to implement.
    cases : list of dict
        Per case: ``name``, ``input_shape``, ``dtype``, ``ties`` (a max-pool
        window has tied maxima), ``tolerance``,
        ``errors`` (rule -> scaled error, or ``None``), ``max_abs_error``
        (against the asked rule's reference), ``matches``, ``passed``, ``error``.
    maps : dict
        Case name -> ``(candidate map, reference map)`` of the sample with the
        largest reference map (the candidate's is ``None`` when it failed to
        return one).
    model : dict or None
        For an audit of the user's own model (:mod:`refdeconv.conformance.model_audit`):
        its ``name``, ``layers`` (``name`` and ``type`` of each layer the reference
        modelled), ``inputs`` and ``targets`` (where they came from),
        ``near_ties`` (:func:`refdeconv.conformance.maxima.near_ties`) and ``output_layer``; its cases are then the maps of its inputs. ``None`` for the suite.
    """

    candidate: str
    rule: str
    cases: list = field(default_factory=list)
    maps: dict = field(default_factory=dict)
    model: dict | None = None

    @property
    def passed(self) -> int:
        """Number of cases passed."""
        return sum(entry["passed"] for entry in self.cases)

    @property
    def failed(self) -> int:
        """Number of cases failed."""
        return len(self.cases) - self.passed

    def as_json(self) -> dict:
        """The report as ``report.json`` holds it."""
        from .. import __version__

        return {"refdeconv_version": __version__, "tensorflow_version": tf.__version__,
                "candidate": self.candidate, "rule": self.rule, "passed": self.passed,
                "failed": self.failed, **({"model": self.model} if self.model else {}), "cases": self.cases}

    def add(self, name: str, actual, references: dict, key, ties: bool, error: str | None = None) -> dict:
        """Compare one case's map with the references and record the entry (see :class:`Report`).

        ``key`` is the tolerance key (the map's dtype), ``None`` only with an ``error``.
        """
        expected = references[self.rule]
        entry = {"name": name, "input_shape": list(expected.shape), "dtype": key, "ties": bool(ties),
                 "tolerance": tolerance(key) if key else None,
                 "errors": None, "max_abs_error": None, "matches": "none", "passed": False, "error": error}
        got = None
        if error is None:
            try:
                got = np.asarray(actual, np.float64)
            except (TypeError, ValueError) as err:
                entry["error"] = f"returned {type(actual).__name__}, not a real array: {err}"
            else:
                entry["error"] = _shape_error(got, expected)
        if entry["error"] is None:
            errors = {rule: float(map_error(got, references[rule]).max()) for rule in RULES}
            matches = next((r for r in (self.rule, *RULES) if errors[r] <= entry["tolerance"]), "none")
            entry.update(errors=errors, max_abs_error=float(np.abs(got - expected).max()),
                         matches=matches, passed=matches == self.rule)
        self.cases.append(entry)
        i = int(np.abs(expected.reshape(len(expected), -1)).max(axis=1).argmax())
        self.maps[name] = (None if entry["error"] else got[i], expected[i])
        return entry


def _shape_error(got: np.ndarray, expected: np.ndarray) -> str | None:
    if got.shape != expected.shape:
        return f"returned shape {got.shape}, expected the inputs' shape {expected.shape}"
    if not np.isfinite(got).all():
        return "returned NaN or Inf"
    return None


def load_candidate(spec: str):
    """The callable named by ``"MODULE:CALLABLE"`` (``CALLABLE`` may be dotted)."""
    module_name, sep, attribute = str(spec).partition(":")
    if not (sep and module_name and attribute):
        raise ValueError(f"candidate: expected MODULE:CALLABLE, got {spec!r}")
    try:
        target = importlib.import_module(module_name)
    except ImportError as err:
        raise ValueError(f"candidate: cannot import module {module_name!r}: {err}") from err
    for part in attribute.split("."):
        if not hasattr(target, part):
            raise ValueError(f"candidate: {module_name!r} has no attribute {attribute!r}")
        target = getattr(target, part)
    if not callable(target):
        raise TypeError(f"candidate: {spec!r} is a {type(target).__name__}, not a callable")
    return target


def _feed(case, x: np.ndarray, y: np.ndarray):
    """The case's inputs and targets as its input type gives them."""
    x, y = x.astype(case.dtype), y.astype(case.dtype)
    if case.input_type == "tensor":
        return tf.constant(x), y
    if case.input_type == "dataset":
        return tf.data.Dataset.from_tensor_slices((x, y)).batch(1), None
    return x, y


def run(fn=None, rule: str = "deconvnet", cases=None, name: str | None = None, progress=None) -> Report:
    """Audit ``fn`` (``None``: refdeconv's own explainer of ``rule``) over the suite.

    Parameters
    ----------
    fn : callable or None
        ``fn(model, inputs, targets)`` with a Keras model, a float32 ndarray
        and one-hot float32 targets, returning a map of the inputs' shape.
        ``None`` audits refdeconv's explainer, on every input type and dtype.
    rule : {"deconvnet", "gradient", "guided"}
        The rule ``fn`` should implement.
    cases : iterable of str or Case, optional
        Case names or :class:`refdeconv.conformance.cases.Case` objects; default the suite.
    name : str, optional
        What the report calls the candidate.
    progress : callable, optional
        Called as ``progress(i, total, case_name)`` before each case.

    Returns
    -------
    Report
    """
    own = fn is None
    fn, label = candidate(fn, rule, name)
    chosen = suite.select(cases, own)
    if not own and any(case.own_only for case in chosen):
        bad = next(case.name for case in chosen if case.own_only)
        raise ValueError(f"cases: {bad!r} varies refdeconv's own input type or dtype; a candidate gets float32 arrays")
    report = Report(label, rule)
    for i, case in enumerate(chosen):
        if progress is not None:
            progress(i, len(chosen), case.name)
        model, net = case.model(), case.network
        inputs, targets = _feed(case, net.inputs(), net.targets())
        actual, error = call(fn, model, inputs, targets)
        report.add(case.name, actual, case.references(), case.dtype, case.ties(), error)
    return report


def candidate(fn, rule: str, name: str | None = None):
    """``(fn, label)``: ``fn`` checked and named, or for ``fn=None`` refdeconv's own explainer of ``rule``."""
    if rule not in RULES:
        raise ValueError(f"rule: expected one of {RULES}, got {rule!r}")
    if fn is None:
        def fn(model, inputs, targets):
            return EXPLAINERS[rule](model).explain(inputs, targets)

        return fn, name or f"refdeconv.{EXPLAINERS[rule].__name__}"
    if not callable(fn):
        raise TypeError(f"fn: expected a callable fn(model, inputs, targets), got {type(fn).__name__}")
    return fn, name or getattr(fn, "__qualname__", repr(fn))


def call(fn, model, inputs, targets):
    """``(map, None)`` from ``fn(model, inputs, targets)``, or ``(None, error)`` if it raised."""
    try:
        with warnings.catch_warnings():  # the candidate's warnings are not the audit's findings
            warnings.simplefilter("ignore")
            return fn(model, inputs, targets), None
    except Exception as err:  # noqa: BLE001 - a failing candidate is a finding, not a crash
        return None, f"{type(err).__name__}: {err}"
