"""What every study shares: the run's context (quick or full, seed, output folder, trained models
kept for the studies that reuse them), the explainers' maps, and the verdict of a study's checks.

A study is a module with ``KEY``, ``TITLE``, ``CITATION``, ``CLAIM`` (the paper's claim, one
sentence), ``ORIGINAL`` (the paper's setting) and ``run(context) -> dict``, which returns its
``setting`` (the small-scale setting used here, built from the same numbers the code uses), its
``measured`` numbers, its ``checks`` (each made with :func:`check`) and its ``figure`` (a file name
in the output folder). :func:`refdeconv.reproduce.run` adds the rest of the entry.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

#: The three rules, in the order the studies report them, and the explainers that compute them.
RULES = ("gradient", "guided", "deconvnet")
NAMES = {"gradient": "Gradient", "guided": "Guided Backprop", "deconvnet": "DeconvNet"}


def explainer(rule: str):
    """The refdeconv explainer class of ``rule``."""
    from .. import explainers

    return {"gradient": explainers.Gradient, "guided": explainers.GuidedBackprop,
            "deconvnet": explainers.DeconvNet}[rule]


def maps(model, x, targets, rules=RULES, **options) -> dict:
    """``{rule: map}`` of ``model`` on ``x`` for class ``targets`` (labels or one-hot), as float64
    NumPy arrays, computed by refdeconv's explainers (``options`` go to the explainer)."""
    import warnings

    with warnings.catch_warnings():  # a net without ReLU (the linear toy model) says so; here it is meant
        warnings.simplefilter("ignore", UserWarning)
        return {rule: np.asarray(explainer(rule)(model, **options).explain(x, targets), np.float64)
                for rule in rules}


def check(claim: str, held: bool, **measured) -> dict:
    """One check of a study: the claim in words, whether it held, and the numbers it was decided on
    (plain floats, ints or lists, so that they go to JSON as they are)."""
    return {"claim": claim, "held": bool(held), "measured": {k: plain(v) for k, v in measured.items()}}


def unheld(checks: list) -> str:
    """The checks that did not hold, each with its numbers in words, for a study's ``why`` ("" when every
    check held); lists of numbers to three decimals, single numbers to three significant digits."""
    def words(value) -> str:
        if isinstance(value, dict):
            return "{" + ", ".join(f"{k} {words(v)}" for k, v in value.items()) + "}"
        return f"[{', '.join(f'{v:.3f}' for v in value)}]" if isinstance(value, list) else f"{value:.3g}"

    return "; ".join(f"this check did not hold: {c['claim']} (measured "
                     f"{', '.join(f'{k} {words(v)}' for k, v in c['measured'].items())})"
                     for c in checks if not c["held"])


def verdict(checks: list) -> bool | str:
    """``True`` when every check held, ``False`` when none did, ``"partly"`` otherwise."""
    held = [c["held"] for c in checks]
    return True if all(held) else False if not any(held) else "partly"


def plain(value):
    """``value`` with NumPy arrays and scalars made plain lists, floats, ints and bools (for JSON)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [plain(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    return value


@dataclass
class Context:
    """One run of the studies.

    Attributes
    ----------
    out : pathlib.Path
        Folder of ``results.json`` and the figures.
    quick : bool
        The quick mode of the tests: fewer samples, fewer epochs, the same code and claims.
    seed : int
        The one seed of the run (data, initialisations, training); never chosen per study.
    """

    out: Path
    quick: bool = False
    seed: int = 0
    cache: dict = field(default_factory=dict)

    def size(self, quick: int, full: int) -> int:
        """``quick`` in the quick mode, ``full`` otherwise."""
        return quick if self.quick else full

    def kept(self, key, make):
        """``make()`` once per run, kept under ``key`` for the studies that reuse it (a trained net)."""
        if key not in self.cache:
            self.cache[key] = make()
        return self.cache[key]

    def save(self, fig, name: str) -> str:
        """Write the matplotlib figure ``fig`` as ``out/name`` (PNG) and close it; returns ``name``."""
        from matplotlib import pyplot as plt

        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
        plt.close(fig)
        (self.out / name).write_bytes(buffer.getvalue())
        return name
