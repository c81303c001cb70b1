"""Writing an audit :class:`~refdeconv.conformance.audit.Report`: the printed table, ``report.json``,
``report.md`` and ``report.png``.

The table gives, per case, the scaled error of the candidate's map against each
rule's reference (``refdeconv.testing.map_error``, worst sample), the rule it
matches and whether it passes; the findings below it group the cases by the
rule the candidate matched instead of the asked one. For an audit of the
user's own model the cases are its input maps, and two lines say where inputs
and targets came from and which layers the reference modelled. The figure shows, per
case, one sample's map from the candidate next to the reference's
(channels summed); it needs matplotlib (``pip install "refdeconv[plot]"``)
and is skipped with a notice without it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

LEGEND = "scaled error of the map against each rule's reference (tolerance: refdeconv.testing.TOLERANCES of the dtype)"
_COLUMNS = ("case", "inputs", "dtype", "ties", "deconvnet", "gradient", "guided", "matches", "result")


def _rows(report) -> list[tuple]:
    rows = []
    for e in report.cases:
        errors = [f"{e['errors'][r]:.2e}" if e["errors"] else "-" for r in ("deconvnet", "gradient", "guided")]
        rows.append((e["name"], str(tuple(e["input_shape"])), e["dtype"] or "-", "yes" if e["ties"] else "no",
                     *errors, e["matches"], "pass" if e["passed"] else "FAIL"))
    return rows


def summary(report) -> str:
    """One line: how many cases (a model's input maps) pass, and what was audited for which rule."""
    verdict = "PASS" if report.failed == 0 else "FAIL"
    unit, on = ("maps", f" on model {report.model['name']!r}") if report.model else ("cases", "")
    return (f"{verdict}: {report.passed} of {len(report.cases)} {unit} pass; "
            f"{report.candidate} audited for the {report.rule} rule{on}")


def _counted(types: list) -> str:
    counts: dict = {}
    for kind in types:
        counts[kind] = counts.get(kind, 0) + 1
    return ", ".join(f"{kind} x{n}" if n > 1 else kind for kind, n in counts.items())


def about_model(report) -> list[str]:
    """For an audit of the user's model: where inputs and targets came from, and the layers the reference modelled."""
    m = report.model
    if not m:
        return []
    kinds = _counted([layer["type"] for layer in m["layers"]])
    cut = f"; cut at layer {m['output_layer']!r}" if m["output_layer"] is not None else ""
    same = [e["name"] for e in report.cases if e["errors"] and max(e["errors"].values()) <= e["tolerance"]]
    unit = "nodes" if m.get("format") == "onnx" else "layers"
    rules = "; ".join(f"{rule} at {kind}" for kind, rule in m.get("relu_rules", {}).items())
    return [f"model {m['name']!r}{cut}; inputs: {m['inputs']}; targets: {m['targets']}",
            f"the reference models all {len(m['layers'])} {unit} of the audited model: {kinds}",
            *([f"forward pass checked against {m['forward_check']}"] if m.get("forward_check") else []),
            *([f"nonlinearities other than ReLUs keep their own derivative under every rule: {_counted(kept)}"]
              if (kept := [n["type"] for n in m["layers"] if n.get("keeps_derivative")]) else []),
            *([f"rule measured at each kind of ReLU in the maps: {rules}"] if rules else []),
            *([f"the maps fit the seed convention: {m['seed']}"] if "seed" in m else []),
            *([f"near ties at {'; '.join(m['near_ties'])}: a non-zero maximum has a rival within rounding, so "
               "rounding, not the model, picks the switch; a map failing there may be right (docs/verification.md)"]
              if m.get("near_ties") else []),
            *([f"the three rules give the same map on {', '.join(same)}: there the audit cannot tell them apart"]
              if same else [])]


def findings(report) -> list[str]:
    """One line per rule (or error) the candidate showed instead of the asked rule."""
    lines, seen = [], {}
    for e in report.cases:
        if not e["passed"]:
            what = "raised or returned a bad map" if e["error"] else f"matches {e['matches']}"
            seen.setdefault(what, []).append(e["name"])
    for what, names in seen.items():
        lines.append(f"{what} on {len(names)} case(s): {', '.join(names)}")
    lines += [f"{e['name']}: {e['error']}" for e in report.cases if e["error"]]
    return lines


def table(report) -> str:
    """The plain-text table, its legend, the findings and the summary."""
    rows = [_COLUMNS, *_rows(report)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(_COLUMNS))]
    lines = [LEGEND]
    lines += ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    return "\n".join([*lines, "", *about_model(report), *findings(report), summary(report)])


def markdown(report) -> str:
    """``report.md``: versions, summary, the table, the findings."""
    meta = report.as_json()
    head = ["# refdeconv audit", "",
            f"- candidate: `{report.candidate}`, asked rule: `{report.rule}`",
            f"- refdeconv {meta['refdeconv_version']}, TensorFlow {meta['tensorflow_version']}",
            f"- {summary(report)}", *(f"- {line}" for line in about_model(report)), "",
            f"{LEGEND}; `refdeconv.testing.map_error`, worst sample.", "",
            "| " + " | ".join(_COLUMNS) + " |", "|" + "---|" * len(_COLUMNS)]
    rows = ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in _rows(report)]
    found = [f"- {line}" for line in findings(report)]
    return "\n".join([*head, *rows, *(["", "## Findings", "", *found] if found else [])]) + "\n"


def _image(m: np.ndarray) -> np.ndarray:
    """One sample's map as a 2-D image: ``(W,)`` a strip, ``(T, W)`` as is, ``(H, W, C)`` summed over C."""
    m = np.asarray(m, np.float64)
    return m[None] if m.ndim == 1 else m if m.ndim == 2 else m.sum(axis=-1)


def figure(report, path: Path) -> bool:
    """Write ``report.png``; ``False`` (and a notice on stderr) without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib import pyplot as plt
    except ImportError:
        print("report.png skipped: matplotlib is not installed (pip install \"refdeconv[plot]\")", file=sys.stderr)
        return False
    per_row = 4
    rows = max(1, -(-len(report.cases) // per_row))
    fig, axes = plt.subplots(rows, 2 * per_row, figsize=(2 * per_row * 1.6, rows * 1.7), squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    for k, entry in enumerate(report.cases):
        got, expected = report.maps[entry["name"]]
        scale = float(np.abs(expected).max()) or 1.0
        color = "black" if entry["passed"] else "red"
        for j, (m, label) in enumerate(((got, "candidate"), (expected, f"reference {report.rule}"))):
            ax = axes[k // per_row, 2 * (k % per_row) + j]
            if m is None:
                ax.text(0.5, 0.5, "error", ha="center", va="center", color="red", transform=ax.transAxes)
            else:
                ax.imshow(_image(m), cmap="RdBu_r", vmin=-scale, vmax=scale, aspect="auto", interpolation="nearest")
            title = f"{entry['name']}\n{label}" if j == 0 else f"{entry['matches']}\n{label}"
            ax.set_title(title, fontsize=7, color=color)
    fig.suptitle(summary(report), fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.98))
    fig.savefig(path, dpi=72)
    plt.close(fig)
    return True


def write(report, out) -> list[Path]:
    """Write ``report.json``, ``report.md`` and (with matplotlib) ``report.png`` into ``out``; the paths written."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report.as_json(), indent=2) + "\n")
    (out / "report.md").write_text(markdown(report))
    png = [out / "report.png"] if figure(report, out / "report.png") else []
    return [out / "report.json", out / "report.md", *png]
