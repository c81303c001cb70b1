"""The user-facing subcommands ``refdeconv demo``, ``refdeconv explain`` and ``refdeconv bench``, and the
loaders of model and array files they share with ``refdeconv audit --model``.

Errors in files or arguments are reported as one line on standard error with
exit code 2, never a traceback (:class:`UsageError`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

METHODS = ("deconvnet", "gradient", "guided")


class UsageError(Exception):
    """A bad file or argument: the CLI prints ``refdeconv <command>: error: <message>`` and exits 2."""


def add_parsers(subparsers) -> None:
    """Register ``demo``, ``explain`` and ``bench`` on an ``argparse`` subparsers object."""
    demo = subparsers.add_parser("demo", help="train a small CNN on generated shapes and explain it (no download)")
    demo.add_argument("--out", default="refdeconv-demo", help="output folder (default ./refdeconv-demo)")
    demo.add_argument("--seed", type=int, default=0)
    demo.set_defaults(run=run_demo)

    explain = subparsers.add_parser("explain", help="explain a saved Keras model on inputs from a .npy file")
    explain.add_argument("--model", required=True, help="a .keras model file")
    explain.add_argument("--inputs", required=True, help="a .npy array (N, ...) of inputs")
    explain.add_argument("--targets", help="a .npy array: one-hot (N, classes) or labels (N,); default: top class")
    explain.add_argument("--method", choices=METHODS, default="deconvnet")
    explain.add_argument("--output-layer", help="layer name or index where the model is cut")
    explain.add_argument("--batch-size", type=int, default=32)
    explain.add_argument("--out", required=True, help="where to write the maps (.npy)")
    explain.add_argument("--png", help="also write a figure of the first inputs and their maps")
    explain.add_argument("--strategy", choices=("mirrored", "multiworker"),
                         help="tf.distribute: every device of this machine (mirrored), or several machines "
                              "(multiworker, from TF_CONFIG; the chief writes --out)")
    explain.add_argument("--unsafe", action="store_true",
                         help="load models with Lambda layers (Keras safe mode off: runs the file's Python code)")
    explain.set_defaults(run=run_explain)

    bench = subparsers.add_parser("bench", help="speed against the plain-gradient floor, and memory")
    bench.add_argument("--quick", action="store_true")
    bench.add_argument("--frontier", action="store_true",
                       help="the frontier cache on keras.applications models (and Xplique, when installed)")
    bench.add_argument("--models", default="ResNet50,MobileNetV2,DenseNet121,VGG16",
                       help="with --frontier: comma-separated keras.applications names")
    bench.add_argument("--n", type=int, default=512, help="with --frontier: inputs a call in the dataset workload")
    bench.set_defaults(run=run_bench)


def run_bench(args: argparse.Namespace) -> int:
    """``refdeconv bench``: the speed and memory benchmark, or (``--frontier``) the frontier cache's."""
    if args.frontier:
        __import__("refdeconv.cli.bench_frontier", fromlist=["main"]).main(args.models.split(","), args.n)
    else:
        __import__("refdeconv.cli.bench", fromlist=["main"]).main(["--quick"] if args.quick else [])
    return 0


def run_demo(args: argparse.Namespace) -> int:
    """``refdeconv demo``: train, explain, write ``demo.png`` and ``maps.npz``; returns the exit code."""
    from .demo import run

    result = run(args.out, seed=args.seed)
    print(f"held-out accuracy {result['accuracy']:.1%}; wrote {result['out']}/demo.png and maps.npz "
          f"in {result['seconds']:.0f} s")
    return 0


def load_array(path: str, name: str) -> np.ndarray:
    """The ``.npy`` array at ``path`` (no pickles); a :class:`UsageError` naming the option ``name`` otherwise."""
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.ndarray):
            loaded.close()
            raise UsageError(f"{name}: {path} is an .npz archive (or another zip file), not a .npy array")
        return loaded
    except FileNotFoundError:
        raise UsageError(f"{name}: no such file: {path}") from None
    except (ValueError, OSError) as err:
        raise UsageError(f"{name}: {path} is not a .npy array without pickles ({err})") from None


def load_model(path: str, unsafe: bool):
    """The ``.keras`` model at ``path``, in Keras safe mode unless ``unsafe``; a :class:`UsageError` otherwise."""
    import keras

    if not Path(path).is_file():
        raise UsageError(f"--model: no such file: {path}")
    try:
        return keras.models.load_model(path, compile=False, safe_mode=not unsafe)
    except ValueError as err:
        if "safe_mode" in str(err) or "Lambda" in str(err):
            raise UsageError(
                f"--model: {path} contains a Lambda layer, whose Python code Keras's safe mode refuses to run; "
                "pass --unsafe if you trust the file"
            ) from None
        raise UsageError(f"--model: {path} could not be loaded: {str(err).splitlines()[0]}") from None
    except (OSError, TypeError, KeyError) as err:
        raise UsageError(f"--model: {path} is not a Keras model file ({str(err).splitlines()[0]})") from None


def layer_arg(value: str | None):
    """``--output-layer`` as given: an index if it reads as an int, else a layer name (``None`` stays)."""
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return value


