"""The ``refdeconv`` command line (also ``python -m refdeconv``).

Subcommands::

    refdeconv audit [--candidate MODULE:CALLABLE] [--rule RULE] [--case PATTERN ...] [--out DIR]
    refdeconv audit --model FILE.keras [--inputs X.npy ...] [--targets T.npy] [--candidate MODULE:CALLABLE]
                    [--rule RULE] [--output-layer NAME] [--unsafe] [--out DIR]
    refdeconv audit --model FILE.onnx|FILE.keras --inputs X.npy|X.npz --maps MAPS.npy|MAPS.npz
                    [--targets T.npy] [--rule RULE] [--output-layer NAME] [--out DIR]
    refdeconv audit-torch --module MODULE:FACTORY --inputs X.npy [--targets T.npy] --candidate NAME|MODULE:CALLABLE
                          [--rule RULE] [--out DIR]
    refdeconv vectors export DIR
    refdeconv vectors check DIR MAPS.npz [--rule RULE] [--out DIR]
    refdeconv project --model FILE.keras --inputs X.npy --layer NAME [--features 0,3,7] [--top-k K] [--rule RULE]
                      [--unsafe] --out DIR
    refdeconv reproduce --out DIR [--quick] [--study KEY ...]

``audit`` and ``vectors check`` print a table (progress on stderr), write
``report.json``, ``report.md`` and ``report.png`` to ``--out`` (default
``./refdeconv-audit``). Exit codes: 0 every case (or map) passes, 1 one
fails, 2 usage error or malformed input, 3 (``audit --model``) the NumPy
reference does not model a layer (or ONNX node) of the model, or misreads an ONNX
graph (its forward pass differs from onnxruntime's), so nothing is vouched for. Each subcommand is a function that
adds its parser to the subparsers and sets its handler with
``set_defaults(run=handler)``, the handler returning the exit code; a new
subcommand is one more such function in :data:`PARSERS`.
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import sys
import warnings

from . import commands, maps, project, reproduce, torch_audit
from .reporting import add_report_options as _add_report_options
from .reporting import finish as _finish



def _progress(i: int, total: int, name: str) -> None:
    tty = sys.stderr.isatty()
    line = f"[{i + 1:>{len(str(total))}}/{total}] {name}"
    print(f"\r\x1b[K{line}" if tty else line, end="" if tty else "\n", file=sys.stderr, flush=True)
    if tty and i + 1 == total:
        print(file=sys.stderr)




EXIT_CODES = """exit codes:
  0  every case (with --model: every input's map) matches the asked rule
  1  some case does not (the report says which rule it matches instead)
  2  usage error or malformed input (bad file, bad shapes)
  3  with --model: the NumPy reference does not model a layer or ONNX node of the model (named
     on stderr), or an ONNX graph's forward pass differs from onnxruntime's; the audit cannot
     vouch for the map"""
_MODEL_ONLY = ("inputs", "targets", "output_layer", "unsafe", "maps")


def _audit_parser(sub) -> None:
    p = sub.add_parser("audit", help="audit an implementation against the NumPy reference",
                       description="Audit refdeconv's own explainer (default) or a candidate over the built-in "
                                   "suite, or on your own model with --model.",
                       epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--candidate", metavar="MODULE:CALLABLE",
                   help="fn(model, inputs, targets) -> map; MODULE is imported with the current directory on sys.path")
    p.add_argument("--case", action="append", metavar="PATTERN",
                   help="run only the cases whose name matches this glob (repeatable)")
    p.add_argument("--model", metavar="FILE.keras|FILE.onnx",
                   help="audit on this saved Keras model, or ONNX model (with --maps), instead of the suite")
    p.add_argument("--inputs", action="append", metavar="X.npy",
                   help="with --model: inputs (N, ...) in the model's layout, once per model input in the model's "
                        "order, or one .npz keyed by input name (default without --maps: 2 samples from N(0, 1), seed 0)")
    p.add_argument("--maps", metavar="MAPS.npy",
                   help="with --model: maps computed by any framework on --inputs, in the model's layout (one .npz "
                        "keyed by input name for several inputs); audited instead of a candidate")
    p.add_argument("--targets", metavar="T.npy",
                   help="with --model: one-hot (N, classes) or labels (N,) (default: the top class)")
    p.add_argument("--output-layer", metavar="NAME", help="with --model: layer name or index where the model is cut")
    p.add_argument("--unsafe", action="store_true",
                   help="with --model: load models with Lambda layers (Keras safe mode off: runs the file's code)")
    _add_report_options(p)
    p.set_defaults(run=_audit)


def _audit(args) -> int:
    from ..conformance import audit, cases

    given = [f"--{k.replace('_', '-')}" for k in _MODEL_ONLY if getattr(args, k) not in (None, False)]
    if args.model is None and given:
        raise commands.UsageError(f"{given[0]}: only with --model")
    if args.model is not None and args.case:
        raise commands.UsageError("--case: the suite's cases do not apply to --model")
    fn = None
    if args.candidate:
        if os.getcwd() not in sys.path:
            sys.path.insert(0, os.getcwd())
        fn = audit.load_candidate(args.candidate)
    if args.model is not None and (args.maps is not None or str(args.model).lower().endswith(".onnx")):
        if args.maps is None:
            raise commands.UsageError("--maps: an ONNX model is audited on maps computed elsewhere; give --maps")
        return maps.run(args)
    if args.model is not None:
        return _audit_model(args, fn)
    chosen = None
    if args.case:
        chosen = [c for c in cases.select(None, own=fn is None) if any(fnmatch.fnmatch(c.name, p) for p in args.case)]
        if not chosen:
            raise ValueError(f"--case: no case matches {args.case}")
    report = audit.run(fn, args.rule, chosen, name=args.candidate, progress=_progress)
    return _finish(report, args.out)


def _audit_model(args, fn) -> int:
    """``audit --model``: the report on the user's model, or exit 3 where the reference cannot vouch."""
    from ..conformance import model_audit

    model = commands.load_model(args.model, args.unsafe)
    names = [t.name for t in model.inputs]
    paths = args.inputs or []
    if paths and len(paths) != len(names):
        raise commands.UsageError(f"--inputs: the model takes {len(names)} input(s) {names}; "
                                  f"give --inputs once per input, in this order (got {len(paths)})")
    xs = [commands.load_array(path, "--inputs") for path in paths]
    targets = None if args.targets is None else commands.load_array(args.targets, "--targets")
    try:
        report = model_audit.run_model(model, None if not xs else xs[0] if len(xs) == 1 else xs, targets, fn, args.rule,
                                       commands.layer_arg(args.output_layer), name=args.candidate)
    except model_audit.UnsupportedModel as err:
        where = f"layer {err.layer!r} ({err.layer_type})" if err.layer else "a part of the model"
        print(f"refdeconv audit: unsupported: the NumPy reference does not model {where} of {args.model}; "
              f"the audit cannot vouch for the map (exit 3)\n  {err.reason}", file=sys.stderr)
        return 3
    except (ValueError, TypeError) as err:
        raise commands.option_error(err, ("inputs", "targets", "output_layer")) from None
    return _finish(report, args.out)


def _vectors_parser(sub) -> None:
    p = sub.add_parser("vectors", help="framework-neutral test vectors",
                       description="Export the suite's test vectors, or check a candidate's maps against them.")
    vsub = p.add_subparsers(dest="action", required=True, metavar="{export,check}")
    export = vsub.add_parser("export", help="write manifest.json and one .npz per case into DIR")
    export.add_argument("directory", metavar="DIR")
    check = vsub.add_parser("check", help="compare MAPS.npz (one array per case name) with the vectors in DIR")
    check.add_argument("directory", metavar="DIR")
    check.add_argument("maps", metavar="MAPS.npz")
    _add_report_options(check)
    p.set_defaults(run=_vectors)


def _vectors(args) -> int:
    from ..conformance import vectors

    if args.action == "export":
        manifest = vectors.export(args.directory)
        print(f"wrote {len(manifest['cases'])} cases ({vectors.FORMAT}) to {args.directory}")
        return 0
    return _finish(vectors.check(args.directory, args.maps, args.rule), args.out)


#: Functions adding subcommand parsers (each with ``set_defaults(run=handler)``).
PARSERS = (_audit_parser, _vectors_parser, commands.add_parsers, torch_audit.add_parser, reproduce.add_parser,
           project.add_parser)


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line (and exit code 2), no usage dump."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand in :data:`PARSERS`."""
    p = _Parser(prog="refdeconv", description="refdeconv: the DeconvNet reference and its audit tools.")
    sub = p.add_subparsers(dest="command", required=True)
    for add in PARSERS:
        add(sub)
    return p


def _quiet_tensorflow() -> None:
    """Import TensorFlow with its C++ start-up banner (printed whatever the log level) sent to /dev/null."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def main(argv=None) -> int:
    """Run the command line; returns the exit code.

    0 pass, 1 fail, 2 usage or input error (bad file, bad shapes), 3 ``audit --model`` on a model
    with a layer the NumPy reference does not model (the audit cannot vouch for the map).
    """
    args = parser().parse_args(argv)
    _quiet_tensorflow()
    with warnings.catch_warnings():  # warnings as one line each, for this run only
        warnings.showwarning = _one_line_warning
        try:
            return args.run(args)
        except (commands.UsageError, ValueError, TypeError, OSError) as err:
            print(f"refdeconv {args.command}: error: {err}", file=sys.stderr)
            return 2


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"refdeconv: {category.__name__}: {message}", file=file or sys.stderr)
