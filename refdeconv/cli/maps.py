"""``refdeconv audit --model FILE --maps MAPS``: maps computed by any framework, audited against
the oracle (:func:`refdeconv.conformance.map_audit.audit_maps`).

``FILE`` is an ONNX model (``.onnx``: read as it is, in its own layout) or a saved Keras model.
``--inputs``, ``--targets`` and ``--maps`` are ``.npy`` arrays; for a model with several inputs,
``--inputs`` and ``--maps`` are each one ``.npz`` archive keyed by input name (or ``--inputs``
given once per input, in the model's order).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from . import commands
from .reporting import finish


def _archive(path: str, option: str) -> dict:
    """The arrays of the ``.npz`` archive at ``path``, by name (no pickles)."""
    try:
        with np.load(path, allow_pickle=False) as loaded:
            if isinstance(loaded, np.ndarray):
                raise commands.UsageError(f"{option}: {path} is a .npy array, expected an .npz archive keyed by input name")
            return {k: loaded[k] for k in loaded.files}
    except FileNotFoundError:
        raise commands.UsageError(f"{option}: no such file: {path}") from None
    except (ValueError, OSError) as err:
        raise commands.UsageError(f"{option}: {path} is not an .npz archive without pickles ({err})") from None


def arrays(paths: list, option: str):
    """One ``.npy`` array, a list of them, or the dict of one ``.npz`` archive, as the option gives them."""
    if len(paths) == 1 and str(paths[0]).endswith(".npz"):
        return _archive(paths[0], option)
    loaded = [commands.load_array(p, option) for p in paths]
    return loaded[0] if len(loaded) == 1 else loaded


def load(path: str, unsafe: bool):
    """The model at ``path``: an ONNX file is passed on as its path; anything else loads as Keras."""
    if str(path).lower().endswith(".onnx"):
        if not Path(path).is_file():
            raise commands.UsageError(f"--model: no such file: {path}")
        return path
    return commands.load_model(path, unsafe)


def run(args) -> int:
    """Audit ``--maps`` on ``--model``; the exit code (0 pass, 1 fail, 3 unmodelled op or misread graph)."""
    from ..conformance import map_audit, model_audit
    if args.candidate:
        raise commands.UsageError("--candidate: the maps are given with --maps; audit a candidate without --maps")
    if not args.inputs:
        raise commands.UsageError("--inputs: give the inputs the maps were computed on")
    model = load(args.model, args.unsafe)
    inputs, maps = arrays(args.inputs, "--inputs"), arrays([args.maps], "--maps")
    targets = None if args.targets is None else commands.load_array(args.targets, "--targets")
    try:
        report = map_audit.audit_maps(model, inputs, targets, maps, args.rule, commands.layer_arg(args.output_layer),
                                      name=Path(args.maps).name)
    except model_audit.UnsupportedModel as err:
        where = f"{'node' if str(args.model).endswith('.onnx') else 'layer'} {err.layer!r} ({err.layer_type})" \
            if err.layer else "a part of the model"
        print(f"refdeconv audit: unsupported: the NumPy reference does not model {where} of {args.model}; "
              f"the audit cannot vouch for the maps (exit 3)\n  {err.reason}", file=sys.stderr)
        return 3
    except (ValueError, TypeError) as err:
        raise commands.option_error(err, ("inputs", "targets", "maps", "output_layer", "model")) from None
    return finish(report, args.out)
