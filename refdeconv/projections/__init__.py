"""Feature projections, DeconvNet's original use (Zeiler & Fergus 2013, Fig. 2).

For a layer and some of its feature maps (channels): the strongest activations over a set of
inputs, each projected alone back to pixel space, beside the input patch it came from.

- :func:`project` computes them (with refdeconv's TensorFlow explainers) and returns
  :class:`Projections`;
- :mod:`~refdeconv.projections.fields` works out each unit's receptive field;
- :mod:`~refdeconv.projections.figure` draws the paper's layout (matplotlib, optional).

``refdeconv.project`` and ``refdeconv.Projections`` are the same names.
"""

from .projecting import project
from .results import Projections

__all__ = ["Projections", "project"]
