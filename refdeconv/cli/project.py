"""``refdeconv project``: feature projections of a saved model (Zeiler & Fergus's Fig. 2).

Writes ``DIR/projections.npz`` (:meth:`refdeconv.projections.Projections.save`) and, when matplotlib
is installed, ``DIR/projections.png``; prints a short summary. Bad arguments and files exit 2 with
one line naming the option, never a traceback.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from . import commands
from .commands import METHODS, UsageError

#: ``refdeconv.project``'s arguments that are options here (an error naming one names the option).
_OPTIONS = ("layer", "features", "top_k", "rule", "inputs", "model", "batch_size")


def add_parser(subparsers) -> None:
    """Register ``project`` on an ``argparse`` subparsers object."""
    p = subparsers.add_parser("project", help="feature projections: a layer's top activations projected to the input",
                              description="For each feature map of --layer, the --top-k strongest activations over "
                                          "--inputs, each projected alone back to the input (Zeiler & Fergus 2013, "
                                          "Fig. 2), beside the input patch it came from.")
    p.add_argument("--model", required=True, help="a .keras model file (one input)")
    p.add_argument("--inputs", required=True, help="a .npy array (N, ...) of inputs")
    p.add_argument("--layer", required=True, help="name or index of a layer with a time or spatial axis")
    p.add_argument("--features", help="comma-separated channel indices, e.g. 0,3,7 (default: every channel)")
    p.add_argument("--top-k", type=int, default=9, help="activations per feature (default 9)")
    p.add_argument("--rule", choices=METHODS, default="deconvnet")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--unsafe", action="store_true",
                   help="load models with Lambda layers (Keras safe mode off: runs the file's Python code)")
    p.add_argument("--out", required=True, help="folder for projections.npz and projections.png")
    p.set_defaults(run=run)


def _features(text: str | None):
    if text is None:
        return None
    try:
        return [int(part) for part in text.split(",")]
    except ValueError:
        raise UsageError(f"--features: expected comma-separated channel indices, e.g. 0,3,7, got {text!r}") from None


def run(args: argparse.Namespace) -> int:
    """``refdeconv project``: compute, write, summarise; returns the exit code."""
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out: {out} exists and is not a folder")
    features = _features(args.features)
    x = commands.load_array(args.inputs, "--inputs")
    model = commands.load_model(args.model, args.unsafe)
    from ..projections import project

    try:
        p = project(model, x, commands.layer_arg(args.layer), features, args.top_k, args.rule, args.batch_size)
    except (ValueError, TypeError) as err:
        raise commands.option_error(err, _OPTIONS) from None
    except Exception as err:  # the file's own code failed (e.g. a Lambda whose globals were not saved)
        raise commands.call_error(err, args.model) from None
    try:
        out.mkdir(parents=True, exist_ok=True)
        p.save(out / "projections.npz")
    except OSError as err:
        raise UsageError(f"--out: cannot write {out}: {err.strerror}") from None
    written = [str(out / "projections.npz")]
    try:
        from ..projections.figure import plot_projections

        plot_projections(p, out / "projections.png")
        written.append(str(out / "projections.png"))
        figure = ""
    except ImportError:
        figure = "; no figure: matplotlib is not installed (pip install \"refdeconv[plot]\")"
    k = p.samples.shape[1]
    print(f"layer {p.layer!r}, rule {p.rule}: top {k} activations of {len(p.features)} feature(s) over {len(x)} inputs")
    for f, values in zip(p.features[:8], p.values[:8]):
        print(f"  feature {int(f)}: values {float(values[0]):.4g} .. {float(values[-1]):.4g}")
    if len(p.features) > 8:
        print(f"  ... and {len(p.features) - 8} more")
    if p.field_note:
        print(f"  patches are the whole input: {p.field_note}")
    print(f"wrote {' and '.join(written)}{figure}")
    return 0
