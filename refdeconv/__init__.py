"""refdeconv: the reference implementation of DeconvNet (Zeiler & Fergus, 2013) for TensorFlow/Keras.

Public names: the explainers :class:`~refdeconv.explainers.methods.DeconvNet`,
:class:`~refdeconv.explainers.methods.Gradient` and
:class:`~refdeconv.explainers.methods.GuidedBackprop`; :func:`~refdeconv.projections.project`
and :class:`~refdeconv.projections.Projections` (feature projections, Zeiler & Fergus's Fig. 2);
:mod:`refdeconv.reference` (the NumPy float64 oracle); :mod:`refdeconv.testing`
(the tolerance table and checkers); ``__version__``.

They are imported on first use (PEP 562), so that ``refdeconv``'s command line
can check its arguments, and quiet TensorFlow's start-up messages, before
TensorFlow is imported.
"""

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("refdeconv")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0+unknown"

_LAZY = {"DeconvNet": "explainers", "Gradient": "explainers", "GuidedBackprop": "explainers",
         "project": "projections", "Projections": "projections", "reference": None, "testing": None}

__all__ = ["DeconvNet", "Gradient", "GuidedBackprop", "Projections", "project", "reference", "testing", "__version__"]


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(f"module 'refdeconv' has no attribute {name!r}")
    module = import_module(f".{_LAZY[name] or name}", __name__)
    value = getattr(module, name) if _LAZY[name] else module
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