def option_error(err: Exception, options) -> UsageError:
    """``err``'s first line as a :class:`UsageError` naming the command-line option: a message that starts
    with one of the API's argument ``options`` (``output_layer: ...``) gets the option's spelling
    (``--output-layer: ...``); any other message is kept as it is."""
    message = str(err).splitlines()[0]
    name = next((o for o in options if message.startswith(o)), None)
    return UsageError(f"--{name.replace('_', '-')}{message[len(name):]}" if name else message)


def call_error(err: Exception, path: str) -> UsageError:
    """A :class:`UsageError` for an exception raised by the saved model's own code when it was called (a
    ``Lambda`` whose globals were not saved, say): its first non-empty line, naming ``--model``."""
    message = next((line for line in str(err).splitlines() if line.strip()), type(err).__name__)
    return UsageError(f"--model: {path} failed when called: {type(err).__name__}: {message}")


def _progress(done: int, total: int) -> None:
    width = 30
    filled = width * done // max(total, 1)
    print(f"\rexplaining [{'#' * filled}{'.' * (width - filled)}] {done}/{total}", end="", file=sys.stderr, flush=True)


def _strategy(name):
    """The ``--strategy`` asked for, created before any other TensorFlow work (as multi-worker needs)."""
    if name is None:
        return None, True
    import tensorflow as tf

    if name == "mirrored":
        return tf.distribute.MirroredStrategy(), True
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    task, index = strategy.cluster_resolver.task_type, strategy.cluster_resolver.task_id
    chief = "chief" in strategy.cluster_resolver.cluster_spec().jobs
    return strategy, task in (None, "chief") or (not chief and task == "worker" and index == 0)


def _output(path, first: np.ndarray, n: int):
    """Where the maps go: a memory-mapped ``.npy`` at ``path`` (``None``: memory) of ``n`` rows."""
    shape = (n, *first.shape[1:])
    if path is None or n == 0:  # an empty file cannot be memory-mapped: saved at the end
        return np.empty(shape, first.dtype)
    return np.lib.format.open_memmap(path, mode="w+", dtype=first.dtype, shape=shape)


def run_explain(args: argparse.Namespace) -> int:
    """``refdeconv explain``: load the model and arrays, write the maps (and a figure); returns the exit code.

    The maps are written to ``--out`` as they come, through a memory-mapped ``.npy``: a chunk of
    ``8 * --batch-size`` maps in memory at a time. With ``--strategy multiworker`` every worker
    runs the same command; each computes its replicas' part of every batch, all of them gather
    the maps, and the chief (or worker 0) writes ``--out``.
    """
    from ..explainers import DeconvNet, Gradient, GuidedBackprop

    if not Path(args.out).resolve().parent.is_dir():
        raise UsageError(f"--out: cannot write {args.out}: its folder does not exist")
    strategy, writer = _strategy(args.strategy)
    x = load_array(args.inputs, "--inputs")
    targets = None if args.targets is None else load_array(args.targets, "--targets")
    model = load_model(args.model, args.unsafe)
    method = {"deconvnet": DeconvNet, "gradient": Gradient, "guided": GuidedBackprop}[args.method]
    maps = None
    try:
        explainer = method(model, output_layer=layer_arg(args.output_layer), batch_size=args.batch_size,
                           strategy=strategy)
        if targets is not None and len(targets) != len(x):
            raise ValueError(f"targets: expected {len(x)} rows, one per input, got shape {targets.shape}")
        chunk = 8 * args.batch_size  # maps do not depend on batching: explain in chunks to show progress
        for start in range(0, max(len(x), 1), chunk):
            stop = start + chunk
            part = explainer.explain(x[start:stop], None if targets is None else targets[start:stop]).numpy()
            maps = maps if maps is not None else _output(args.out if writer else None, part, len(x))
            maps[start:start + len(part)] = part
            if len(x) > chunk:
                _progress(min(stop, len(x)), len(x))
        if len(x) > chunk:
            print(file=sys.stderr)
    except (ValueError, TypeError) as err:
        raise option_error(err, ("inputs", "targets", "output_layer", "batch_size")) from None
    except OSError as err:
        raise UsageError(f"--out: cannot write {args.out}: {err.strerror}") from None
    except Exception as err:  # the file's own code failed (e.g. a Lambda whose globals were not saved)
        raise call_error(err, args.model) from None
    if not writer:
        print(f"maps of shape {maps.shape} gathered ({args.method}); the chief writes {args.out}")
        return 0
    if args.png:
        from .plot import plot_maps

        try:
            plot_maps(x[:6], {type(explainer).__name__: maps[:6]}, args.png)
        except ImportError as err:
            raise UsageError(f"--png: {err}") from None
    if isinstance(maps, np.memmap):
        maps.flush()
    else:
        try:
            np.save(args.out, maps)
        except OSError as err:
            raise UsageError(f"--out: cannot write {args.out}: {err.strerror}") from None
    print(f"wrote {args.out}: maps of shape {maps.shape} ({args.method})")
    return 0
