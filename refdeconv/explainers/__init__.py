"""The TensorFlow implementation: the explainers and everything behind ``explain``.

:mod:`~refdeconv.explainers.methods` (the explainer classes) on
:mod:`~refdeconv.explainers.explainer` (the base: the seed API),
:mod:`~refdeconv.explainers.rules` (the three ReLU rules and the override that installs them),
:mod:`~refdeconv.explainers.traced` (traced functions and their cache),
:mod:`~refdeconv.explainers.frontier` and :mod:`~refdeconv.explainers.signals` (the per-target
cache above the last switch), :mod:`~refdeconv.explainers.distributed` (``tf.distribute``),
:mod:`~refdeconv.explainers.inputs` (inputs and targets), :mod:`~refdeconv.explainers.datasets`
(Datasets streamed in batches of one shape), :mod:`~refdeconv.explainers.operators`,
:mod:`~refdeconv.explainers.outputs` (maps assembled in place) and
:mod:`~refdeconv.explainers.models` (the model as the explainers see it: dtype, the cut).
It never imports :mod:`refdeconv.reference`: the two meet only in :mod:`refdeconv.conformance`.
"""

from .methods import DeconvNet, Explainer, Gradient, GuidedBackprop

__all__ = ["DeconvNet", "Explainer", "Gradient", "GuidedBackprop"]
