"""The oracle: a model read once, by the reader of its format, and asked many questions.

:func:`compile` picks the reader (Keras or ONNX) and returns an :class:`Oracle`, which holds the
compiled :class:`~refdeconv.reference.program.Program` (an ONNX graph's program is traced on the
first sample of each input shape and kept) and answers the forward pass, the maps under any rule
(or one rule per kind of ReLU), and the values of every step (for the tie checks), without reading
the model again.
"""

from __future__ import annotations

import hashlib

import numpy as np

from .rules import RULES, check_rule


def _one_input(x, expected, name: str) -> np.ndarray:
    x = np.asarray(x)
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == bool) or np.iscomplexobj(x):
        raise TypeError(f"{name}: expected a real numeric array, got dtype {x.dtype}")
    x = x.astype(np.float64)
    if x.ndim != len(expected) or any(e is not None and e != s for e, s in zip(expected[1:], x.shape[1:])):
        raise ValueError(f"{name}: expected shape {tuple(expected)} (None = any), got {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError(f"{name}: contains NaN or Inf")
    return x


def seed(targets, output: np.ndarray) -> np.ndarray:
    """The backward seed at the output: ``targets`` (labels ``(N,)`` mean their one-hot) as float64."""
    t = np.asarray(targets)
    if t.ndim == 1 and np.issubdtype(t.dtype, np.integer):
        classes = output.shape[-1]
        if output.ndim != 2:
            raise ValueError(f"targets: class labels need an output of shape (N, classes), got {output.shape}")
        if t.size and (t.min() < 0 or t.max() >= classes):
            raise ValueError(f"targets: labels must lie in [0, {classes}), got range [{t.min()}, {t.max()}]")
        t = np.eye(classes)[t]
    if not np.issubdtype(t.dtype, np.number) or np.iscomplexobj(t):
        raise TypeError(f"targets: expected a real numeric array, got dtype {t.dtype}")
    if t.shape != output.shape:
        raise ValueError(f"targets: expected shape {output.shape} (the model output), got {t.shape}")
    t = t.astype(np.float64)
    if not np.isfinite(t).all():
        raise ValueError("targets: contains NaN or Inf")
    return t


class PerSample:
    """A program traced on one sample, run on each sample of a batch in turn (for a graph whose
    batch is fixed at 1); its values and maps are the samples' stacked on the batch axis."""

    def __init__(self, program):
        self.program, self.output, self.steps, self.nodes = program, program.output, program.steps, program.nodes
        self.input_shapes = program.input_shapes

    def forward(self, xs: list) -> list:
        """Every value, each sample's stacked."""
        runs = [self.program.forward([x[i : i + 1] for x in xs]) for i in range(len(xs[0]))]
        return [np.concatenate(v) for v in zip(*runs)]

    def backward(self, values: list, seed: np.ndarray, rule) -> list:
        """Each sample's reverse pass, stacked."""
        runs = [self.program.backward([v[i : i + 1] for v in values], seed[i : i + 1], rule) for i in range(len(seed))]
        return [np.concatenate(g) for g in zip(*runs)]


class Oracle:
    """A model compiled once for the reference (see :func:`compile`).

    Attributes
    ----------
    input_names : list of str
        The model's inputs, in its order.
    input_shapes : list of tuple
        Their declared shapes (``None`` for a free axis; the batch axis is always free).
    relu_kinds : list of str
        The kinds of ReLU in the model, each of which a rule dict may name.
    """

    def __init__(self, model, output_layer=None):
        from .onnx import OnnxSource, is_onnx

        self._last = None  # (inputs' key, (program, values)) of the last forward pass: see run
        if is_onnx(model):
            self._onnx = OnnxSource(model, output_layer)
            self.input_names, self.input_shapes = self._onnx.input_names, self._onnx.input_shapes
            self.relu_kinds, self._written, self._program = self._onnx.relu_kinds(), None, None
            return
        from ..keras_model import written_order
        from .graph import compile_model

        self._onnx = None
        self._program = compile_model(model, output_layer)
        self.input_names = [t.name for t in model.inputs]
        self.input_shapes = self._program.input_shapes
        self.relu_kinds, self._written = self._program.relu_kinds(), written_order(model)

    def inputs(self, inputs):
        """``(xs, pack)``: one checked float64 array per input, and ``pack(maps)`` -> the structure given.

        Raises
        ------
        ValueError, TypeError
            Inputs of the wrong number, structure, shape or dtype, or with NaN or Inf (the message
            starts with ``inputs``).
        """
        from ..keras_model import split_inputs

        if len(self.input_names) == 1 and not isinstance(inputs, dict):  # a dict is keyed by input name
            return [_one_input(inputs, self.input_shapes[0], "inputs")], lambda maps: maps[0]
        xs, pack = split_inputs(inputs, self.input_names, self._written)
        xs = [_one_input(x, s, f"inputs[{n!r}]") for x, s, n in zip(xs, self.input_shapes, self.input_names)]
        if len({len(x) for x in xs}) > 1:
            raise ValueError(f"inputs: every input must have the same number of samples, got {[len(x) for x in xs]}")
        return xs, pack

    def run(self, xs: list):
        """``(program, values)``: the compiled program and every value of its forward pass on ``xs``.

        An ONNX graph is traced for the shapes of ``xs``; one whose batch is fixed at 1 (PyTorch's
        exporter without dynamic axes) runs sample by sample (:class:`PerSample`). The last forward
        pass is kept, keyed by the inputs' shapes, dtypes and a digest of their bytes, so the
        questions an audit asks of the same inputs (each rule's maps, the rule per kind, the seeds,
        the ties) share one forward pass, and inputs changed in place get a new one.
        """
        key = tuple((x.shape, x.dtype.str, hashlib.blake2b(np.ascontiguousarray(x).tobytes(), digest_size=16).digest())
                    for x in xs)
        if self._last is None or self._last[0] != key:
            self._last = (key, self._run(xs))
        return self._last[1]

    def _run(self, xs: list):
        program = self._program
        if program is None:
            batch, n = self._onnx.batch, len(xs[0])
            if batch is not None and n != batch and batch != 1:
                raise ValueError(f"inputs: the graph's batch is fixed at {batch} samples, got {n}")
            if batch != 1 or n == 1:
                return self._onnx.run(xs)  # the first call's trace is its forward pass
            program = PerSample(self._onnx.program([x[:1] for x in xs]))
        return program, program.forward(xs)

    def forward(self, inputs) -> np.ndarray:
        """The output on ``inputs``, float64."""
        program, values = self.run(self.inputs(inputs)[0])
        return values[program.output]

    def rules(self, rule) -> str | dict:
        """``rule`` checked: a rule name, or a dict giving every kind of ReLU of the model its rule."""
        if not isinstance(rule, dict):
            return check_rule(rule)
        if set(rule) != set(self.relu_kinds):
            raise ValueError(f"rule: a dict must give each kind of ReLU of the model {self.relu_kinds} a rule, "
                             f"got {sorted(rule)}")
        return {kind: check_rule(r) for kind, r in rule.items()}

    def attribution(self, inputs, targets, rule="deconvnet"):
        """Maps of ``inputs`` for ``targets`` under ``rule`` (see :func:`refdeconv.reference.attribution`)."""
        rule = self.rules(rule)
        xs, pack = self.inputs(inputs)
        program, values = self.run(xs)
        return pack(program.backward(values, seed(targets, values[program.output]), rule))

    def maps(self, xs: list, y: np.ndarray, rules) -> list:
        """One list of maps (one per input) per entry of ``rules``, from one forward pass on checked ``xs``."""
        program, values = self.run(xs)
        t = seed(y, values[program.output])
        return [program.backward(values, t, self.rules(r)) for r in rules]


def compile(model, output_layer=None) -> Oracle:  # noqa: A001 - the reference's own verb, as re.compile
    """Read ``model`` once (cut at ``output_layer``) into an :class:`Oracle`.

    Parameters
    ----------
    model : keras.Model, onnx.ModelProto, str or os.PathLike
        A Keras 3 ``Sequential`` or ``Functional`` model, an ONNX model, or the path of a
        ``.onnx`` file.
    output_layer : str, int or None
        Keras: a layer name or index; ONNX: the name of a value of the graph; ``None``: the
        model's output.

    Returns
    -------
    Oracle

    Raises
    ------
    TypeError
        ``model`` is none of these.
    NotImplementedError
        A layer or node the reference does not model (named, with its type).
    ValueError
        An unreadable or invalid file, or a bad ``output_layer``.
    """
    import keras

    from .onnx import is_onnx

    if not is_onnx(model) and not isinstance(model, keras.Model):
        raise TypeError("model: expected a Keras 3 model, an onnx.ModelProto or the path of a .onnx file, "
                        f"got {type(model).__name__}")
    return Oracle(model, output_layer)


__all__ = ["RULES", "Oracle", "compile", "seed"]
