"""PyTorch in one call: export a module to ONNX, run a peer's (or any) implementation, audit its maps.

Optional: needs ``torch`` and ``onnx`` (Captum and zennit for their candidates), imported only when a
function runs. Never imported by :mod:`refdeconv.explainers` or :mod:`refdeconv.reference`.

- :func:`export`: ``torch.onnx.export`` in eval mode, dynamic batch axis, the module left unchanged.
- :func:`audit`: export, run the candidate, compare with the NumPy reference
  (:func:`refdeconv.conformance.map_audit.audit_maps`).
- :data:`PEERS`: the candidates by name (Captum's and zennit's DeconvNet and Guided Backprop), each
  seeded by its own convention (:mod:`refdeconv.conformance.pytorch.candidates`).
"""

from .auditing import CandidateError, audit
from .candidates import PEERS
from .exporting import export

__all__ = ["PEERS", "CandidateError", "audit", "export"]
