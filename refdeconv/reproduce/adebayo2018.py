"""Sanity checks for saliency maps: model and data randomisation (Adebayo et al. 2018).

Adebayo et al. ask whether a saliency method depends on what the network learned. Two tests:
*model randomisation* re-initialises the weights, from the top layer down (cascading) or one layer
at a time (independent), and *data randomisation* trains the same network on permuted labels; a
method whose maps barely change under either cannot be explaining the decision. They found that
the gradient passes both tests and that Guided Backprop does not: its maps stay nearly the same
until the lowest layers are randomised. DeconvNet was not in their paper; Nie et al. (2018) and
Sixt et al. (2020) predict that it behaves as Guided Backprop (it depends little on the top layers).

What is measured here
---------------------
The trained digits CNN with max-pooling (:func:`~refdeconv.reproduce.networks.trained_digits`);
the first ``n`` held-out test inputs with their true labels as targets; the maps of the three
rules computed by the float64 oracle :mod:`refdeconv.reference` (one compiled program per net).

- Cascading randomisation: the layers ``logits``, ``dense``, ``conv3``, ``conv2``, ``conv1``
  re-initialised cumulatively by their own initialisers (:func:`~refdeconv.reproduce.networks.reinitialized`,
  the run's seed); step 0 randomises nothing (a control: every similarity is 1).
- Independent randomisation: each of those layers alone.
- Data randomisation: the net trained on permuted labels
  (``trained_digits(context, "max", labels="permuted")``), its accuracy on the true labels reported.

After each, every input's map is compared with its map on the trained net by the measures of
Adebayo et al. (:mod:`~refdeconv.reproduce.similarity`): Spearman rank correlation of the absolute
maps (the headline measure, on which the checks are decided), without absolute values, and SSIM;
mean and standard deviation over the inputs per rule and step.

Notes
-----
Spearman's rank correlation of maps ``a`` and ``b`` of ``d`` pixels is the Pearson correlation of
their ranks, ``rho = cov(rank a, rank b) / (sd(rank a) sd(rank b))``; ``rho = 1`` when the two maps
order the pixels the same way. The checks are relative comparisons, fixed here before any run:
"the higher layers" are the two dense layers (``logits``, then ``logits`` + ``dense``), the classifier
on top of the convolutional features.

References
----------
.. [1] J. Adebayo, J. Gilmer, M. Muelly, I. Goodfellow, M. Hardt, B. Kim, "Sanity Checks for
   Saliency Maps", NeurIPS 2018, arXiv:1810.03292.
"""

from __future__ import annotations

import numpy as np

from .networks import LAYERS, reinitialized, trained_digits
from .similarity import spearman, ssim
from .study import NAMES, RULES, check, unheld

KEY = "adebayo2018"
TITLE = "Sanity checks: model and data randomisation"
CITATION = ("J. Adebayo, J. Gilmer, M. Muelly, I. Goodfellow, M. Hardt, B. Kim (2018), "
            "\"Sanity Checks for Saliency Maps\", NeurIPS 2018")
CLAIM = ("The gradient's maps change markedly when the model's weights are randomised (top layer down) "
         "or the net is trained on permuted labels; Guided Backprop's maps stay nearly the same until the "
         "lowest layers are randomised and change less than the gradient's with permuted labels. "
         "DeconvNet (not in the paper; "
         "predicted by Nie et al. 2018 and Sixt et al. 2020) behaves like Guided Backprop.")
ORIGINAL = ("Inception v3 on ImageNet (cascading and independent randomisation of its blocks, rank "
            "correlation and SSIM over ImageNet validation images), and a CNN and MLP on MNIST trained on "
            "true and on permuted labels.")

#: Similarity measures, in the order of the figure's panels; the checks use the first.
MEASURES = {"spearman_abs": "Spearman rank corr. (abs)", "spearman": "Spearman rank corr.", "ssim": "SSIM"}
#: The higher layers of the checks: the cascade steps that randomise only the dense classifier.
HIGHER = ("logits", "dense")
CASCADE = [LAYERS[len(LAYERS) - k:][::-1] for k in range(len(LAYERS) + 1)]  # (), (logits,), (logits, dense), ...


def oracle_maps(model, x, labels) -> dict:
    """``{rule: map}`` of ``model`` on ``x`` for ``labels``, float64, from the reference oracle."""
    from .. import reference

    found = reference.compile(model).maps([x], np.asarray(labels), RULES)
    return {rule: m[0] for rule, m in zip(RULES, found)}


