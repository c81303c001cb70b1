"""Published findings about DeconvNet, reproduced at small scale: ``refdeconv reproduce``.

Each study trains or builds small networks on data shipped inside installed packages
(scikit-learn's digits, refdeconv's generated shapes and scenes), seeded, on the CPU, and measures
one published claim about DeconvNet, Guided Backprop and the gradient, beside the paper's own
setting:

================== ==========================================================================
key                the claim
================== ==========================================================================
kindermans2017     input invariance (Kindermans et al., "The (un)reliability of saliency methods")
kindermans2018     the linear toy model of PatternNet/PatternAttribution (Kindermans et al. 2018)
adebayo2018        sanity checks: model and data randomisation (Adebayo et al. 2018)
sixt2020           convergence of the backward signals, layer by layer (Sixt, Granz & Landgraf 2020)
nie2018            class sensitivity on trained, random and partly trained weights (Nie et al. 2018)
pointing_game      the pointing game (Zhang et al. 2016) against the centre baseline
================== ==========================================================================

:func:`run` writes ``results.json`` (one entry per study under its key, each with the claim, the
original and the small-scale setting, the measured numbers, the checks and ``held``: ``true``,
``false`` or ``"partly"``) and one figure per study. Nothing is tuned to make a claim hold: one
seed for the whole run, the settings fixed in the code.

Needs the ``reproduce`` extra (``pip install "refdeconv[reproduce]"``): scikit-learn for the
digits, scikit-image for SSIM, matplotlib for the figures.
"""

from __future__ import annotations

import json
import platform
import time
from importlib import import_module
from pathlib import Path

from .study import Context, plain, verdict

#: The studies, in the order they run and are reported.
STUDIES = ("kindermans2017", "kindermans2018", "adebayo2018", "sixt2020", "nie2018", "pointing_game")


def study(key: str):
    """The module of study ``key`` (one of :data:`STUDIES`)."""
    if key not in STUDIES:
        raise ValueError(f"studies: unknown study {key!r}; expected some of {list(STUDIES)}")
    return import_module(f".{key}", __name__)


def run(out, quick: bool = False, studies=None, seed: int = 0, progress=None) -> dict:
    """Run the studies and write ``out/results.json``, ``out/run.json`` and one figure per study.

    Parameters
    ----------
    out : str or pathlib.Path
        Output folder (created).
    quick : bool
        Fewer samples and epochs (the test suite's mode); the same code and claims.
    studies : sequence of str or None
        Keys of :data:`STUDIES` to run (default: all, in order).
    seed : int
        The run's one seed.
    progress : callable or None
        ``progress(key)`` before each study.

    Returns
    -------
    dict
        ``{key: entry}`` as written to ``results.json``.

    Raises
    ------
    ValueError
        An unknown study key.
    ImportError
        The ``reproduce`` extra is missing (the message says how to install it).
    """
    import keras

    modules = [study(key) for key in (STUDIES if studies is None else studies)]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    context = Context(out=out, quick=quick, seed=seed)
    results, seconds = {}, {}
    for module in modules:
        if progress is not None:
            progress(module.KEY)
        started = time.perf_counter()
        keras.utils.set_random_seed(seed)
        found = module.run(context)
        seconds[module.KEY] = time.perf_counter() - started
        results[module.KEY] = {
            "title": module.TITLE, "citation": module.CITATION, "claim": module.CLAIM,
            "original_setting": module.ORIGINAL, "setting": found["setting"], "quick": quick, "seed": seed,
            "measured": plain(found["measured"]), "checks": found["checks"], "held": verdict(found["checks"]),
            "why": found.get("why", ""), "figure": found["figure"]}
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / "run.json").write_text(json.dumps(_environment(quick, seed, seconds), indent=2) + "\n")
    return results


def _environment(quick: bool, seed: int, seconds: dict) -> dict:
    from importlib.metadata import PackageNotFoundError, version

    def of(name):
        try:
            return version(name)
        except PackageNotFoundError:
            return None

    packages = ("refdeconv", "tensorflow", "keras", "numpy", "scipy", "scikit-learn", "scikit-image")
    return {"quick": quick, "seed": seed, "python": platform.python_version(), "machine": platform.machine(),
            "packages": {name: of(name) for name in packages},
            "seconds": {key: round(s, 2) for key, s in seconds.items()}}
