"""Draw the site's figures when it is built (mkdocs-gen-files), from the project's own demo model.

Deterministic and without downloads: the generated-shapes CNN of ``refdeconv demo`` is trained
with seed 0 (about half a minute on 2 CPU cores), then

- ``figures/maps.png`` (landing page): held-out images and their DeconvNet, Guided Backprop and
  gradient maps, side by side;
- ``figures/relu_rule.png`` and ``figures/switches.png`` (method page): what each rule sends back
  at a ReLU, and DeconvNet's unpooling through a max-pool's switches, computed by the explainers;
- ``figures/audit.png`` and ``figures/audit_model.png`` (verification page): ``refdeconv audit``
  of a plain-gradient candidate posing as DeconvNet, on the suite's networks and (``--model``) on
  the demo model (the report's own figures);
- ``figures/class_sensitivity.png`` (proposition 10): DeconvNet maps of one input for each target
  class, beside the gradient's.

Each figure is written into the site being built, never into the repository.
"""

from __future__ import annotations

import io
import os
import tempfile
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import keras  # noqa: E402
import mkdocs_gen_files  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib import pyplot as plt  # noqa: E402

from refdeconv import DeconvNet, Gradient, GuidedBackprop  # noqa: E402
from refdeconv.cli.demo import SHAPES, train  # noqa: E402
from refdeconv.cli.plot import plot_maps  # noqa: E402
from refdeconv.conformance.audit import run as run_suite  # noqa: E402
from refdeconv.conformance.model_audit import run_model  # noqa: E402
from refdeconv.conformance.report import figure as report_figure  # noqa: E402

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
RULES = {"DeconvNet": DeconvNet, "Guided Backprop": GuidedBackprop, "Gradient": Gradient}


def warnings_off(draw):
    """Draw without the explainer's warnings (a max-pool alone has no ReLU: it says so)."""
    def quiet(*args):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return draw(*args)
    return quiet


def save(fig, name: str) -> None:
    """Write ``fig`` as ``figures/<name>`` of the site."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    with mkdocs_gen_files.open(f"figures/{name}", "wb") as f:
        f.write(buffer.getvalue())


def landing(model, x, labels) -> None:
    maps = {name: cls(model).explain(x, labels).numpy() for name, cls in RULES.items()}
    save(plot_maps(x, maps, titles=[SHAPES[k] for k in labels]), "maps.png")


def relu_rule() -> None:
    """Backward signal of one ReLU against the upstream signal ``u``, for ``z > 0`` and ``z < 0``."""
    relu = keras.Sequential([keras.Input((1,), dtype="float64"), keras.layers.ReLU(dtype="float64")])
    u = np.linspace(-1, 1, 41)
    fig, axes = plt.subplots(1, 2, figsize=(8, 3), sharey=True)
    for ax, z in zip(axes, (1.0, -1.0)):
        for (name, cls), style in zip(RULES.items(), ("-", "--", ":")):
            x = np.full((len(u), 1), z)
            back = cls(relu, batch_size=None, operator=lambda f, x, y: (f(x) * y)[:, 0]).explain(x, u[:, None])
            ax.plot(u, np.asarray(back)[:, 0], style, lw=2, label=name)
        ax.set_title(f"forward input z = {z:+.0f} ({'active' if z > 0 else 'inactive'})")
        ax.set_xlabel("upstream signal u")
        ax.axhline(0, color="grey", lw=0.5)
    axes[0].set_ylabel("signal sent back")
    axes[0].legend()
    save(fig, "relu_rule.png")


@warnings_off
def switches() -> None:
    """A 4x4 input, a 2x2 max-pool: its switches, and DeconvNet's unpooling of a signal through them."""
    pool = keras.Sequential([keras.Input((4, 4, 1), dtype="float64"), keras.layers.MaxPooling2D(2, dtype="float64"),
                             keras.layers.Flatten(dtype="float64")])
    x = np.random.default_rng(3).normal(size=(1, 4, 4, 1))
    u = np.array([[1.0, -0.5, 2.0, 0.75]])
    back = np.asarray(DeconvNet(pool).explain(x, u))[0, :, :, 0]
    fig, axes = plt.subplots(1, 3, figsize=(9, 3))
    for ax, (image, title) in zip(axes, ((x[0, :, :, 0], "input: the max of each 2x2 window is its switch"),
                                         (u.reshape(2, 2), "upstream signal at the pool's output"),
                                         (back, "DeconvNet: each signal sent to its switch"))):
        ax.imshow(image, cmap="RdBu_r", vmin=-np.abs(image).max(), vmax=np.abs(image).max())
        for (i, j), v in np.ndenumerate(image):
            ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=8)
        ax.set_title(title, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    save(fig, "switches.png")


def audit(model, x, labels) -> None:
    """The report figure of ``refdeconv audit --model``: a plain gradient posing as DeconvNet on the
    demo model, beside the same audit on the suite's networks (every case a pair of maps)."""
    fake = lambda m, xs, y: Gradient(m).explain(xs, y)  # noqa: E731
    for report, name in ((run_model(model, x, labels, fake, "deconvnet", name="gradient"), "audit_model.png"),
                         (run_suite(fake, "deconvnet", name="gradient"), "audit.png")):
        with tempfile.TemporaryDirectory() as folder:  # the report's figure is written to a path
            path = Path(folder) / name
            report_figure(report, path)
            with mkdocs_gen_files.open(f"figures/{name}", "wb") as f:
                f.write(path.read_bytes())


def class_sensitivity(model, x) -> None:
    rows = {name: [cls(model).explain(x, np.array([k])).numpy()[0, :, :, 0] for k in range(len(SHAPES))]
            for name, cls in (("DeconvNet", DeconvNet), ("Gradient", Gradient))}
    fig, axes = plt.subplots(2, 1 + len(SHAPES), figsize=(2.2 * (1 + len(SHAPES)), 4.6))
    for r, (name, maps) in enumerate(rows.items()):
        axes[r, 0].imshow(x[0, :, :, 0], cmap="gray")
        axes[r, 0].set_title("input", fontsize=9)
        for k, m in enumerate(maps):
            scale = np.abs(m).max() or 1.0
            axes[r, k + 1].imshow(m, cmap="RdBu_r", vmin=-scale, vmax=scale)
            axes[r, k + 1].set_title(f"{name}, target {SHAPES[k]}", fontsize=9)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle("mean cosine between the maps of different classes: "
                 + ", ".join(f"{name} {_mean_cosine(maps):.2f}" for name, maps in rows.items()), fontsize=10)
    save(fig, "class_sensitivity.png")


def _mean_cosine(maps) -> float:
    flat = [m.ravel() / (np.linalg.norm(m) or 1.0) for m in maps]
    return float(np.mean([a @ b for i, a in enumerate(flat) for b in flat[i + 1:]]))


model, accuracy, x_test, y_test = train(n_train=1500, epochs=3, seed=0, verbose=0)
x, labels = x_test[:4], y_test[:4]
landing(model, x, labels)
relu_rule()
switches()
audit(model, x, labels)
class_sensitivity(model, x[:1])
