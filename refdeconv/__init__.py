"""refdeconv: the reference implementation of DeconvNet (Zeiler & Fergus, 2013) for TensorFlow/Keras.

Public names: the explainers :class:`DeconvNet`, :class:`Gradient` and
:class:`GuidedBackprop`; :mod:`refdeconv.reference` (the NumPy float64 oracle);
:mod:`refdeconv.testing` (the tolerance table and checkers); ``__version__``.
"""

from importlib.metadata import PackageNotFoundError, version

from . import reference, testing
from .methods import DeconvNet, Gradient, GuidedBackprop

try:
    __version__ = version("refdeconv")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0+unknown"

__all__ = ["DeconvNet", "Gradient", "GuidedBackprop", "reference", "testing", "__version__"]
