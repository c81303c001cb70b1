"""The peers' DeconvNet and Guided Backprop, each called with its own seed convention handled.

A candidate is ``fn(module, inputs, targets) -> maps``: ``module`` a ``torch.nn.Module`` in eval
mode, ``inputs`` a tuple of fresh tensors (one per ``forward`` argument, in the module's dtype),
``targets`` a tensor of the output's shape: the one-hot rows (or any real weighting) ``y`` of the
score ``s = sum_k f_k y_k`` whose map refdeconv computes (docs/method.md, "The score"). It returns a
tensor or array of the input's shape (a tuple of them for several inputs).

How each peer is told the score:

- Captum 0.9 (``Deconvolution``, ``GuidedBackprop``) takes a class index ``target`` and seeds the
  backward pass with 1 there. One-hot rows are passed as their labels, exactly as a user would;
  any other weighting is passed by attributing the score itself: a wrapper module whose output is
  ``sum_k f_k y_k`` (one column), with ``target=0``. Captum hooks ``nn.ReLU`` modules only.
- zennit 0.5 (``DeconvNet``, ``GuidedBackprop`` composites) takes no target: it takes the gradient
  of the output (its ``attr_output``), and without one seeds with the whole output vector. The
  targets ``y`` are that gradient (``d s / d f = y``), given to ``torch.autograd.grad`` inside the
  composite's context, which is what zennit's ``Gradient`` attributor does. zennit hooks
  ``nn.ReLU`` modules only.

zennit 0.5 imports ``torchvision`` when it is imported (for its ResNet canonizers). Where
torchvision cannot be imported (not installed, or a build that does not load against this torch:
``operator torchvision::nms does not exist``), :func:`zennit_composites` installs, for zennit's
import only, a stand-in ``torchvision.models.resnet`` holding the two classes zennit names
(``BasicBlock``, ``Bottleneck``) and removes it again: zennit's ResNet canonizers then match no
module, as they would match none of a process that has no torchvision. The DeconvNet and Guided
Backprop composites use no canonizer.
"""

from __future__ import annotations

import sys
import types

#: The names :func:`resolve` accepts, and the peers they run.
PEERS = {"captum.deconvolution": "Captum 0.9 Deconvolution", "captum.guided_backprop": "Captum 0.9 GuidedBackprop",
         "zennit.deconvnet": "zennit 0.5 DeconvNet composite",
         "zennit.guided_backprop": "zennit 0.5 GuidedBackprop composite"}


def _one_hot_labels(targets):
    """The labels ``(N,)`` of one-hot rows, or ``None`` where ``targets`` are not one-hot rows."""
    if targets.dim() != 2:
        return None
    ones, zeros = targets == 1, targets == 0
    if bool((ones | zeros).all()) and bool((ones.sum(dim=1) == 1).all()):
        return targets.argmax(dim=1)
    return None


def _scored(module, targets):
    """A module whose output is the score ``sum_k f_k y_k`` of each sample, shape ``(N, 1)``."""
    import torch

    class Scored(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.module = module

        def forward(self, *xs):
            return (self.module(*xs) * targets).flatten(1).sum(dim=1, keepdim=True)

    return Scored()


def _captum(method_name: str):
    def fn(module, inputs, targets):
        import captum.attr

        labels = _one_hot_labels(targets)
        model, target = (module, labels) if labels is not None else (_scored(module, targets), 0)
        maps = getattr(captum.attr, method_name)(model).attribute(inputs, target=target)
        return maps[0] if len(inputs) == 1 else maps

    fn.__name__ = fn.__qualname__ = f"captum_{method_name}"
    fn.__doc__ = f"Captum's ``{method_name}``: one-hot targets as labels, another weighting as the score's module."
    return fn


captum_deconvolution = _captum("Deconvolution")
captum_guided_backprop = _captum("GuidedBackprop")


def zennit_composites() -> types.ModuleType:
    """``zennit.composites``, imported with a stand-in ``torchvision`` where the real one cannot be imported.

    The stand-in (``torchvision``, ``torchvision.models``, ``torchvision.models.resnet`` with classes
    ``BasicBlock`` and ``Bottleneck`` that nothing instantiates) is in ``sys.modules`` only while
    zennit is imported; a later ``import torchvision`` behaves as it did before.

    Raises
    ------
    ImportError
        zennit is not installed.
    """
    if "zennit.composites" in sys.modules:
        return sys.modules["zennit.composites"]
    import torch

    try:
        import torchvision  # noqa: F401  (zennit needs it at import time)
    except (ImportError, RuntimeError):
        for name in [n for n in sys.modules if n == "torchvision" or n.startswith("torchvision.")]:
            del sys.modules[name]  # a build that failed to load leaves half-imported submodules
        stand_in = {name: types.ModuleType(name) for name in
                    ("torchvision", "torchvision.models", "torchvision.models.resnet")}
        for block in ("BasicBlock", "Bottleneck"):
            setattr(stand_in["torchvision.models.resnet"], block,
                    type(block, (torch.nn.Module,), {"__doc__": "refdeconv's stand-in: torchvision did not import"}))
        sys.modules.update(stand_in)
        try:
            import zennit.composites
        finally:
            for name in stand_in:
                del sys.modules[name]
    else:
        import zennit.composites
    return zennit.composites


def _zennit(composite_name: str):
    def fn(module, inputs, targets):
        import torch

        composite = getattr(zennit_composites(), composite_name)()
        inputs = tuple(x.requires_grad_() for x in inputs)
        with composite.context(module) as modified:
            maps = torch.autograd.grad(modified(*inputs), inputs, grad_outputs=targets)
        return maps[0] if len(inputs) == 1 else maps

    fn.__name__ = fn.__qualname__ = f"zennit_{composite_name.lower()}"
    fn.__doc__ = f"zennit's ``{composite_name}`` composite, the targets given as the output gradient."
    return fn


zennit_deconvnet = _zennit("DeconvNet")
zennit_guided_backprop = _zennit("GuidedBackprop")

_BY_NAME = {"captum.deconvolution": captum_deconvolution, "captum.guided_backprop": captum_guided_backprop,
            "zennit.deconvnet": zennit_deconvnet, "zennit.guided_backprop": zennit_guided_backprop}


def resolve(candidate, name: str | None = None):
    """``(fn, label)`` for a peer's name in :data:`PEERS`, a ``"MODULE:CALLABLE"`` string or a callable.

    Raises
    ------
    ValueError
        ``candidate`` is a string that names no peer and no importable ``MODULE:CALLABLE``.
    TypeError
        ``candidate`` is neither a string nor a callable.
    """
    if isinstance(candidate, str):
        if candidate in _BY_NAME:
            return _BY_NAME[candidate], name or PEERS[candidate]
        if ":" not in candidate:
            raise ValueError(f"candidate: expected one of {sorted(PEERS)} or MODULE:CALLABLE, got {candidate!r}")
        from ..audit import load_candidate

        return load_candidate(candidate), name or candidate
    if not callable(candidate):
        raise TypeError(f"candidate: expected a peer's name or a callable fn(module, inputs, targets), "
                        f"got {type(candidate).__name__}")
    return candidate, name or getattr(candidate, "__qualname__", repr(candidate))
