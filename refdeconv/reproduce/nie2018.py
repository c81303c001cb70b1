"""Class sensitivity on trained, random and partly trained weights (Nie, Zhang & Patel, ICML 2018).

Nie et al. explain why DeconvNet and Guided Backprop draw crisp, image-like maps that hardly change
with the class being explained, while the plain gradient's maps do change with it: the backward
ReLU and the local connections make them recover the image, not explain the decision. They show it
on a trained VGG-16 and on the same net with random or partly trained weights, so the behaviour is
the architecture's, not the training's. ``proofs/p10_class_sensitivity.py`` measures it on random
nets; here the same measure on the digits CNN (:func:`~refdeconv.reproduce.networks.digits_cnn`
with max-pooling) in three weight settings that share one initialisation:

- *trained*: :func:`~refdeconv.reproduce.networks.trained_digits` (kept for the run);
- *random*: the same net at its seeded initialisation, before any training;
- *partly trained*: that initialisation trained for :data:`PARTIAL_EPOCHS` epoch(s) only.

For each held-out digit ``x`` the map for the class with the largest logit ``t`` is compared with
the map for another class ``o`` drawn at random (seeded, the same draw for every setting), and,
as the baseline, with the map of another held-out digit ``x'`` for the same class ``t``: if a map
is class-insensitive but recovers the image, changing the class changes it less than changing the
input does.

Notes
-----
With ``M(x, k)`` the map of input ``x`` for class ``k`` under one rule (proofs/p10):

.. math::

    \\cos(a, b) = \\frac{\\langle a, b\\rangle}{\\lVert a\\rVert \\lVert b\\rVert}, \\qquad
    \\mathrm{rel}(a, b) = \\frac{\\lVert a - b\\rVert}{\\max(\\lVert a\\rVert, \\lVert b\\rVert)}

between classes: ``cos(M(x, t), M(x, o))``; between inputs (baseline):
``cos(M(x, t), M(x', t))``. Independent directions give cosine 0 and relative distance about
``sqrt(2)``. The checks, per weight setting, compare means over the inputs: DeconvNet's and
Guided Backprop's between-class cosine above the gradient's (Nie et al.'s contrast), and above
their own between-input cosine (class-insensitive, yet input-specific). No threshold is tuned.
"""

from __future__ import annotations

import numpy as np

from .similarity import cosine, summary
from .study import NAMES, RULES, check, explainer, unheld

KEY = "nie2018"
TITLE = "Class sensitivity on trained, random and partly trained weights"
CITATION = ("W. Nie, Y. Zhang, A. Patel (2018). A Theoretical Explanation for Perplexing Behaviors of "
            "Backpropagation-based Visualizations. ICML 2018 (PMLR 80), arXiv:1805.07039.")
CLAIM = ("DeconvNet and Guided Backprop maps are essentially class-insensitive (they do partial image "
         "recovery): the maps for different classes are almost the same, whereas the gradient's maps change "
         "with the class; this holds for trained, random and partly trained weights alike.")
ORIGINAL = ("VGG-16 on ImageNet images (224 x 224): trained weights, random weights and partly trained "
            "weights; saliency maps for different classes of the same image compared visually.")

#: Epochs of the partly trained net (both modes); the trained net gets ``trained_digits``'s epochs.
PARTIAL_EPOCHS = 1
SETTINGS = ("trained", "random", "partly trained")


def relative(a, b) -> np.ndarray:
    """``|a - b| / max(|a|, |b|)`` per sample (proofs/p10's relative distance); 0 where both are 0."""
    fa, fb = (np.asarray(m, np.float64).reshape(len(m), -1) for m in (a, b))
    scale = np.maximum(np.linalg.norm(fa, axis=1), np.linalg.norm(fb, axis=1))
    return np.where(scale > 0, np.linalg.norm(fa - fb, axis=1) / np.where(scale > 0, scale, 1.0), 0.0)


def weights(context) -> dict:
    """``{setting: (weights, held-out accuracy or None, epochs)}``, all three from one seeded initialisation
    (the trained net's epochs are read from its optimizer's step count: batches of 64)."""
    import keras

    from .data import digits
    from .networks import digits_cnn, train, trained_digits

    trained, accuracy = trained_digits(context, "max")
    keras.utils.set_random_seed(context.seed)  # as trained_digits does: the same initial weights
    partly = digits_cnn("max")
    initial = partly.get_weights()
    x, y, x_test, y_test = digits(context.seed)
    partial_accuracy = train(partly, x, y, x_test, y_test, PARTIAL_EPOCHS, context.seed)
    epochs = int(trained.optimizer.iterations.numpy()) // -(-len(x) // 64)  # steps / batches per epoch
    return {"trained": (trained.get_weights(), accuracy, epochs), "random": (initial, None, 0),
            "partly trained": (partly.get_weights(), partial_accuracy, PARTIAL_EPOCHS)}


