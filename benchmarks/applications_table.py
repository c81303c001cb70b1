"""The architecture table of docs/verification.md: every keras.applications family against the reference.

For each family of ``tests/conformance/test_applications.py`` (smallest input, random weights,
logits, two seeded N(0, 1) images, labels [3, 7]), prints one markdown row: the input side, the
number of layers, the worst per-sample scaled error (``refdeconv.testing.map_error``) against
``reference.attribution`` of DeconvNet on the float32 model and of the three rules on its float64
twin, whether each is within its dtype's tolerance, the reference's seconds for the three rules,
and, for information, float32 Gradient's error (not a check: ReLU near ties, see the test module).

Run from the repository root: ``PYTHONPATH=. python benchmarks/applications_table.py [FAMILY ...]``.
"""

import sys
import time
import warnings

import numpy as np

from refdeconv import DeconvNet, Gradient, GuidedBackprop, reference
from refdeconv.testing import map_error, tolerance
from tests.conformance.test_applications import FAMILIES, build, float64_twin


def _error(cls, model, x, labels, want) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(map_error(cls(model).explain(x, labels).numpy(), want).max())


def main(families):
    print("| family | input | layers | DeconvNet float32 | DeconvNet float64 | GuidedBackprop float64 | "
          "Gradient float64 | within tolerance | reference, 3 rules | Gradient float32 (not checked) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for family in families:
        model, side = build(family), FAMILIES[family][1]
        x = np.random.default_rng(1).normal(size=(2, side, side, 3)).astype("float32")
        labels, wants, seconds = np.array([3, 7]), {}, 0.0
        for cls in (DeconvNet, GuidedBackprop, Gradient):
            start = time.perf_counter()
            wants[cls] = reference.attribution(model, x, labels, cls.rule)
            seconds += time.perf_counter() - start
        twin, x64 = float64_twin(family, model), x.astype("float64")
        errors = [_error(DeconvNet, model, x, labels, wants[DeconvNet])]
        errors += [_error(cls, twin, x64, labels, wants[cls]) for cls in (DeconvNet, GuidedBackprop, Gradient)]
        ok = errors[0] <= tolerance("float32") and max(errors[1:]) <= tolerance("float64")
        gradient32 = _error(Gradient, model, x, labels, wants[Gradient])
        cells = " | ".join(f"{e:.1e}" for e in errors)
        print(f"| {family} | {side}×{side} | {len(model.layers)} | {cells} | {'yes' if ok else 'NO'} | "
              f"{seconds:.1f} s | {gradient32:.1e} |", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:] or list(FAMILIES))