class Randomised:
    """``model`` with some layers re-initialised, as :func:`~refdeconv.reproduce.networks.reinitialized` makes
    it (the same values: each layer's fresh weights are taken from one such copy per layer), in one working
    copy whose weights are set per call (a clone per step cost 0.2 s)."""

    def __init__(self, model, seed: int):
        copies = {name: reinitialized(model, (name,), seed) for name in LAYERS}
        self.fresh = {name: copy.get_layer(name).get_weights() for name, copy in copies.items()}
        self.trained = {name: model.get_layer(name).get_weights() for name in LAYERS}
        self.work = copies[LAYERS[-1]]

    def __call__(self, names):
        """The working copy with the layers ``names`` re-initialised and the others as trained."""
        for name in LAYERS:
            self.work.get_layer(name).set_weights(self.fresh[name] if name in names else self.trained[name])
        return self.work


def similarities(before: dict, after: dict) -> dict:
    """``{rule: {measure: per-input values}}`` of the maps ``after`` against ``before``."""
    return {rule: {"spearman_abs": spearman(before[rule], after[rule], True),
                   "spearman": spearman(before[rule], after[rule], False),
                   "ssim": ssim(before[rule], after[rule])} for rule in RULES}


def _stats(steps: list) -> dict:
    """Per rule and measure, the mean and std over the inputs at each step of ``steps``."""
    return {rule: {m: {"mean": [float(s[rule][m].mean()) for s in steps], "std": [float(s[rule][m].std()) for s in steps]}
                   for m in MEASURES} for rule in RULES}


def run(context) -> dict:
    from .data import digits

    n = context.size(16, 64)
    _, _, x_test, y_test = digits(context.seed)
    x, y = x_test[:n], y_test[:n]
    model, accuracy = trained_digits(context, "max")
    permuted, permuted_accuracy = trained_digits(context, "max", labels="permuted")
    randomised = Randomised(model, context.seed)
    original = oracle_maps(model, x, y)
    cascade_maps = [oracle_maps(randomised(names), x, y) for names in CASCADE]
    cascade = [similarities(original, m) for m in cascade_maps]
    independent = [similarities(original, oracle_maps(randomised((name,)), x, y)) for name in LAYERS[::-1]]
    data = similarities(original, oracle_maps(permuted, x, y))

    steps = ["none"] + [names[-1] for names in CASCADE[1:]]
    measured = {
        "inputs": n, "accuracy": accuracy, "permuted_labels_accuracy": permuted_accuracy,
        "cascade": {"steps": steps, **_stats(cascade)},
        "independent": {"layers": list(LAYERS[::-1]), **_stats(independent)},
        "data": {rule: {m: {"mean": float(v.mean()), "std": float(v.std())} for m, v in data[rule].items()}
                 for rule in RULES},
    }

    def at(rule, step):  # the headline measure along the cascade
        return measured["cascade"][rule]["spearman_abs"]["mean"][steps.index(step)]

    def on_data(rule):
        return measured["data"][rule]["spearman_abs"]["mean"]

    def above_gradient(rule):
        pairs = {step: [at(rule, step), at("gradient", step)] for step in HIGHER}
        return check(f"After randomising the higher layers ({', '.join(HIGHER)}, cumulatively), {NAMES[rule]}'s mean "
                     "rank correlation (abs) with its original maps stays above the gradient's",
                     all(a > g for a, g in pairs.values()), **{f"{step} [{rule}, gradient]": p for step, p in pairs.items()})

    def data_above_gradient(rule):
        return check(f"Data randomisation lowers the gradient's mean rank correlation (abs) more than {NAMES[rule]}'s",
                     on_data("gradient") < on_data(rule), gradient=on_data("gradient"), **{rule: on_data(rule)})

    def drops(rule):
        return check(f"{NAMES[rule]}'s maps change with the model: the mean rank correlation (abs) after "
                     f"randomising every layer is lower than after the logits alone",
                     at(rule, LAYERS[0]) < at(rule, "logits"), all_layers=at(rule, LAYERS[0]), logits=at(rule, "logits"))

    checks = [drops("gradient"), above_gradient("guided"), drops("guided"), above_gradient("deconvnet"),
              data_above_gradient("guided"), data_above_gradient("deconvnet")]
    why = unheld(checks)
    if why:
        why = (f"At this scale ({n} digits, 8 x 8 pixels, a five-layer CNN of held-out accuracy {accuracy:.3f}) "
               f"{why}.")
    if not checks[-1]["held"]:
        alone = measured["independent"]["deconvnet"]["spearman_abs"]["mean"][-1]
        guided_alone = measured["independent"]["guided"]["spearman_abs"]["mean"][-1]
        why += (" DeconvNet ignores the forward ReLUs, so its map is the transposed weights of every layer applied "
                "through the max-pooling switches (propositions 5 and 6): it follows the lowest layers, which training "
                f"on permuted labels changes too; randomising {LAYERS[0]} alone leaves its mean rank correlation (abs) "
                f"at {alone:.3f} (Guided Backprop {guided_alone:.3f}).")
    setting = (f"The digits CNN with max-pooling (8 x 8 scikit-learn digits; held-out accuracy {accuracy:.3f}); "
               f"{n} held-out inputs with their true labels; maps by the float64 oracle. Cascading randomisation of "
               f"{', '.join(LAYERS[::-1])} (each re-initialised by its own initialiser, cumulatively) and independent "
               f"randomisation of each; data randomisation: the same net trained on permuted labels (held-out accuracy "
               f"{permuted_accuracy:.3f} on the true labels). Similarity to the original maps: Spearman rank correlation "
               f"with and without absolute values, SSIM; mean over the inputs.")
    return {"setting": setting, "measured": measured, "checks": checks, "why": why,
            "figure": context.save(figure(measured, x[0], y[0], [original, *cascade_maps[1:]], steps), f"{KEY}.png")}


