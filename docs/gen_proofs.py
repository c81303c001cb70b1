"""Render ``proofs/`` into the site at build time (mkdocs-gen-files): the pages are the proofs'
own docstrings and code, never copies kept by hand.

``proofs/README.md`` becomes ``proofs/index.md``; each ``proofs/pNN_*.py`` becomes a page with
its module docstring (Statement, Assumptions, Derivation, References) as Markdown, followed by
its executable checks. The docstring is read with ``ast``, so nothing is executed.
"""

import ast
from pathlib import Path

import mkdocs_gen_files

ROOT = Path(__file__).resolve().parent.parent / "proofs"

for source in sorted(ROOT.glob("p[0-9][0-9]_*.py")):
    tree = ast.parse(source.read_text())
    doc = ast.get_docstring(tree) or ""
    body = source.read_text()
    with mkdocs_gen_files.open(f"proofs/{source.stem}.md", "w") as page:
        page.write(f"# {source.stem}\n\n{doc}\n\n## The checks\n\n")
        page.write(f"Run alone with `python proofs/{source.name}`; collected by `pytest` in CI.\n\n")
        page.write(f'??? note "proofs/{source.name}"\n\n    ```python\n')
        page.write("".join(f"    {line}\n" for line in body.splitlines()))
        page.write("    ```\n")

index = (ROOT / "README.md").read_text()
for source in sorted(ROOT.glob("p[0-9][0-9]_*.py")):  # link the index's file names to their pages
    index = index.replace(f"`{source.name}`", f"[`{source.name}`]({source.stem}.md)")
with mkdocs_gen_files.open("proofs/index.md", "w") as page:
    page.write(index)
