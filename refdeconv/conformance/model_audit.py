"""Auditing an implementation on the user's own Keras model, against the NumPy reference.

:func:`run_model` is :func:`refdeconv.conformance.audit.run` for one model instead of
the built-in suite: it calls a candidate ``fn(model, inputs, targets)`` (default:
refdeconv's own explainer of the asked rule) once, computes the reference map of
each rule with :func:`refdeconv.reference.attribution`, and compares them with
:meth:`~refdeconv.conformance.audit.Report.add`, so the scaled errors, the rule
the map matches and pass/fail mean what they mean in the suite's report. The
report has one entry per model input (one for the usual single-input model),
named after the model (``name[input]`` for several inputs), for the asked rule;
its ``model`` section lists the layers the reference modelled.

The audit vouches only for what the reference computes: a model with a layer
the reference does not model raises :class:`UnsupportedModel` naming the layer,
before the candidate is called, and never yields a pass.
"""

from __future__ import annotations

import re

import keras
import numpy as np

from .. import reference
from ..explainers.models import cut, model_dtype
from ..keras_model import written_order
from .audit import RULES, Report, call, candidate
from .maxima import max_pool_ties, near_ties
from .conventions import measured_rule, reference_output, relu_rules, seed_fit

#: Samples drawn when no inputs are given, and their seed.
SAMPLES, SEED = 2, 0


class UnsupportedModel(NotImplementedError):
    """The reference does not model a layer of the model, so the audit cannot vouch for any map.

    Attributes
    ----------
    layer : str or None
        The name of the layer (or subclassed model) the reference refused;
        ``None`` where its message names none of the model's own layers.
    layer_type : str or None
        Its class name.
    reason : str
        The reference's own message.
    """

    def __init__(self, reason: str, layer: str | None = None, layer_type: str | None = None):
        self.reason, self.layer, self.layer_type = reason, layer, layer_type
        what = f"layer {layer!r} of type {layer_type}" if layer else "a part of the model"
        super().__init__(f"the NumPy reference does not model {what}, so the audit cannot vouch for the map "
                         f"({reason})")


def _walk(model):
    """``model``, then every layer reachable from it, nested models' layers included, in order;
    with the ``keras.ops`` nodes of a Functional graph (``x + 3.0``), which the reference models too."""
    yield model
    for layer in getattr(model, "operations", None) or model.layers:
        if isinstance(layer, keras.Model):
            yield from _walk(layer)
        else:
            yield layer


def unsupported_model(model, err: NotImplementedError) -> UnsupportedModel:
    """The reference's refusal as :class:`UnsupportedModel`, with the layer (Keras) or node (ONNX) its
    message names."""
    reason = str(err)
    node = re.search(r"node '(.*?)' of op type (\w+)", reason)
    if node:
        return UnsupportedModel(reason, node.group(1), node.group(2))
    if isinstance(model, keras.Model):
        for layer in _walk(model):
            kind = "model" if isinstance(layer, keras.Model) else "layer"
            if f"{kind} {layer.name!r} of type {type(layer).__name__}" in reason:
                return UnsupportedModel(reason, layer.name, type(layer).__name__)
    return UnsupportedModel(reason)


def modelled_layers(model, output_layer=None) -> list[dict]:
    """``name`` and ``type`` of each layer of ``model`` (cut at ``output_layer``) the reference models."""
    return [{"name": layer.name, "type": type(layer).__name__} for layer in _walk(cut(model, output_layer))
            if not isinstance(layer, (keras.Model, keras.layers.InputLayer))]


def _inputs(model, inputs) -> tuple[list, str]:
    """``(xs, origin)``: one array per model input in the model's dtype, and where they came from."""
    specs = list(model.inputs)
    if inputs is None:
        rng = np.random.default_rng(SEED)
        xs = []
        for spec in specs:
            shape, dtype = tuple(spec.shape[1:]), keras.backend.standardize_dtype(spec.dtype)
            if None in shape or not np.issubdtype(np.dtype(dtype), np.floating):
                raise ValueError(f"inputs: the model's input {spec.name!r} is {dtype} of shape {tuple(spec.shape)}; "
                                 "random inputs cannot be drawn for it, so pass inputs")
            xs.append(rng.standard_normal((SAMPLES, *shape)).astype(dtype))
        return xs, f"{SAMPLES} samples drawn from N(0, 1), seed {SEED}"
    if len(specs) == 1:
        xs = [inputs]
    elif isinstance(inputs, (list, tuple)) and len(inputs) == len(specs):
        xs = list(inputs)
    else:
        raise TypeError(f"inputs: the model takes {len(specs)} inputs {[s.name for s in specs]}: "
                        "a list or tuple of arrays, in this order")
    out = []
    for x, spec in zip(xs, specs):
        x = np.asarray(x)
        if not (np.issubdtype(x.dtype, np.number) or x.dtype == bool) or np.iscomplexobj(x):
            raise TypeError(f"inputs: expected a real numeric array for {spec.name!r}, got dtype {x.dtype}")
        if x.ndim == 0 or len(x) == 0:
            raise ValueError(f"inputs: expected a batch (N, ...) with N >= 1 for {spec.name!r}, got shape {x.shape}")
        out.append(x.astype(keras.backend.standardize_dtype(spec.dtype)))
    return out, "given"


