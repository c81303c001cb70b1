"""Auditing maps computed anywhere, on the user's own model (Keras or ONNX), against the oracle.

:func:`audit_maps` takes the maps a framework computed (PyTorch, JAX, TensorFlow...) for a model,
inputs and targets, in the model's own layout, and compares them with the oracle's maps of each
rule under the tolerance table, as :func:`refdeconv.conformance.model_audit.run_model` does for a
Keras candidate. The model is read once (:func:`refdeconv.reference.compile`) and asked every
question from that one reading: the forward pass, the maps of each rule, the rule each kind of
ReLU follows in the given maps (:func:`relu_rules`), the seed they fit (:func:`seed_fit`), and the
ties and near ties of the maxima.

An ONNX model's forward pass is first checked against an independent implementation of ONNX
(onnxruntime, or onnx's ``ReferenceEvaluator`` where onnxruntime cannot run the graph): a reader
that misreads the graph could vouch for a wrong map, so a mismatch raises
:class:`~refdeconv.conformance.model_audit.UnsupportedModel` before anything is compared.
"""

from __future__ import annotations

import os

import numpy as np

from .. import reference
from ..reference.onnx import is_onnx
from .audit import RULES, Report
from .maxima import max_pool_ties, near_ties
from .conventions import measured_rule, reference_output, relu_rules, seed_fit
from .model_audit import UnsupportedModel, modelled_layers, targets_of, unsupported_model
from .tolerances import map_error, tolerance

def forward_check(model, xs: list, output: np.ndarray, names: list, output_layer=None) -> str:
    """Compare the oracle's ``output`` with an independent ONNX runtime's; returns what was compared.

    onnxruntime runs the graph as written (no graph optimisation); where it cannot (it has no
    float64 ``Conv``), onnx's own ``ReferenceEvaluator`` does, held to the float32 row since some of
    its kernels compute in float32 whatever the graph's dtype. A misread graph errs by O(1) of the
    output's scale, far beyond either row.

    Raises :class:`UnsupportedModel` when they differ beyond the tolerance of the graph's dtype.
    """
    import onnx

    proto = onnx.load(os.fspath(model)) if isinstance(model, (str, os.PathLike)) else model
    if output_layer is not None:  # the cut value as the graph's one output
        proto = onnx.ModelProto.FromString(proto.SerializeToString())
        elem = proto.graph.input[0].type.tensor_type.elem_type
        del proto.graph.output[:]
        proto.graph.output.append(onnx.helper.make_tensor_value_info(output_layer, elem, None))
    dtypes = {i.name: onnx.helper.tensor_dtype_to_np_dtype(i.type.tensor_type.elem_type) for i in proto.graph.input}
    feeds = {n: x.astype(dtypes[n]) for n, x in zip(names, xs)}
    try:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # the graph as written
        session = ort.InferenceSession(proto.SerializeToString(), options, providers=["CPUExecutionProvider"])
        theirs, runtime = session.run(None, feeds)[0], f"onnxruntime {ort.__version__}"
    except Exception:  # noqa: BLE001 - onnxruntime lacks a kernel (float64 Conv...): onnx's own evaluator
        from onnx.reference import ReferenceEvaluator

        theirs, runtime = ReferenceEvaluator(proto).run(None, feeds)[0], f"onnx {onnx.__version__} ReferenceEvaluator"
    key = np.dtype(next(iter(dtypes.values()))).name
    if runtime.startswith("onnx ") and key == "float64":
        key = "float32"  # the evaluator computes Erf, Gelu, HardSwish in float32 whatever the graph's dtype
    err = float(map_error(theirs, output).max()) if np.shape(theirs) == output.shape else np.inf
    if not err <= tolerance(key):
        raise UnsupportedModel(f"the oracle's forward pass differs from {runtime}'s by {err:.3g} of the output's "
                               f"scale (tolerance {tolerance(key):g}, {key}): the graph is misread")
    return f"{runtime}: scaled error {err:.2g} (tolerance {tolerance(key):g})"


def _maps_per_input(maps, names: list, xs: list) -> list:
    """The given maps as one array per model input (a dict keyed by input name, or a list in order),
    each of its input's shape."""
    if isinstance(maps, dict):
        if set(maps) != set(names):
            raise ValueError(f"maps: expected one map per input, keyed {names}, got keys {sorted(maps)}")
        maps = [maps[n] for n in names]
    elif len(names) > 1 and not (isinstance(maps, (list, tuple)) and len(maps) == len(names)):
        raise ValueError(f"maps: the model takes {len(names)} inputs {names}: give one map per input, in order")
    maps = list(maps) if len(names) > 1 else [maps]
    out = []
    for m, x, n in zip(maps, xs, names):
        m = np.asarray(m)
        if not np.issubdtype(m.dtype, np.floating):
            raise TypeError(f"maps: expected real floating-point maps, got dtype {m.dtype}")
        if m.shape != x.shape:
            raise ValueError(f"maps: expected the shape of input {n!r}, {x.shape}, got {m.shape}")
        out.append(m)
    return out


