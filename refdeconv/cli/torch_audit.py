"""``refdeconv audit-torch``: audit a PyTorch implementation on the user's own ``nn.Module``.

::

    refdeconv audit-torch --module MODULE:FACTORY --inputs X.npy [--inputs ...] [--targets T.npy]
                          --candidate captum.deconvolution|captum.guided_backprop|zennit.deconvnet|
                                      zennit.guided_backprop|MODULE:CALLABLE
                          [--rule RULE] [--dynamo] [--out DIR]

It calls :func:`refdeconv.conformance.pytorch.audit` (export to ONNX, run the candidate, compare with the
NumPy reference) and writes the report as ``refdeconv audit`` does. Exit codes as ``audit``:
0 pass, 1 fail (or the candidate raised), 2 usage error or bad input (one line), 3 the reference
does not model an op of the exported graph.
"""

from __future__ import annotations

import argparse
import os
import sys

from . import commands
from .reporting import finish

EXIT_CODES = """exit codes:
  0  every input's map matches the asked rule
  1  a map does not (the report says which rule it matches instead), or the candidate raised
  2  usage error or bad input (no PyTorch, a bad file, shapes, --module or --candidate), one line
  3  the NumPy reference does not model an op of the exported graph (named on stderr):
     the audit cannot vouch for the map"""


def add_parser(sub) -> None:
    """Register ``audit-torch`` on an ``argparse`` subparsers object."""
    from .reporting import DEFAULT_OUT, RULE_NAMES

    p = sub.add_parser("audit-torch", help="audit a PyTorch implementation (Captum, zennit, yours) on your nn.Module",
                       description="Export the module to ONNX, run the candidate on it and compare its maps with "
                                   "the NumPy reference's on the exported graph.",
                       epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--module", required=True, metavar="MODULE:FACTORY",
                   help="an nn.Module, or a callable returning one (called without arguments); MODULE is imported "
                        "with the current directory on sys.path")
    p.add_argument("--inputs", required=True, action="append", metavar="X.npy",
                   help="inputs (N, ...) in the module's layout (NCHW for images), once per forward argument, in order")
    p.add_argument("--targets", metavar="T.npy",
                   help="one-hot or weighting (N, classes), or labels (N,) (default: the module's top class)")
    p.add_argument("--candidate", required=True, metavar="NAME|MODULE:CALLABLE",
                   help="captum.deconvolution, captum.guided_backprop, zennit.deconvnet, zennit.guided_backprop, "
                        "or fn(module, inputs, targets) -> maps")
    p.add_argument("--rule", choices=RULE_NAMES, default="deconvnet",
                   help="the rule the candidate should follow (default: deconvnet)")
    p.add_argument("--dynamo", action="store_true", help="export with torch.export (dynamo=True)")
    p.add_argument("--out", default=DEFAULT_OUT, metavar="DIR",
                   help=f"where report.json, report.md and report.png go (default: ./{DEFAULT_OUT})")
    p.set_defaults(run=run)


def _module(spec: str):
    """The ``nn.Module`` named by ``--module``: the attribute itself, or what calling it returns."""
    import torch

    from ..conformance.audit import load_candidate

    try:
        target = load_candidate(spec)
    except (ValueError, TypeError) as err:
        raise commands.UsageError(f"--module{str(err).removeprefix('candidate')}") from None
    module = target if isinstance(target, torch.nn.Module) else target()
    if not isinstance(module, torch.nn.Module):
        raise commands.UsageError(f"--module: {spec} returned a {type(module).__name__}, not a torch.nn.Module")
    return module


def run(args) -> int:
    """The ``audit-torch`` handler; returns the exit code."""
    try:
        import torch  # noqa: F401
    except ImportError:
        raise commands.UsageError("PyTorch is not installed: pip install torch onnx (and captum or zennit "
                                  "for their candidates)") from None
    from ..conformance import pytorch
    from ..conformance.model_audit import UnsupportedModel
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    module = _module(args.module)
    xs = [commands.load_array(path, "--inputs") for path in args.inputs]
    targets = None if args.targets is None else commands.load_array(args.targets, "--targets")
    try:
        report = pytorch.audit(module, xs[0] if len(xs) == 1 else xs, targets, args.candidate, args.rule,
                               dynamo=args.dynamo)
    except UnsupportedModel as err:
        print(f"refdeconv audit-torch: unsupported: {err} (exit 3)", file=sys.stderr)
        return 3
    except pytorch.CandidateError as err:
        print(f"refdeconv audit-torch: FAIL: the candidate {args.candidate} raised {err}", file=sys.stderr)
        return 1
    except (ValueError, TypeError) as err:
        raise commands.option_error(err, ("inputs", "targets", "candidate", "module")) from None
    return finish(report, args.out)
