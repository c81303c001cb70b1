"""Render ``proofs/`` into the site at build time (mkdocs-gen-files): the pages are the proofs'
own docstrings and code, never copies kept by hand.

``proofs/README.md`` becomes ``proofs/index.md``; each ``proofs/pNN_*.py`` becomes a page titled
by its statement (the docstring's first line, "P5. Without max-pooling, ..."), which the
navigation shows in order, with the rest of its module docstring (Statement, Assumptions,
Derivation, References) as Markdown, followed by its executable checks. The docstring is read with ``ast``, so nothing is executed.
"""

import ast
from pathlib import Path

import mkdocs_gen_files

ROOT = Path(__file__).resolve().parent.parent / "proofs"

#: Figures drawn by ``docs/gen_figures.py`` in the same build, per proof page.
FIGURES = {
    "p10_class_sensitivity": (
        "## On the demo model\n\n"
        "![DeconvNet maps of one input for each target class, beside the gradient's](../figures/class_sensitivity.png)\n\n"
        "*Drawn when this site was built, on the trained three-block CNN of `refdeconv demo`: one input, "
        "one map per target class, and in the title the mean cosine between the maps of different classes "
        "for each method. The proposition's measurement is on deeper random networks (above); this shallow "
        "trained model shows how far the effect goes on a real one.*\n\n"),
}

for source in sorted(ROOT.glob("p[0-9][0-9]_*.py")):
    tree = ast.parse(source.read_text())
    doc = ast.get_docstring(tree) or ""
    body = source.read_text()
    with mkdocs_gen_files.open(f"proofs/{source.stem}.md", "w") as page:
        title, _, rest = doc.partition("\n")  # "P5. Without max-pooling, ...": the page's and the menu's title
        page.write(f"# {title.strip()}\n\n*`proofs/{source.name}`*\n\n{rest.strip()}\n\n")
        page.write(FIGURES.get(source.stem, ""))
        page.write("## The checks\n\n")
        page.write(f"Run alone with `python proofs/{source.name}`; collected by `pytest` in CI.\n\n")
        page.write(f'??? note "proofs/{source.name}"\n\n    ```python\n')
        page.write("".join(f"    {line}\n" for line in body.splitlines()))
        page.write("    ```\n")

index = (ROOT / "README.md").read_text()
for source in sorted(ROOT.glob("p[0-9][0-9]_*.py")):  # link the index's file names to their pages
    index = index.replace(f"`{source.name}`", f"[`{source.name}`]({source.stem}.md)")
with mkdocs_gen_files.open("proofs/index.md", "w") as page:
    page.write(index)