def figure(measured: dict, x0, y0, along: list, steps: list):
    """The cascading curves (one panel per measure, data randomisation as a marker at the right) and one
    input's maps along the cascade."""
    from matplotlib import pyplot as plt

    fig = plt.figure(figsize=(11, 8))
    top, bottom = fig.subfigures(2, 1, height_ratios=[1.1, 1])
    axes = top.subplots(1, len(MEASURES))
    colours = dict(zip(RULES, ("tab:blue", "tab:orange", "tab:green")))
    ticks = [s if i < 2 else f"+{s}" for i, s in enumerate(steps)] + ["labels\npermuted"]
    for ax, (m, label) in zip(axes, MEASURES.items()):
        for rule in RULES:
            curve = measured["cascade"][rule][m]
            ax.errorbar(range(len(steps)), curve["mean"], yerr=curve["std"], color=colours[rule], marker="o",
                        ms=4, capsize=2, label=NAMES[rule])
            ax.plot([len(steps)], [measured["data"][rule][m]["mean"]], color=colours[rule], marker="s", ms=7)
        ax.set_xticks(range(len(ticks)), ticks, rotation=45, fontsize=8)
        ax.set_title(label, fontsize=10)
        ax.axhline(0, color="grey", lw=0.5)
    axes[0].set_ylabel("similarity to the original maps")
    axes[0].legend(fontsize=8)
    top.subplots_adjust(left=0.07, right=0.98, top=0.88, bottom=0.2, wspace=0.25)
    top.suptitle("Similarity to the original maps vs layers randomised (cascade, top down); squares: labels permuted",
                 fontsize=10)
    # One row per rule, one column per step; the input in a column of its own, then a column for the rules' names.
    grid = bottom.subplots(len(RULES), len(along) + 2, gridspec_kw={"width_ratios": [1, 1.3] + [1] * len(along)})
    bottom.subplots_adjust(left=0.12, right=0.88, top=0.84, bottom=0.08, wspace=0.08, hspace=0.12)
    for ax in grid.flat:
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_frame_on(False)
    grid[0, 0].imshow(x0[..., 0], cmap="gray")
    grid[0, 0].set_title(f"input\n(label {y0})", fontsize=8)
    for j, tick in enumerate(ticks[:len(along)]):
        grid[0, 2 + j].set_title(tick, fontsize=8)
    for row, rule in zip(grid, RULES):
        for ax, maps in zip(row[2:], along):
            ax.imshow(maps[rule][0, ..., 0] / max(np.abs(maps[rule][0]).max(), 1e-300), cmap="bwr", vmin=-1, vmax=1)
        row[1].text(0.95, 0.5, NAMES[rule], fontsize=8, ha="right", va="center", transform=row[1].transAxes)
    bottom.text(0.5, 0.02, "each map scaled to its own maximum; red positive, blue negative", fontsize=8, ha="center")
    bottom.suptitle("One input's maps along the cascade (left to right: none randomised, then top layer down)", fontsize=10)
    return fig