def run(context) -> dict:
    import keras

    from .data import digits
    from .networks import digits_cnn

    n = context.size(16, 64)
    _, _, x_test, y_test = digits(context.seed)
    x = x_test[:n]
    rng = np.random.default_rng([context.seed, 2018])
    offsets = rng.integers(1, 10, n)  # the other class is (top + offset) mod 10: never the top class
    partner = np.roll(np.arange(n), 1)  # the baseline's other input
    settings = weights(context)
    keras.utils.set_random_seed(context.seed)
    net = digits_cnn("max")  # one working net: the explainers are made once and see new weights
    explainers = {rule: explainer(rule)(net) for rule in RULES}

    measured, examples = {}, {}
    for setting in SETTINGS:
        values, accuracy, epochs = settings[setting]
        net.set_weights(values)
        logits = np.asarray(net(x_test))
        top = logits[:n].argmax(1)
        other = (top + offsets) % 10
        row = {"epochs": epochs,
               "accuracy": float((logits.argmax(1) == y_test).mean()) if accuracy is None else accuracy}
        examples[setting] = {"top": int(top[0]), "other": int(other[0])}
        for rule, e in explainers.items():
            m_top = np.asarray(e.explain(x, top), np.float64)
            m_other = np.asarray(e.explain(x, other), np.float64)
            m_input = np.asarray(e.explain(x[partner], top), np.float64)
            row[rule] = {"between_classes": summary(cosine(m_top, m_other)),
                         "between_inputs": summary(cosine(m_top, m_input)),
                         "relative_distance": summary(relative(m_top, m_other))}
            examples[setting][rule] = (m_top[0, ..., 0], m_other[0, ..., 0])
        measured[setting] = row

    checks = []
    for setting in SETTINGS:
        row = measured[setting]
        mean = {rule: row[rule]["between_classes"]["mean"] for rule in RULES}
        base = {rule: row[rule]["between_inputs"]["mean"] for rule in RULES}
        checks.append(check(
            f"{setting} weights: DeconvNet's and Guided Backprop's mean cosine between the maps of two "
            f"classes is higher than the gradient's",
            mean["deconvnet"] > mean["gradient"] and mean["guided"] > mean["gradient"],
            deconvnet=mean["deconvnet"], guided=mean["guided"], gradient=mean["gradient"]))
        checks.append(check(
            f"{setting} weights: DeconvNet's and Guided Backprop's maps change less with the class than "
            f"with the input (mean cosine between classes above the mean cosine between two inputs' maps "
            f"for the same class)",
            mean["deconvnet"] > base["deconvnet"] and mean["guided"] > base["guided"],
            deconvnet_between_classes=mean["deconvnet"], deconvnet_between_inputs=base["deconvnet"],
            guided_between_classes=mean["guided"], guided_between_inputs=base["guided"]))

    convolutions = sum(type(layer).__name__ == "Conv2D" for layer in net.layers)
    why = _why(checks, convolutions)
    accuracies = ", ".join(f"{s} {measured[s]['accuracy']:.1%}" for s in SETTINGS)
    setting = (f"The digits CNN with max-pooling (8 x 8 scikit-learn digits), seed {context.seed}: trained for "
               f"{measured['trained']['epochs']} epochs, at its initialisation (random), and trained for "
               f"{PARTIAL_EPOCHS} epoch(s) from the same initialisation (partly trained); held-out accuracy "
               f"{accuracies}. {n} held-out digits; "
               f"the map for the top class against the map for a random other class (cosine, relative "
               f"distance), and as baseline against another digit's map for the same class.")
    return {"setting": setting, "measured": {"inputs": n, "partial_epochs": PARTIAL_EPOCHS, **measured},
            "checks": checks, "why": why, "figure": _figure(context, x[0, ..., 0], examples, measured)}


def _why(checks, convolutions) -> str:
    failed = unheld(checks)
    return (f"{failed}. The digits CNN is shallow ({convolutions} convolutions, 13 in VGG16), and Nie et al.'s "
            "argument makes class insensitivity grow with depth.") if failed else ""


def _figure(context, image, examples, measured):
    from matplotlib import pyplot as plt

    fig = plt.figure(figsize=(11, 7.6))
    grid = fig.add_gridspec(len(SETTINGS) + 1, 7, height_ratios=[1] * len(SETTINGS) + [1.6], hspace=0.55,
                            top=0.86)
    for i, setting in enumerate(SETTINGS):
        ex = examples[setting]
        ax = fig.add_subplot(grid[i, 0])
        ax.imshow(image, cmap="gray")
        ax.set_title(f"{setting}\ninput", fontsize=8)
        ax.axis("off")
        for j, rule in enumerate(RULES):
            for k, (m, label) in enumerate(zip(ex[rule], (f"top class {ex['top']}", f"class {ex['other']}"))):
                ax = fig.add_subplot(grid[i, 1 + 2 * j + k])
                scale = max(np.abs(m).max(), 1e-12)
                ax.imshow(m, cmap="RdBu_r", vmin=-scale, vmax=scale)
                ax.set_title(f"{NAMES[rule]}\n{label}", fontsize=7)
                ax.axis("off")
    ax = fig.add_subplot(grid[len(SETTINGS), :])
    width, positions = 0.26, np.arange(len(SETTINGS))
    for j, rule in enumerate(RULES):
        classes = [measured[s][rule]["between_classes"]["mean"] for s in SETTINGS]
        inputs = [measured[s][rule]["between_inputs"]["mean"] for s in SETTINGS]
        at = positions + (j - 1) * width
        ax.bar(at, classes, width, label=f"{NAMES[rule]}: two classes, same input")
        ax.scatter(at, inputs, marker="_", s=300, color="k", zorder=3,
                   label="two inputs, same class (baseline)" if j == 0 else None)
    ax.axhline(0, color="gray", lw=0.5)
    ax.set_xticks(positions, [f"{s} weights" for s in SETTINGS])
    ax.set_ylabel("mean cosine of maps")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.suptitle("Nie et al. 2018: do the maps change with the class? (digits CNN)", fontsize=10)
    fig.text(0.5, 0.94, "each map scaled to its own maximum |value|: red positive, blue negative, white 0", fontsize=8,
             ha="center", color="0.25")
    return context.save(fig, f"{KEY}.png")
