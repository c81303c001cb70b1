"""When explanations lie: the backward signals of different classes converge (Sixt, Granz & Landgraf 2020).

Sixt et al. show that modified backpropagation rules whose backward signal is made non-negative (LRP-z+,
LRP-alpha-beta, DTD, Guided Backprop, DeconvNet ...) multiply the signal by non-negative matrices layer by
layer; such products converge to a matrix of rank one, so toward the input the signals of different
classes point the same way (their cosine similarity rises toward 1) and the map stops depending on the
class and on the later layers' parameters. The gradient does not converge.

What is measured here
---------------------
Four nets: the digits CNN with max-pooling and with average pooling
(:func:`~refdeconv.reproduce.networks.trained_digits`), each trained and with random weights (every layer
re-initialised by its own initialiser, :func:`~refdeconv.reproduce.networks.reinitialized`). On the first
``n`` held-out digits:

- **Class cosine per layer.** The backward signal at the input of each weighted layer (``conv1``'s input is
  the image) for each of the 10 classes, under each rule; per input, the mean cosine similarity over the 45
  pairs of classes; its mean and standard deviation over the inputs. The signal at the input of layer ``L``
  for class ``k`` is the map of the net's tail from ``L`` up (:func:`refdeconv.reproduce.signals.tail`, a copy with the same weights),
  taken at ``L``'s actual input: the reverse pass above ``L`` is the same in the whole net and in its tail.
  Both the activations and the maps come from the float64 oracle :mod:`refdeconv.reference` (the program
  does not return its intermediate cotangents; the tails keep to its public interface); the tests check
  one layer against refdeconv's explainers.
- **Propositions 5 and 6.** Without max-pooling DeconvNet's map does not depend on the input (every
  backward step ignores the forward pass); with max-pooling the input enters only through the switches.
  For each class, the DeconvNet maps of all inputs (the signals at the input above) against the first
  input's: cosine and scaled difference (:func:`refdeconv.testing.map_error`), on the four nets.
- **Independence of the later layers.** The ``logits`` layer re-initialised; per input, the cosine between
  the maps for its true label before and after, per rule, on both trained nets.

Notes
-----
Above the input of ``logits`` there is no ReLU: every rule's signal for class ``k`` is the ``k``-th column of
the logits kernel, the same for all rules, so the top level is each net's baseline. Below, with the rule's
backward ReLU ``r`` and the transposed Jacobian ``A_l^T`` of the linear parts, the signal is
``s_l(k) = A_l^T r(s_{l+1}(k))``. For DeconvNet ``r = relu`` never looks at the forward pass; if all
``A_l^T`` had non-negative entries the signals would converge to the leading (Perron) vector of their
product, independent of ``k``. The learned ``A_l`` have mixed signs: Sixt et al. argue that the rectified
signal still keeps a growing shared component, and the cosine per layer measures how much. The checks are
relative comparisons fixed here before any run: each rule's class cosine at the input against its own value
at the top, DeconvNet and Guided Backprop against the gradient, and the float64 tolerance of the table for
the exact propositions (the maps are the oracle's, float64). The random nets of both poolings share their
weights (each layer re-initialised with the same seed): they differ in the pooling only.

References
----------
.. [1] L. Sixt, M. Granz, T. Landgraf, "When Explanations Lie: Why Many Modified BP Attributions Fail",
   ICML 2020, arXiv:1912.09818.
"""

from __future__ import annotations

import numpy as np

from .networks import LAYERS, reinitialized, trained_digits
from .signals import signals
from .similarity import cosine, summary
from .study import NAMES, RULES, check, unheld

KEY = "sixt2020"
TITLE = "Convergence of the backward signals, layer by layer"
CITATION = ("L. Sixt, M. Granz, T. Landgraf (2020), \"When Explanations Lie: Why Many Modified BP Attributions "
            "Fail\", ICML 2020")
CLAIM = ("For modified backprop rules with a non-negative backward signal (Guided Backprop, DeconvNet, LRP-z+ ...), "
         "the backward signals of different classes converge layer by layer toward the input (their cosine "
         "similarity rises toward 1), so the maps become independent of the class and of the later layers' "
         "parameters; the gradient does not converge.")
ORIGINAL = ("VGG-16 on ImageNet and a small CNN on CIFAR-10, trained and random; the cosine similarity between "
            "the backward signals of different classes per layer, and maps after randomising the last layers.")

CLASSES = 10
#: The levels of the signals, from the input up: the input of each weighted layer (conv1's is the image).
LEVELS = LAYERS
NETS = ("max, trained", "average, trained", "max, random", "average, random")


def class_cosine(s: np.ndarray) -> np.ndarray:
    """Per input, the mean cosine similarity over the pairs of classes of ``s`` ``(n, classes, d)`` (0 for a zero signal)."""
    norms = np.linalg.norm(s, axis=-1, keepdims=True)
    unit = np.divide(s, norms, out=np.zeros_like(s), where=norms > 0)
    j, k = np.triu_indices(s.shape[1], 1)
    return np.einsum("icd,ied->ice", unit, unit)[:, j, k].mean(axis=1)


