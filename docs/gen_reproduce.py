"""Build the page "Published results, reproduced" (``reproduce.md``) when the site is built
(mkdocs-gen-files), from ``refdeconv reproduce`` run in the same build.

The studies run in full mode (seed 0) into a temporary folder; the page is written from its
``results.json`` alone, and its figures and ``results.json`` are copied into the site
(``figures/reproduce/``). Every number on the page comes from that run: nothing is typed here.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import mkdocs_gen_files  # noqa: E402

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
from refdeconv.reproduce import run  # noqa: E402

HELD = {True: "yes", False: "no", "partly": "partly"}


def number(value) -> str:
    """A measured value as the page shows it: 4 significant digits, lists and dicts spelled out."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return "[" + ", ".join(number(v) for v in value[:12]) + (", …" if len(value) > 12 else "") + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {number(v)}" for k, v in value.items()) + "}"
    return str(value)


def cell(text: str) -> str:
    """``text`` for a table cell: pipes and brackets escaped (``[a] = [1, 2]`` would read as a link)."""
    return str(text).replace("|", "\\|").replace("[", "\\[").replace("]", "\\]").replace("\n", " ")


def page(results: dict, environment: dict) -> str:
    total = sum(environment["seconds"].values())
    lines = [
        "# Published results, reproduced\n",
        "What the field has measured about DeconvNet, Guided Backprop and the gradient, measured again at small "
        "scale with refdeconv's explainers and its NumPy reference: each study beside the paper's claim and "
        "setting, the setting used here, the numbers and whether the claim held. Where a claim does not hold "
        "at this scale the study says why; no seed or setting was tuned to make a claim hold.\n",
        f"This page was generated when the site was built, by `refdeconv reproduce --out DIR` (full mode, seed "
        f"{environment['seed']}, {total:.0f} s on the build machine, TensorFlow "
        f"{environment['packages']['tensorflow']}); its output is here: "
        "[results.json](figures/reproduce/results.json), [run.json](figures/reproduce/run.json). "
        "Run it yourself with `pip install \"refdeconv[reproduce]\"` and `refdeconv reproduce --out DIR` "
        "(`--quick` for the test suite's small version).\n",
        "| study | paper | claim held |", "|---|---|---|",
    ]
    for key, entry in results.items():
        lines.append(f"| [{cell(entry['title'])}](#{key}) | {cell(entry['citation'].split(')')[0] + ')')} | "
                     f"**{HELD[entry['held']]}** |")
    for key, entry in results.items():
        lines += ["", f"## {entry['title']} {{#{key}}}", "",
                  f"`{key}` · **claim held: {HELD[entry['held']]}**", "",
                  f"**Paper.** {entry['citation']}", "", f"**Claim.** {entry['claim']}", "",
                  f"**Original setting.** {entry['original_setting']}", "", f"**Here.** {entry['setting']}", "",
                  "| check | measured | held |", "|---|---|---|"]
        for c in entry["checks"]:
            measured = "; ".join(f"{k} = {number(v)}" for k, v in c["measured"].items())
            lines.append(f"| {cell(c['claim'])} | {cell(measured)} | {'yes' if c['held'] else 'no'} |")
        if entry["why"]:
            lines += ["", '!!! note "Why it does not hold here"', "", f"    {cell(entry['why'])}"]
        lines += ["", f"![{cell(entry['title'])}](figures/reproduce/{entry['figure']})", "",
                  '??? note "Every number measured"', "", "    ```json"]
        lines += [f"    {line}" for line in json.dumps(entry["measured"], indent=1).splitlines()]
        lines += ["    ```"]
    return "\n".join(lines) + "\n"


with tempfile.TemporaryDirectory() as folder:
    results = run(folder)
    environment = json.loads((Path(folder) / "run.json").read_text())
    for path in Path(folder).iterdir():
        with mkdocs_gen_files.open(f"figures/reproduce/{path.name}", "wb") as f:
            f.write(path.read_bytes())
with mkdocs_gen_files.open("reproduce.md", "w") as f:
    f.write(page(results, environment))
