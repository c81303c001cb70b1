"""What :func:`refdeconv.project` returns: the top units of each feature and their projections."""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np


@dataclass(eq=False)  # arrays: equality is identity (a field-wise == of arrays is ambiguous)
class Projections:
    """The top-``k`` activations of ``F`` feature maps of one layer, each projected to the input.

    Shapes: ``F`` features, ``k`` units each, ``S`` spatial axes of the layer (1 for
    ``(N, T, C)``, 2 for ``(N, H, W, C)``, 3 for ``(N, D, H, W, C)``), and ``input_shape`` the
    model input's shape per sample.

    Attributes
    ----------
    layer : str
        The layer's name.
    rule : str
        ``"deconvnet"``, ``"guided"`` or ``"gradient"``.
    features : numpy.ndarray of int64
        ``(F,)``: the channels, in the order asked.
    samples : numpy.ndarray of int64
        ``(F, k)``: the input each unit belongs to (an index into the inputs given).
    positions : numpy.ndarray of int64
        ``(F, k, S)``: each unit's spatial index in the layer's output.
    values : numpy.ndarray
        ``(F, k)``: each unit's activation (the layer's output, in the model's dtype), descending
        along ``k``; ties in first-occurrence order (see :func:`refdeconv.project`).
    maps : numpy.ndarray
        ``(F, k, *input_shape)``: each unit's projection, in the model's dtype.
    inputs : numpy.ndarray
        ``(F, k, *input_shape)``: the input sample of each unit.
    patches : numpy.ndarray of int64
        ``(F, k, S, 2)``: per spatial axis, ``(start, stop)`` of the input pixels the unit can
        depend on (its receptive field), stop exclusive, clipped to the input.
    field_note : str or None
        ``None`` where the receptive-field arithmetic covered every layer on the way; else why
        ``patches`` are the whole input.
    """

    layer: str
    rule: str
    features: np.ndarray
    samples: np.ndarray
    positions: np.ndarray
    values: np.ndarray
    maps: np.ndarray
    inputs: np.ndarray
    patches: np.ndarray
    field_note: str | None = None

    def patch(self, i: int, j: int) -> np.ndarray:
        """The input patch of unit ``j`` of feature ``i`` (``inputs[i, j]`` cropped at ``patches[i, j]``)."""
        return self.inputs[i, j][tuple(slice(int(a), int(b)) for a, b in self.patches[i, j])]

    def save(self, path) -> None:
        """Write every attribute to an ``.npz`` archive at ``path`` (strings as 0-d arrays; a
        missing ``field_note`` as ``""``); :meth:`load` reads it back."""
        arrays = {f.name: getattr(self, f.name) for f in fields(self)}
        arrays["field_note"] = arrays["field_note"] or ""
        np.savez(path, **{k: np.asarray(v) for k, v in arrays.items()})

    @classmethod
    def load(cls, path) -> Projections:
        """The :class:`Projections` that :meth:`save` wrote to ``path`` (no pickles)."""
        with np.load(path, allow_pickle=False) as data:
            values = {f.name: data[f.name] for f in fields(cls)}
        for name in ("layer", "rule", "field_note"):
            values[name] = str(values[name])
        values["field_note"] = values["field_note"] or None
        return cls(**values)
