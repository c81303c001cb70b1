"""Input invariance (Kindermans, Hooker, Adebayo, Alber, Schütt, Dähne, Erhan & Kim, 2017/2019).

Two networks compute the same function on inputs that differ by a constant shift ``m``: the second
takes ``x + m`` and compensates the shift in its first layer's bias. Every activation from the first
layer up is the same, so every method whose map depends on the input only through the activations
(and on the weights above the first bias) gives the same map: the gradient, Guided Backprop and
DeconvNet. Gradient × input does not: it multiplies the same gradient by a shifted input.

Notes
-----
First layer affine, ``z = W x + b`` (a ``Dense``, or a convolution without zero padding, where every
output reads only real input pixels). With ``b' = b - W m``::

    W (x + m) + b' = W x + b,

so every activation above is equal, and each rule's backward pass (which reads the weights, the
ReLUs' signs and the switches, never the first bias) gives the same map ``M``; gradient × input
changes by ``m ⊙ M``. With zero padding the borders read padded zeros that are not shifted, and the
compensation is not exact: :func:`shifted` refuses it. Proposition 13 (``proofs/``) proves it on
random networks; this study measures it on trained ones.
"""

from __future__ import annotations

import keras
import numpy as np

from ..conformance.tolerances import map_error, tolerance
from .study import NAMES, RULES, check, maps

KEY = "kindermans2017"
TITLE = "Input invariance under a constant shift"
CITATION = ("Kindermans, Hooker, Adebayo, Alber, Schütt, Dähne, Erhan & Kim (2019). The (un)reliability of "
            "saliency methods. In Explainable AI: Interpreting, Explaining and Visualizing Deep Learning, "
            "LNCS 11700 (arXiv:1711.00867, 2017)")
CLAIM = ("A constant shift of the input, compensated in the first layer's bias, leaves the network and every "
         "activation unchanged; the gradient, Guided Backprop and DeconvNet maps are unchanged (input invariant), "
         "while gradient × input changes (as does Integrated Gradients with a zero baseline, not measured "
         "here).")
ORIGINAL = ("MNIST; a 3-layer ReLU multilayer perceptron trained on inputs in [0, 1], and a copy taking the inputs "
            "shifted by -1 (in [-1, 0]) with the first layer's bias compensated.")
SHIFT = -1.0


def shifted(model: keras.Model, m: float) -> keras.Model:
    """A copy of ``model`` that takes ``x + m`` and computes ``model(x)``: the first layer's bias becomes
    ``b - W m`` (computed in float64).

    Raises
    ------
    ValueError
        The first weighted layer is not a ``Dense`` or a convolution with ``padding="valid"``.
    """
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    first = next(layer for layer in copy.layers if layer.weights)
    if not (isinstance(first, keras.layers.Dense)
            or isinstance(first, keras.layers.Conv2D) and first.padding == "valid"):
        raise ValueError(f"model: the first weighted layer {first.name!r} must be a Dense or a valid convolution")
    kernel, bias = (np.asarray(w, np.float64) for w in first.get_weights())
    reads = kernel.reshape(-1, kernel.shape[-1]).sum(0)  # W m for a constant m: m times each unit's weight sum
    first.set_weights([kernel, bias - m * reads])
    return copy


def _mlp():
    L = keras.layers
    return keras.Sequential([keras.Input((8, 8, 1)), L.Flatten(), L.Dense(64, activation="relu"),
                             L.Dense(32, activation="relu"), L.Dense(10)], name="mlp")


def _cnn():
    L = keras.layers
    return keras.Sequential([keras.Input((8, 8, 1)), L.Conv2D(16, 3, activation="relu"),
                             L.Conv2D(32, 3, padding="same", activation="relu"), L.MaxPooling2D(2), L.Flatten(),
                             L.Dense(10)], name="cnn_valid")


def compare(model, x, y, m: float) -> dict:
    """The study's numbers for one network: forward and map differences between ``model`` on ``x`` and
    its :func:`shifted` copy on ``x + m``, scaled per sample as the tolerance table scales them."""
    from .. import reference

    twin = shifted(model, m)
    f1, f2 = np.asarray(model(x)), np.asarray(twin(x + m))
    before, after = maps(model, x, y), maps(twin, x + m, y)
    one_hot = np.eye(f1.shape[-1])[y]
    oracle = {rule: (reference.attribution(model, x, one_hot, rule), reference.attribution(twin, x + m, one_hot, rule))
              for rule in RULES}
    return {
        "forward": float(map_error(f2, f1).max()),
        "maps": {rule: float(map_error(after[rule], before[rule]).max()) for rule in RULES},
        "maps_reference": {rule: float(map_error(b, a).max()) for rule, (a, b) in oracle.items()},
        "gradient_x_input": float(map_error(after["gradient"] * (x + m), before["gradient"] * x).max()),
        "examples": (x, before, after),
    }


