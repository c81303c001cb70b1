"""The ``refdeconv`` command line (also ``python -m refdeconv``).

Subcommands::

    refdeconv audit [--candidate MODULE:CALLABLE] [--rule RULE] [--case PATTERN ...] [--out DIR]
    refdeconv vectors export DIR
    refdeconv vectors check DIR MAPS.npz [--rule RULE] [--out DIR]

``audit`` and ``vectors check`` print a table (progress on stderr), write
``report.json``, ``report.md`` and ``report.png`` to ``--out`` (default
``./refdeconv-audit``), and exit 0 when every case passes, 1 otherwise; a
usage error or malformed input exits 2. Each subcommand is a function that
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

from . import commands

DEFAULT_OUT = "refdeconv-audit"
RULE_NAMES = ("deconvnet", "gradient", "guided")  # cases.RULES, spelled here: parsing must not import TensorFlow


def _progress(i: int, total: int, name: str) -> None:
    tty = sys.stderr.isatty()
    line = f"[{i + 1:>{len(str(total))}}/{total}] {name}"
    print(f"\r\x1b[K{line}" if tty else line, end="" if tty else "\n", file=sys.stderr, flush=True)
    if tty and i + 1 == total:
        print(file=sys.stderr)


def _finish(report, out) -> int:
    from ..conformance import report as reports

    print(reports.table(report))
    print("reports:", ", ".join(str(path) for path in reports.write(report, out)))
    return 0 if report.failed == 0 else 1


def _add_report_options(parser) -> None:
    parser.add_argument("--rule", choices=RULE_NAMES, default="deconvnet",
                        help="the rule the implementation should follow (default: deconvnet)")
    parser.add_argument("--out", default=DEFAULT_OUT, metavar="DIR",
                        help=f"where report.json, report.md and report.png go (default: ./{DEFAULT_OUT})")


def _audit_parser(sub) -> None:
    p = sub.add_parser("audit", help="audit an implementation against the NumPy reference",
                       description="Audit refdeconv's own explainer (default) or a candidate over the built-in suite.")
    p.add_argument("--candidate", metavar="MODULE:CALLABLE",
                   help="fn(model, inputs, targets) -> map; MODULE is imported with the current directory on sys.path")
    p.add_argument("--case", action="append", metavar="PATTERN",
                   help="run only the cases whose name matches this glob (repeatable)")
    _add_report_options(p)
    p.set_defaults(run=_audit)


def _audit(args) -> int:
    from ..conformance import audit, cases

    fn = None
    if args.candidate:
        if os.getcwd() not in sys.path:
            sys.path.insert(0, os.getcwd())
        fn = audit.load_candidate(args.candidate)
    chosen = None
    if args.case:
        chosen = [c for c in cases.select(None, own=fn is None) if any(fnmatch.fnmatch(c.name, p) for p in args.case)]
        if not chosen:
            raise ValueError(f"--case: no case matches {args.case}")
    report = audit.run(fn, args.rule, chosen, name=args.candidate, progress=_progress)
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
PARSERS = (_audit_parser, _vectors_parser, commands.add_parsers)


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
    """Run the command line; returns the exit code (0 pass, 1 fail, 2 usage or input error)."""
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
