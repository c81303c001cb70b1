"""The linear toy model of PatternNet and PatternAttribution (Kindermans et al., ICLR 2018).

Data ``x = s + d``: a signal ``s = a_s y`` carrying the target ``y`` and a distractor ``d = a_d ε``
independent of it. The linear model that recovers ``y`` must cancel the distractor, so its filter
``w`` is orthogonal to ``a_d``, not parallel to ``a_s``. A method that returns the filter explains the
model's *cancelling* of the distractor, not where the signal is; PatternNet estimates the signal
direction ``a`` from the data instead.

Notes
-----
With ``a_s = (1, 0)`` and ``a_d = (1, 1)``, ``w^T x = y`` forces ``w^T a_s = 1`` and ``w^T a_d = 0``, so
``w = (1, -1)`` and ``cos(w, a_s) = 1 / sqrt(2)``. For a linear model the gradient is ``w`` at every
input; with no ReLU, DeconvNet and Guided Backprop are the gradient (proposition 8); with a ReLU on
the output, on inputs where it is active (``y > 0``) and a positive seed, all three still pass ``w``.
The linear pattern estimator ``a = cov(x, ŷ) / var(ŷ)`` (Kindermans et al. 2018, eq. 4) recovers
``a_s``, because ``cov(d, y) = 0``; with a ReLU on the output it is estimated on the samples where the
ReLU is active (their ``a_+``), which recovers ``a_s`` too.
"""

from __future__ import annotations

import keras
import numpy as np

from ..conformance.tolerances import map_error, tolerance
from .study import NAMES, RULES, check, maps

KEY = "kindermans2018"
TITLE = "The linear toy model: the maps give the filter, not the signal"
CITATION = ("Kindermans, Schütt, Alber, Müller, Erhan, Kim & Dähne (2018). Learning how to explain neural "
            "networks: PatternNet and PatternAttribution. ICLR 2018")
CLAIM = ("On data x = a_s y + a_d ε, the linear model that recovers y has filter w orthogonal to the distractor "
         "a_d; DeconvNet, Guided Backprop and the gradient all return w, the filter direction, not the signal "
         "direction a_s; the pattern a = cov(x, ŷ) / var(ŷ) recovers a_s.")
ORIGINAL = ("Two-dimensional toy data: a_s = (1, 0), a_d = (1, 1), y uniform in [-1, 1], ε normal; the linear "
            "model w = (1, -1) (the paper's Fig. 2).")
SIGNAL, DISTRACTOR = np.array([1.0, 0.0]), np.array([1.0, 1.0])