def run(context) -> dict:
    from .data import digits
    from .networks import train

    x_train, y_train, x_test, y_test = digits(context.seed)
    n, epochs = context.size(16, 64), context.size(3, 15)
    x, y = x_test[:n], y_test[:n]
    t32, t64 = tolerance("float32"), tolerance("float64")
    measured, checks, examples = {}, [], {}
    for make in (_mlp, _cnn):
        keras.utils.set_random_seed(context.seed)
        model = make()
        accuracy = train(model, x_train, y_train, x_test, y_test, epochs, context.seed)
        found = compare(model, x, y, SHIFT)
        examples[model.name] = found.pop("examples")
        measured[model.name] = dict(found, accuracy=accuracy)
        checks.append(check(f"{model.name}: the shifted network computes the same logits (within the float32 "
                            f"tolerance {t32:g})", found["forward"] <= t32, scaled_error=found["forward"]))
        for rule in RULES:
            e32, e64 = found["maps"][rule], found["maps_reference"][rule]
            checks.append(check(f"{model.name}: {NAMES[rule]} maps unchanged (explainer within {t32:g}, "
                                f"float64 reference within {t64:g})", e32 <= t32 and e64 <= t64,
                                explainer_error=e32, reference_error=e64))
        checks.append(check(f"{model.name}: gradient × input changes (beyond the float32 tolerance {t32:g})",
                            found["gradient_x_input"] > t32, scaled_change=found["gradient_x_input"]))
    setting = (f"scikit-learn's digits (8 × 8, in [0, 1]); a ReLU MLP (64-32-10) and a CNN whose first "
               f"convolution is valid, trained {epochs} epochs (held-out accuracy "
               f"{measured['mlp']['accuracy']:.1%} and {measured['cnn_valid']['accuracy']:.1%}); shift m = {SHIFT:g} "
               f"(inputs in [-1, 0]); {n} held-out digits, true labels; maps by refdeconv's float32 explainers and "
               f"the float64 reference, differences scaled per sample as the tolerance table scales them.")
    return {"setting": setting, "measured": measured, "checks": checks,
            "figure": context.save(_figure(examples["mlp"], SHIFT), f"{KEY}.png")}


def _figure(example, m: float):
    from matplotlib import pyplot as plt

    x, before, after = example
    columns = [("input", x[0], x[0] + m)] + [(NAMES[r], before[r][0], after[r][0]) for r in RULES] + [
        ("gradient × input", before["gradient"][0] * x[0], after["gradient"][0] * (x[0] + m))]
    fig, axes = plt.subplots(2, len(columns), figsize=(2.1 * len(columns), 5.0), layout="constrained")
    for j, (name, top, bottom) in enumerate(columns):
        scale = max(np.abs(top).max(), np.abs(bottom).max()) or 1.0
        for i, image in enumerate((top, bottom)):
            cmap, limits = ("gray", (-1, 1)) if j == 0 else ("RdBu_r", (-scale, scale))
            shown = axes[i, j].imshow(image[..., 0], cmap=cmap, vmin=limits[0], vmax=limits[1])
            axes[i, j].set_xticks([])
            axes[i, j].set_yticks([])
        axes[0, j].set_title(name, fontsize=9)
        bar = fig.colorbar(shown, ax=axes[:, j], orientation="horizontal", shrink=0.8, aspect=12)  # the column's scale
        bar.ax.tick_params(labelsize=7)
        bar.set_ticks([limits[0], 0, limits[1]], labels=[f"{limits[0]:.2g}", "0", f"{limits[1]:.2g}"])
    axes[0, 0].set_ylabel("x, network 1")
    axes[1, 0].set_ylabel(f"x {m:+g}, network 2")
    fig.suptitle("Kindermans et al. 2017: a shift compensated in the first bias (MLP on the digits)\n"
                 "each column on one scale (its bar): red positive, blue negative", fontsize=10)
    return fig
