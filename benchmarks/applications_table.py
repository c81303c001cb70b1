"""The architecture table of docs/verification.md: every keras.applications family against the reference.

For each family of ``tests/conformance/test_applications.py`` (smallest input, random weights,
logits, two seeded N(0, 1) images, labels [3, 7]), prints one markdown row: the input side,
the number of layers, the worst per-sample scaled error (``refdeconv.testing.map_error``) of
DeconvNet, GuidedBackprop and Gradient against ``reference.attribution``, pass/fail against the
float32 tolerance, and the reference's seconds for the three rules.

Run from the repository root: ``PYTHONPATH=. python benchmarks/applications_table.py [FAMILY ...]``.
"""

import sys
import time
import warnings

import numpy as np

from refdeconv import DeconvNet, Gradient, GuidedBackprop, reference
from refdeconv.testing import map_error, tolerance
from tests.conformance.test_applications import FAMILIES, build


def main(families):
    print("| family | input | layers | DeconvNet | GuidedBackprop | Gradient | within 1e-4 | reference, 3 rules |")
    print("|---|---|---|---|---|---|---|---|")
    for family in families:
        model, side = build(family), FAMILIES[family][1]
        x = np.random.default_rng(1).normal(size=(2, side, side, 3)).astype("float32")
        labels, errors, seconds = np.array([3, 7]), [], 0.0
        for cls in (DeconvNet, GuidedBackprop, Gradient):
            start = time.perf_counter()
            want = reference.attribution(model, x, labels, cls.rule)
            seconds += time.perf_counter() - start
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                errors.append(float(map_error(cls(model).explain(x, labels).numpy(), want).max()))
        ok = "yes" if max(errors) <= tolerance("float32") else "NO"
        cells = " | ".join(f"{e:.1e}" for e in errors)
        print(f"| {family} | {side}×{side} | {len(model.layers)} | {cells} | {ok} | {seconds:.1f} s |", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:] or list(FAMILIES))
