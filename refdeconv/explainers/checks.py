"""What ``explain`` checks and says around the maps, as a mixin of the explainer class.

Before a batch: its inputs against the model's inputs, its targets against the model's output,
or against several outputs (:func:`.signature.check_targets`). While tracing and running: the
record of rules and its warnings, a failure told as the operator's or the model's, and an
operator that fails on a batch smaller than ``batch_size`` told so. After the call: one warning
saying how many maps have NaN or Inf (the inputs are checked finite, so the computation overflowed,
as a float16 model may).
"""

from __future__ import annotations

import os
import sys
import warnings

import numpy as np
import tensorflow as tf

from . import built, operators
from . import inputs as io
from . import scores, traced
from .signature import check_operator, check_targets, describe

_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # refdeconv/


class Checks:
    """The checks of :class:`~refdeconv.explainers.explainer.Explainer`; they read its ``model``,
    ``output_layer``, ``operator``, ``rule``, ``batch_size``, ``strategy`` and signature."""

    _nonfinite = 0  # maps with NaN or Inf in this explain call so far

    def _checked(self, xs: list, targets, offset: int = 0):
        """``(xs, y)`` validated: each input against the model, targets against the output (``y`` may be None).

        ``offset`` numbers the samples of a streamed batch in error messages.
        """
        names = [f"inputs[{name!r}]" for name in self._sig.names] if self._sig.several else ["inputs"]
        xs = [io.as_array(x, name) for x, name in zip(xs, names)]
        for x, name, shape in zip(xs, names, self._sig.shapes):
            io.check_inputs(x, shape, name)
            io.check_finite(x, name, offset)
        counts = {int(x.shape[0]) for x in xs}
        if len(counts) > 1:
            raise ValueError(f"inputs: every input must have the same number of samples, got {[x.shape[0] for x in xs]}")
        # An unbuilt model: its output shape from a trial build on a clone, so that every check
        # runs before the model itself is built (as Keras would); a failed check leaves it unbuilt.
        unbuilt = built.trial(self.model, xs[0].shape[1:]) if self._sig.shapes[0] is None and xs[0].shape[0] else None
        output = unbuilt or self._output(xs)
        if targets is not None:
            targets = io.as_array(targets, "targets")
        check_targets(self._sig, targets)  # several outputs: explicit targets, not labels
        if targets is not None:
            strict = operators.is_builtin(self.operator)
            targets = io.targets_for(targets, int(xs[0].shape[0]), output, strict, offset)
        if unbuilt is not None:
            built.build(self.model, xs[0].shape[1:])
            self._refresh()
        return xs, targets

    def _output(self, xs):
        """The output shape, from the graph, or (subclassed) from a one-sample forward pass; a built-in
        operator refused for a model of several outputs."""
        if self._sig.output_shape is None and self._sig.outputs is None and xs[0].shape[0]:
            forward = traced.forward_of(self.model, self.output_layer, self._version)
            first = [tf.cast(x[:1], self._dtype_of(i)) for i, x in enumerate(xs)]
            out = forward(self._sig.model_inputs(first), training=False)
            if tf.is_tensor(out):
                self._sig.output_shape = (None, *out.shape[1:])
            else:  # a dict, list or tuple of outputs
                self._sig.outputs = describe(out)
        self._check_operator()
        return self._sig.output_shape

    def _check_operator(self) -> None:
        """A built-in operator refused for a model of several outputs (see :func:`.signature.check_operator`)."""
        check_operator(self._sig, operators.is_builtin(self.operator), getattr(self.operator, "__name__", "?"))

    def _failed(self, err: tf.errors.InvalidArgumentError, x_specs: list) -> ValueError:
        """The error for a batch whose traced function failed at run time: the operator's or the model's."""
        return scores.run_time_error(err, [tuple(spec.shape) for spec in x_specs])

    def _small_batch(self, err: Exception, n: int) -> Exception:
        """``err``, an operator's failure to trace on a batch of ``n``, told that the batch is smaller than
        ``batch_size`` when it is (the last one of a call, or a call of fewer inputs)."""
        if not (str(err).startswith("operator:") and self.strategy is None and self.batch_size and n < self.batch_size):
            return err
        return type(err)(f"{err} [on a batch of {n} inputs, fewer than batch_size={self.batch_size} (the last batch "
                         "of the call): an operator must work for any batch size]")

    def _count_nonfinite(self, maps: list) -> None:
        """Count the samples of a batch whose maps (any of its inputs') have NaN or Inf."""
        if maps and len(maps[0]):
            bad = np.zeros(len(maps[0]), bool)
            for m in maps:
                bad |= ~np.isfinite(m).reshape(len(m), -1).all(axis=1)
            self._nonfinite += int(bad.sum())

    def _warn_nonfinite(self, n: int) -> None:
        """Warn, once for the call, how many of its ``n`` maps have NaN or Inf; start counting anew."""
        if self._nonfinite:
            _warn(f"{type(self).__name__}: {self._nonfinite} of {n} maps have NaN or Inf values although the inputs "
                  f"and targets are finite: the computation overflowed (in {self.dtype}?); compare with the model "
                  "in float32 or float64", RuntimeWarning)
        self._nonfinite = 0

    def _note(self, record: list) -> None:
        """Keep the record; warn once about non-ReLUs, ReLUs the rule did not reach, ReLU-free models."""
        self.rules_applied = list(record)
        if self._warned or self.rule == "gradient":
            return
        self._warned = True
        name = type(self).__name__
        others = sorted({e["type"] for e in record if e["rule"] == "gradient"})
        if others:
            _warn(f"{name}: non-ReLU nonlinearities keep their ordinary gradient: {', '.join(others)}")
        missed = [e["op"] for e in record if e["rule"] == "not reached"]
        if missed:
            _warn(f"{name}: {len(missed)} ReLU(s) whose own gradient TensorFlow never builds (e.g. under a "
                  f"tf.custom_gradient) did not get the {self.rule} rule: {', '.join(missed)}")
        if not any(e["rule"] in (self.rule, "not reached") for e in record):
            _warn(f"{name}: the model has no ReLU, so {self.rule} equals the plain gradient here")


def _warn(message: str, category=UserWarning) -> None:
    """``warnings.warn`` at the user's line: the first caller outside refdeconv (however deep the call)."""
    frame, level = sys._getframe(1), 2  # noqa: SLF001 - Python 3.10 has no warn(skip_file_prefixes=...)
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE + os.sep):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)