def between_inputs(m: np.ndarray) -> dict:
    """Propositions 5 and 6: the maps ``m`` ``(n, classes, d)`` of every input against the first input's, for each
    class: the smallest and mean cosine and the largest scaled difference (:func:`refdeconv.testing.map_error`)."""
    from ..testing import map_error

    n = len(m)
    cos = np.stack([cosine(m[:, k], np.repeat(m[:1, k], n, axis=0)) for k in range(m.shape[1])])
    err = np.stack([map_error(m[:, k], np.repeat(m[:1, k], n, axis=0)) for k in range(m.shape[1])])
    return {"min_cosine": float(cos.min()), "mean_cosine": float(cos.mean()), "max_scaled_difference": float(err.max())}


def run(context) -> dict:
    from ..testing import tolerance
    from .data import digits

    n = context.size(8, 32)
    _, _, x_test, y_test = digits(context.seed)
    x, y = x_test[:n], y_test[:n]
    trained = {pool: trained_digits(context, pool) for pool in ("max", "average")}
    nets = {f"{pool}, trained": model for pool, (model, _) in trained.items()}
    nets.update({f"{pool}, random": reinitialized(model, LAYERS, context.seed) for pool, (model, _) in trained.items()})

    per_level, inputs, invariance, kept = {}, {}, {}, {}
    for net, model in nets.items():
        levels = {name: signals(model, x, name, CLASSES, kept=kept) for name in LEVELS}
        invariance[net] = between_inputs(levels[LEVELS[0]]["deconvnet"])
        per_level[net] = {rule: summary_per_level([class_cosine(levels[name][rule]) for name in LEVELS]) for rule in RULES}
        inputs[net] = {rule: levels[LEVELS[0]][rule][np.arange(n), y] for rule in RULES}  # the maps for the true labels

    later = {}
    for pool in ("max", "average"):
        net = f"{pool}, trained"
        after = signals(reinitialized(nets[net], ("logits",), context.seed), x, LEVELS[0], CLASSES)
        later[net] = {rule: summary(cosine(inputs[net][rule], after[rule][np.arange(n), y])) for rule in RULES}
    tol = tolerance("float64")

    measured = {"inputs": n, "classes": CLASSES, "levels": list(LEVELS),
                "accuracy": {pool: acc for pool, (_, acc) in trained.items()},
                "class_cosine": per_level, "logits_randomised": later,
                "deconvnet_between_inputs": invariance, "tolerance": tol}

    def level(net, rule, name):
        return per_level[net][rule]["mean"][LEVELS.index(name)]

    def converges(rule):
        pairs = {net: [level(net, rule, LEVELS[0]), level(net, rule, LEVELS[-1])] for net in NETS}
        return check(f"{NAMES[rule]}: the class cosine at the input is higher than at the input of {LEVELS[-1]} "
                     "(convergence), on all four nets", all(a > b for a, b in pairs.values()),
                     **{f"{net} [input, {LEVELS[-1]}]": p for net, p in pairs.items()})

    at_input = {net: {rule: level(net, rule, LEVELS[0]) for rule in RULES} for net in NETS}
    above = check("At the input, DeconvNet's and Guided Backprop's class cosine is above the gradient's, on all four nets",
                  all(v["deconvnet"] > v["gradient"] and v["guided"] > v["gradient"] for v in at_input.values()),
                  **at_input)
    average = {net: v for net, v in invariance.items() if net.startswith("average")}
    largest = {net: v for net, v in invariance.items() if net.startswith("max")}
    prop5 = check(f"Average pooling: DeconvNet maps of different inputs for the same class are identical (cosine 1 and "
                  f"scaled difference within the float64 tolerance {tol:g}; proposition 5), trained and random",
                  all(1 - v["min_cosine"] <= tol and v["max_scaled_difference"] <= tol for v in average.values()),
                  **average)
    prop6 = check(f"Max-pooling: the input enters DeconvNet's maps through the switches (scaled difference between "
                  f"inputs above the tolerance {tol:g}; proposition 6), trained and random",
                  all(v["max_scaled_difference"] > tol for v in largest.values()), **largest)

    def independent(rule):
        pairs = {net: [later[net][rule]["mean"], later[net]["gradient"]["mean"]] for net in later}
        return check(f"After randomising the logits, {NAMES[rule]}'s map stays closer (cosine) to the original than the "
                     "gradient's, on both trained nets", all(a > g for a, g in pairs.values()),
                     **{f"{net} [{rule}, gradient]": p for net, p in pairs.items()})

    def rises(rule):  # the claim's "layer by layer": every step down, not only the two ends
        means = {net: per_level[net][rule]["mean"] for net in NETS}
        return check(f"{NAMES[rule]}: the class cosine rises at every layer from {LEVELS[-1]} down to the input "
                     "(monotone), on all four nets", all(all(a > b for a, b in zip(v, v[1:])) for v in means.values()),
                     **{f"{net} [{', '.join(LEVELS)}]": v for net, v in means.items()})

    checks = [converges("guided"), converges("deconvnet"), above, prop5, prop6, independent("guided"),
              independent("deconvnet"), rises("guided"), rises("deconvnet")]
    why = unheld(checks)
    if why:
        why = f"At this scale ({n} digits, a five-layer CNN on 8 x 8 images: four ReLU layers to converge over) {why}."
    accuracy = ", ".join(f"{pool} pooling {acc:.3f}" for pool, (_, acc) in trained.items())
    setting = (f"The digits CNN with max-pooling and with average pooling (held-out accuracy {accuracy}), trained and with "
               f"every layer re-initialised; {n} held-out inputs; the backward signals of all {CLASSES} classes at the "
               f"input of each of {', '.join(LEVELS)} (the float64 oracle on the net's tail from that layer up), mean "
               f"cosine over the {CLASSES * (CLASSES - 1) // 2} pairs of classes; DeconvNet maps of different inputs "
               f"for the same class; the maps after the logits are re-initialised, on both trained nets.")
    return {"setting": setting, "measured": measured, "checks": checks, "why": why,
            "figure": context.save(figure(measured), f"{KEY}.png")}


