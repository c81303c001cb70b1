"""Check a built site (``python docs/check_site.py SITE``): the figures and the executed tutorial.

Run by ``.ci/run`` after ``mkdocs build --strict --site-dir SITE``. Fails (exit 1, one line per
problem) unless the landing, method, verification, proposition 10 and reproduce pages each show at least
one figure of ``figures/`` that this build wrote (a PNG file in SITE, newer than the build's
start given as ``--since`` seconds since the epoch, when given), and the tutorial page holds its
executed output (the checks' lines of :data:`TUTORIAL`).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

PAGES = ("index.html", "method/index.html", "verification/index.html", "proofs/p10_class_sensitivity/index.html",
         "reproduce/index.html")
PNG = b"\x89PNG\r\n\x1a\n"
#: What the executed tutorial prints: its maps checked, the wrong implementation caught, a projection checked.
TUTORIAL = ("equals the reference within", "does not implement the deconvnet rule",
            "equals the reference's map of its one-hot seed")


def problems(site: Path, since: float | None = None) -> list[str]:
    """What is missing from the built ``site``; empty when everything is there."""
    found = []
    for page in PAGES:
        html = (site / page).read_text() if (site / page).is_file() else ""
        if not html:
            found.append(f"{page}: not built")
            continue
        images = [(site / page).parent / src for src in re.findall(r'<img[^>]+src="([^"]*figures/[^"]+\.png)"', html)]
        fresh = [p for p in images if p.is_file() and p.read_bytes()[:8] == PNG
                 and (since is None or p.stat().st_mtime >= since)]
        if not fresh:
            found.append(f"{page}: no figure of figures/ written by this build")
    tutorial = site / "tutorial" / "index.html"
    text = tutorial.read_text() if tutorial.is_file() else ""
    if not all(phrase in text for phrase in TUTORIAL):
        found.append("tutorial/index.html: missing or not executed (its checks' output is not on the page)")
    return found


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("site", type=Path)
    parser.add_argument("--since", type=float, default=None)
    args = parser.parse_args(argv)
    found = problems(args.site, args.since)
    for line in found:
        print(f"check_site: {line}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
