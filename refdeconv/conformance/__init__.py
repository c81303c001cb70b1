"""The comparison: where the TensorFlow explainers and the NumPy reference meet.

:mod:`~refdeconv.conformance.tolerances` (the tolerance table), :mod:`~refdeconv.conformance.networks`
(the vectors' layer vocabulary), :mod:`~refdeconv.conformance.cases` (the built-in suite),
:mod:`~refdeconv.conformance.audit` (a candidate against the reference, case by case),
:mod:`~refdeconv.conformance.model_audit` (the same on the user's own model),
:mod:`~refdeconv.conformance.map_audit` (maps computed by any framework, on a Keras or ONNX model),
:mod:`~refdeconv.conformance.conventions` (the rule at each kind of ReLU and the seed, measured),
:mod:`~refdeconv.conformance.pytorch` (a PyTorch implementation on the user's module, in one call;
the ``torch`` extra),
:mod:`~refdeconv.conformance.vectors` (framework-neutral test vectors) and
:mod:`~refdeconv.conformance.report` (the table, ``report.json/md/png``). The public face of
this package is :mod:`refdeconv.testing`; it never imports the command line.
"""
