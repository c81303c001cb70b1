"""``refdeconv reproduce``: the published findings about DeconvNet, reproduced at small scale.

Runs the studies of :mod:`refdeconv.reproduce` (seeded, CPU, a few minutes; ``--quick`` in well
under a minute) and writes ``DIR/results.json``, ``DIR/run.json`` and one figure per study; prints
one line per study: whether the paper's claim held (``yes``, ``no``, ``partly``). A claim that does
not hold is a finding, not an error: the exit code is 0 unless the command itself fails (2: a bad
argument, or the ``reproduce`` extra missing).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from .commands import UsageError

HELD = {True: "yes", False: "no", "partly": "partly"}


def add_parser(subparsers) -> None:
    """Register ``reproduce`` on an ``argparse`` subparsers object."""
    p = subparsers.add_parser("reproduce", help="published findings about DeconvNet, reproduced at small scale",
                              description="Train small networks on shipped data (scikit-learn's digits, generated "
                                          "shapes) and measure published claims about DeconvNet, Guided Backprop "
                                          "and the gradient; write results.json and one figure per study.")
    p.add_argument("--out", required=True, metavar="DIR",
                   help="output folder (created); its results.json holds the studies of this run")
    p.add_argument("--quick", action="store_true", help="fewer samples and epochs (the test suite's mode)")
    p.add_argument("--study", action="append", metavar="KEY",
                   help="run only this study (repeatable; default: all)")
    p.set_defaults(run=run)


def run(args) -> int:
    """Run the studies; 0 when they ran (whatever they found), 2 on a bad argument or a missing extra."""
    from .. import reproduce
    from ..reproduce.data import EXTRA

    for key in args.study or ():
        if key not in reproduce.STUDIES:
            raise UsageError(f"--study: unknown study {key!r}; expected one of {', '.join(reproduce.STUDIES)}")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out: {out} exists and is not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UsageError(f"--out: cannot create the folder {out}: {err.strerror or err}") from None
    try:
        import matplotlib

        matplotlib.use("Agg")
    except ImportError:
        raise UsageError(f"matplotlib is needed for the figures, an optional dependency: {EXTRA}")
    started = time.perf_counter()
    try:
        results = reproduce.run(args.out, quick=args.quick, studies=args.study,
                                progress=lambda key: print(f"running {key}", file=sys.stderr, flush=True))
    except ImportError as err:
        raise UsageError(str(err)) from None
    width = max(len(key) for key in results)
    for key, entry in results.items():
        print(f"{key:<{width}}  claim held: {HELD[entry['held']]:<6}  {entry['title']}")
    print(f"wrote {args.out}/results.json and {len(results)} figures in {time.perf_counter() - started:.0f} s")
    return 0