def targets_of(targets, output: np.ndarray, dtype) -> tuple[np.ndarray, str]:
    """``(one-hot or weighting targets, origin)``; labels ``(N,)`` become one-hot, ``None`` the top class."""
    if targets is None:  # as the explainers read targets=None: one-hot of the argmax over the last axis
        return np.eye(output.shape[-1], dtype=dtype)[output.argmax(axis=-1)], "the top class of the reference's output"
    t = np.asarray(targets)
    if t.ndim == 1 and np.issubdtype(t.dtype, np.integer):
        if output.ndim != 2:
            raise ValueError(f"targets: class labels need an output of shape (N, classes), got {output.shape}")
        if len(t) != len(output):
            raise ValueError(f"targets: expected {len(output)} labels, one per input, got shape {t.shape}")
        if t.size and (t.min() < 0 or t.max() >= output.shape[1]):
            raise ValueError(f"targets: labels must lie in [0, {output.shape[1]}), got range [{t.min()}, {t.max()}]")
        return np.eye(output.shape[1], dtype=dtype)[t], "given (class labels)"
    if not np.issubdtype(t.dtype, np.number) or np.iscomplexobj(t):
        raise TypeError(f"targets: expected a real numeric array, got dtype {t.dtype}")
    if t.shape != output.shape:
        raise ValueError(f"targets: expected shape {output.shape} (the model output), or labels "
                         f"({len(output)},), got {t.shape}")
    return t.astype(dtype), "given"


def _per_input(actual, names: list) -> tuple[list, str | None]:
    """The candidate's result split into one map per model input, or an error."""
    if len(names) == 1 or actual is None:
        return [actual] * len(names), None
    if isinstance(actual, dict) and set(actual) == set(names):
        return [actual[k] for k in names], None
    if isinstance(actual, (list, tuple)) and len(actual) == len(names):
        return list(actual), None
    return [None] * len(names), f"returned {type(actual).__name__}, expected {len(names)} maps, one per input {names}"


def run_model(model, inputs=None, targets=None, fn=None, rule: str = "deconvnet", output_layer=None,
              name: str | None = None) -> Report:
    """Audit ``fn`` (``None``: refdeconv's own explainer of ``rule``) on ``model``.

    Parameters
    ----------
    model : keras.Model
        A Sequential or Functional Keras 3 model (the reference reads no other).
    inputs : array_like, or a list or tuple of them, optional
        ``(N, ...)`` inputs, one array per model input in the model's order;
        cast to the model's input dtype. Default: :data:`SAMPLES` samples
        drawn from N(0, 1) with seed :data:`SEED`.
    targets : array_like, optional
        One-hot (or any real weighting) of the output, or class labels
        ``(N,)``. Default: the one-hot of each input's top class in the
        reference's forward pass.
    fn : callable or None
        ``fn(model, inputs, targets)``: the model (cut at ``output_layer``),
        the inputs (an ndarray, or a list for several inputs) and one-hot
        targets in the model's dtype; returns the map (a list of maps for
        several inputs). ``None`` audits refdeconv's explainer of ``rule``.
    rule : {"deconvnet", "gradient", "guided"}
        The rule ``fn`` should implement.
    output_layer : str, int or None
        Layer name or index where the model is cut (as in the explainers).
    name : str, optional
        What the report calls the candidate.

    Returns
    -------
    Report
        One entry per model input; ``report.model`` says which layers the reference modelled.

    Raises
    ------
    UnsupportedModel
        The reference does not model a layer of the model (nothing is vouched for).
    ValueError, TypeError
        Bad inputs, targets, rule, ``fn`` or ``output_layer``; the message starts with its name.
    """
    fn, label = candidate(fn, rule, name)
    try:
        oracle = reference.compile(model, output_layer)  # read once, first: refuse before anything else
    except NotImplementedError as err:
        raise unsupported_model(model, err) from err
    xs, inputs_from = _inputs(model, inputs)
    names = oracle.input_names
    # a model built on a dict written out of key order takes a dict only (Keras refuses a list)
    fed = xs[0] if len(xs) == 1 else dict(zip(names, xs)) if written_order(model) else xs
    checked = oracle.inputs(fed)[0]
    output = reference_output(oracle, checked)
    y, targets_from = targets_of(targets, output, model_dtype(model))
    references = [dict(zip(RULES, maps)) for maps in zip(*oracle.maps(checked, y, RULES))]
    audited = cut(model, output_layer)
    ties = max_pool_ties(oracle, checked)
    report = Report(label, rule, model={
        "name": model.name, "format": "keras", "output_layer": output_layer, "inputs": inputs_from,
        "targets": targets_from, "near_ties": near_ties(oracle, xs, model_dtype(model)),
        "layers": modelled_layers(model, output_layer)})
    actual, error = call(fn, audited, fed, y)
    maps, split_error = _per_input(actual, names)
    for input_name, got, refs in zip(names, maps, references):
        entry_name = model.name if len(names) == 1 else f"{model.name}[{input_name}]"
        report.add(entry_name, got, refs, model_dtype(model), ties, error or split_error)
    if all(e["error"] is None for e in report.cases):
        given = [np.asarray(m, np.float64) for m in maps]
        matched = next((e["matches"] for e in report.cases if e["matches"] != "none"), rule)
        report.model["relu_rules"] = relu_rules(oracle, checked, y, given, model_dtype(model))
        report.model["seed"] = seed_fit(oracle, checked, y, given, model_dtype(model),
                                        measured_rule(report.model["relu_rules"], matched))
    return report
