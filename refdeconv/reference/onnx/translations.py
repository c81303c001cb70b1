"""The op types the ONNX reader models: op type -> ``translation(node)`` (see
:mod:`refdeconv.reference.onnx.nodes`), gathered from the families of operations."""

from __future__ import annotations

from . import arithmetic, elementwise, shaping, windowed

#: Op type -> ``translation(node) -> [(operation, input positions), ...]`` (one pair per output).
TRANSLATIONS = {**arithmetic.TRANSLATIONS, **elementwise.TRANSLATIONS, **shaping.TRANSLATIONS, **windowed.TRANSLATIONS}
