"""Which conventions a candidate's maps follow, measured against the oracle: the rule at each kind
of ReLU (:func:`relu_rules`) and the seed at the output (:func:`seed_fit`).

Peers differ in both (DESIGN.md §4): Captum and zennit hook ``nn.ReLU`` only, so ``ReLU6`` keeps
its plain gradient there; iNNvestigate seeds with the output value, zennit with whatever output
gradient it is given. An audit that says only "fail" leaves the user to guess which; these say
which, from the maps alone.
"""

from __future__ import annotations

import itertools

import numpy as np

from .audit import RULES
from .tolerances import map_error, tolerance


def reference_output(oracle, xs: list) -> np.ndarray:
    """The oracle's output on checked inputs ``xs``."""
    program, values = oracle.run(xs)
    return values[program.output]


def _fits(maps: list, refs: list, key) -> bool:
    return all(map_error(m, r).max() <= tolerance(key) for m, r in zip(maps, refs))


#: Seed conventions a map may fit: the name -> the seed at the output, from targets ``y`` and output ``f``.
SEEDS = {
    "target": lambda y, f: y,  # refdeconv, Captum, zennit given attr_output=targets, Xplique
    "target times output value": lambda y, f: y * f,  # iNNvestigate's Deconvnet and GuidedBackprop
    "all outputs": lambda y, f: np.ones_like(f),  # zennit without attr_output
}


def relu_rules(oracle, xs: list, y: np.ndarray, maps: list, key) -> dict:
    """The rule each kind of ReLU follows in ``maps``, measured.

    Every assignment of a rule to each kind (``3^k`` reverse passes from one forward pass) is
    compared with ``maps``; a kind is reported with the rules it has in the assignments that match
    within ``tolerance(key)`` (``"deconvnet or guided"`` where the maps cannot tell them apart), or
    ``"none"`` when no assignment matches.
    """
    kinds = oracle.relu_kinds
    if not kinds:
        return {}
    combos = list(itertools.product(RULES, repeat=len(kinds)))
    refs = oracle.maps(xs, y, [dict(zip(kinds, c)) for c in combos])
    fits = [c for c, ref in zip(combos, refs) if _fits(maps, ref, key)]
    return {k: " or ".join(r for r in RULES if any(c[i] == r for c in fits)) or "none" for i, k in enumerate(kinds)}


def measured_rule(rules: dict, fallback: str):
    """The rule the maps follow as the oracle takes it: per kind (the first fitting rule of each)
    when :func:`relu_rules` found every kind, else ``fallback``."""
    if not rules or "none" in rules.values():
        return fallback
    return {kind: found.split(" or ")[0] for kind, found in rules.items()}


def seed_fit(oracle, xs: list, y: np.ndarray, maps: list, key, rule) -> str:
    """The first seed convention of :data:`SEEDS` whose maps under ``rule`` (a name, or one per
    kind of ReLU) match ``maps``, or ``"none"``."""
    output = reference_output(oracle, xs)
    for name, seed in SEEDS.items():
        if _fits(maps, oracle.maps(xs, seed(y, output), [rule])[0], key):
            return name
    return "none"