def _layers(oracle, xs: list, model, output_layer) -> list[dict]:
    """``name`` and ``type`` of each layer (Keras) or node (ONNX) the oracle translated; an ONNX node
    that keeps its own derivative under every rule (a nonlinearity other than a ReLU) says so."""
    if not is_onnx(model):
        return modelled_layers(model, output_layer)
    return [{"name": n["name"], "type": n["type"], **({"keeps_derivative": True} if n.get("nonlinear") else {})}
            for n in oracle.run(xs)[0].nodes]


def _name(model) -> str:
    if isinstance(model, (str, os.PathLike)):
        return os.path.splitext(os.path.basename(os.fspath(model)))[0]
    return getattr(getattr(model, "graph", None), "name", None) or getattr(model, "name", "model")


def audit_maps(model, inputs, targets, maps, rule: str = "deconvnet", output_layer=None,
               name: str | None = None) -> Report:
    """Audit ``maps`` computed by any implementation on ``model``, against the oracle.

    Parameters
    ----------
    model : keras.Model, onnx.ModelProto, str or os.PathLike
        The model the maps were computed on: Keras, ONNX, or the path of a ``.onnx`` file.
    inputs : array_like, or a list or dict of them
        ``(N, ...)`` inputs in the model's layout (channels first for PyTorch's ONNX); several
        inputs as a list in the model's order or a dict keyed by input name.
    targets : array_like or None
        One-hot (or any real weighting) of the output, class labels ``(N,)``, or ``None`` for
        the top class of the oracle's output.
    maps : array_like, or a list or dict of them
        The candidate's maps, of the inputs' shapes (one per input); their dtype picks the
        tolerance (float32 maps are held to the float32 row of the table).
    rule : {"deconvnet", "gradient", "guided"}
        The rule the maps should follow.
    output_layer : str, int or None
        Where the model is cut (Keras: layer name or index; ONNX: a value name).
    name : str, optional
        What the report calls the candidate.

    Returns
    -------
    Report
        One entry per model input; ``report.model`` holds ``relu_rules`` (kind of ReLU -> the rule
        the maps follow there, measured), ``seed`` (the seed convention they fit), ``near_ties``,
        ``forward_check`` (ONNX) and the modelled ``layers`` (Keras) or nodes (ONNX).

    Raises
    ------
    UnsupportedModel
        The oracle does not model a layer or node (named), or its forward pass disagrees with
        onnxruntime's: nothing is vouched for.
    ValueError, TypeError
        Bad ``model``, ``inputs``, ``targets``, ``maps``, ``rule`` or ``output_layer``.
    """
    if rule not in RULES:
        raise ValueError(f"rule: expected one of {RULES}, got {rule!r}")
    try:
        oracle = reference.compile(model, output_layer)
        xs, _ = oracle.inputs(inputs)
        output = reference_output(oracle, xs)
    except NotImplementedError as err:
        raise unsupported_model(model, err) from err
    names = oracle.input_names
    given = _maps_per_input(maps, names, xs)
    key = given[0].dtype.name if given[0].dtype.name in ("float16", "float32", "float64") else "float32"
    y, targets_from = targets_of(targets, output, np.float64)
    checked = forward_check(model, xs, output, names, output_layer) if is_onnx(model) else None
    references = [dict(zip(RULES, per_input)) for per_input in zip(*oracle.maps(xs, y, RULES))]
    report = Report(name or "maps", rule, model={
        "name": _name(model), "format": "onnx" if is_onnx(model) else "keras", "output_layer": output_layer,
        "inputs": "given", "targets": targets_from, "forward_check": checked,
        "near_ties": near_ties(oracle, xs, key),
        "layers": _layers(oracle, xs, model, output_layer)})
    ties = max_pool_ties(oracle, xs)
    for input_name, got, refs in zip(names, given, references):
        report.add(report.model["name"] if len(names) == 1 else f"{report.model['name']}[{input_name}]",
                   got, refs, key, ties)
    if all(e["error"] is None for e in report.cases):
        matched = next((e["matches"] for e in report.cases if e["matches"] != "none"), rule)
        report.model["relu_rules"] = relu_rules(oracle, xs, y, given, key)
        report.model["seed"] = seed_fit(oracle, xs, y, given, key, measured_rule(report.model["relu_rules"], matched))
    return report