def summary_per_level(values: list) -> dict:
    """Mean and std over the inputs, one entry per level."""
    return {"mean": [float(v.mean()) for v in values], "std": [float(v.std()) for v in values]}


def figure(measured: dict):
    """Class cosine vs level (input at left) per net, the logits randomisation and the DeconvNet maps between inputs."""
    from matplotlib import pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(13, 7), gridspec_kw={"width_ratios": [1, 1, 0.8]})
    colours = dict(zip(RULES, ("tab:blue", "tab:orange", "tab:green")))
    ticks = ["input\n(conv1)", *LEVELS[1:]]
    for ax, net in zip(axes[:, :2].T.flat, NETS):
        for rule in RULES:
            c = measured["class_cosine"][net][rule]
            ax.errorbar(range(len(LEVELS)), c["mean"], yerr=c["std"], color=colours[rule], marker="o", ms=4, capsize=2,
                        label=NAMES[rule])
        ax.set_xticks(range(len(LEVELS)), ticks, fontsize=8)
        ax.set_ylim(-0.3, 1.05)
        ax.axhline(0, color="grey", lw=0.5)
        ax.set_title(f"{net} net", fontsize=10)
        ax.set_ylabel("mean cosine between classes", fontsize=8)
    axes[0, 0].legend(fontsize=8)
    for ax in axes[1, :2]:
        ax.set_xlabel("backward signal at the input of layer", fontsize=8)
    width = 0.38
    for i, net in enumerate(measured["logits_randomised"]):
        values = [measured["logits_randomised"][net][rule]["mean"] for rule in RULES]
        axes[0, 2].bar(np.arange(len(RULES)) + (i - 0.5) * width, values, width, label=net,
                       color=[colours[r] for r in RULES], alpha=1.0 if i == 0 else 0.55, edgecolor="black")
    axes[0, 2].set_xticks(range(len(RULES)), [NAMES[r] for r in RULES], fontsize=8)
    axes[0, 2].set_title("logits re-initialised:\ncosine of the map to the original", fontsize=10)
    from matplotlib.patches import Patch  # which bar is which net: grey proxies, as colour stands for the rule
    axes[0, 2].legend([Patch(facecolor="0.35" if i == 0 else "0.75", edgecolor="black")
                       for i, _ in enumerate(measured["logits_randomised"])],
                      [f"{net} net ({'left' if i == 0 else 'right'} bar)" for i, net in enumerate(measured["logits_randomised"])],
                      fontsize=7, loc="best")
    inv = measured["deconvnet_between_inputs"]
    axes[1, 2].bar(range(len(inv)), [1 - inv[p]["min_cosine"] for p in inv], color="tab:green", edgecolor="black")
    axes[1, 2].set_yscale("symlog", linthresh=1e-12)
    axes[1, 2].set_yticks([0, 1e-12, 1e-9, 1e-6, 1e-3, 1])
    axes[1, 2].axhline(measured["tolerance"], color="black", ls="--", lw=0.8, label="float64 tolerance")
    axes[1, 2].set_xticks(range(len(inv)), [p.replace(", ", "\n") for p in inv], fontsize=8)
    axes[1, 2].set_title("DeconvNet maps between inputs:\n1 - smallest cosine (0: input-independent)", fontsize=10)
    axes[1, 2].legend(fontsize=7, loc="center right")
    fig.suptitle("Backward signals of different classes, layer by layer (digits CNN)", fontsize=11)
    fig.tight_layout()
    return fig