def toy_data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)``: ``n`` samples ``x = a_s y + a_d ε``, ``y ~ U[-1, 1]``, ``ε ~ N(0, 1)``, float32 ``(n, 2)``."""
    rng = np.random.default_rng([seed, 2018])
    y = rng.uniform(-1.0, 1.0, n)
    x = np.outer(y, SIGNAL) + np.outer(rng.normal(size=n), DISTRACTOR)
    return x.astype(np.float32), y


def fitted(x, y, relu: bool) -> tuple[keras.Model, np.ndarray]:
    """The least-squares linear model ``ŷ = w^T x + b`` of ``y`` (a ``Dense(1)``, with a ``ReLU`` on its
    output when ``relu``) and its filter ``w`` (float64)."""
    design = np.c_[x.astype(np.float64), np.ones(len(x))]
    solution = np.linalg.lstsq(design, y, rcond=None)[0]
    layers = [keras.Input((2,)), keras.layers.Dense(1)] + ([keras.layers.ReLU()] if relu else [])
    model = keras.Sequential(layers, name="linear_relu" if relu else "linear")
    model.layers[0].set_weights([solution[:2, None].astype(np.float32), solution[2:].astype(np.float32)])
    return model, solution[:2]


def cosine(a, b) -> np.ndarray:
    """Cosine between each row of ``a`` and the vector ``b``."""
    a = np.atleast_2d(a)
    return a @ b / (np.linalg.norm(a, axis=1) * np.linalg.norm(b))


def run(context) -> dict:
    n = context.size(200, 2000)
    x, y = toy_data(n, context.seed)
    t32 = tolerance("float32")
    expected = float(cosine(np.array([1.0, -1.0]), SIGNAL)[0])
    measured, checks, directions = {}, [], {}
    for relu in (False, True):
        model, w = fitted(x, y, relu)
        probe = x[y > 0] if relu else x  # the ReLU passes a signal only where it is active
        found = maps(model, probe, np.ones((len(probe), 1)))
        estimate = probe.astype(np.float64) @ w  # the linear neuron's output ŷ (up to its bias), before the ReLU
        pattern = np.cov(np.c_[probe, estimate].T)[:2, 2] / np.var(estimate, ddof=1)  # with a ReLU: its active part
        entry = {"w": w, "cos_w_signal": float(cosine(w, SIGNAL)[0]), "cos_w_distractor": float(cosine(w, DISTRACTOR)[0]),
                 "pattern": pattern, "cos_pattern_signal": float(cosine(pattern, SIGNAL)[0]), "samples": len(probe)}
        for rule in RULES:
            error = float(map_error(found[rule], np.broadcast_to(w, found[rule].shape)).max())
            entry[rule] = {"error_to_w": error, "cos_w": float(cosine(found[rule], w).mean()),
                           "cos_signal": float(cosine(found[rule], SIGNAL).mean())}
            checks.append(check(f"{model.name}: {NAMES[rule]} returns the filter w at every input (within the "
                                f"float32 tolerance {t32:g}), at cosine {expected:.4f} to the signal direction",
                                error <= t32 and abs(entry[rule]["cos_signal"] - entry["cos_w_signal"]) <= t32,
                                **entry[rule]))
            directions[rule] = found[rule][0]
        checks.append(check(f"{model.name}: the pattern cov(x, ŷ)/var(ŷ) points along the signal direction "
                            f"(cosine above the filter's {entry['cos_w_signal']:.4f})",
                            entry["cos_pattern_signal"] > entry["cos_w_signal"],
                            cos_pattern_signal=entry["cos_pattern_signal"], cos_w_signal=entry["cos_w_signal"]))
        measured[model.name] = entry
    setting = (f"The paper's toy data, {n} samples (seeded); the least-squares linear model (w = "
               f"({measured['linear']['w'][0]:.4f}, {measured['linear']['w'][1]:.4f})), and the same model with a "
               f"ReLU on its output explained on the {measured['linear_relu']['samples']} samples where y > 0; maps "
               f"by refdeconv's float32 explainers, seed 1 at the output.")
    return {"setting": setting, "measured": measured, "checks": checks,
            "figure": context.save(_figure(x, y, measured["linear"], directions), f"{KEY}.png")}


def _figure(x, y, entry, directions):
    from matplotlib import pyplot as plt

    fig, ax = plt.subplots(figsize=(6.0, 4.6))
    points = ax.scatter(x[:400, 0], x[:400, 1], c=y[:400], cmap="coolwarm", s=6, alpha=0.6)
    fig.colorbar(points, ax=ax, shrink=0.8, pad=0.03).set_label("point colour: the target y", fontsize=9)
    arrows = [("signal a_s", SIGNAL, "black", "-"), ("distractor a_d", DISTRACTOR, "grey", "-"),
              ("pattern a (estimated)", entry["pattern"], "green", "-")] + [
        (f"{NAMES[r]} map", directions[r], color, style)
        for r, color, style in zip(RULES, ("C0", "C1", "C3"), ("-", "--", ":"))]
    for name, v, color, style in arrows:
        v = np.asarray(v, np.float64) / np.linalg.norm(v) * 2.0
        ax.annotate("", xy=v, xytext=(0, 0), arrowprops=dict(arrowstyle="->", color=color, lw=2, linestyle=style))
        ax.plot([], [], color=color, linestyle=style, lw=2, label=name)
    ax.set_aspect("equal")
    ax.set_xlim(-3, 3)
    ax.set_ylim(-3, 3)
    ax.set_xlabel("x1")
    ax.set_ylabel("x2")
    ax.legend(fontsize=8, loc="upper left")
    ax.set_title(f"maps = filter w, cosine {entry['cos_w_signal']:.3f} to the signal", fontsize=10)
    return fig
