"""``docs/check_site.py``, run by ``.ci/run`` on the built site: figures on five pages, an executed tutorial.

Covers: a site with a fresh PNG of ``figures/`` on each page and the tutorial's output passes; a page
without a figure, a figure older than the build, and a tutorial page without its output are named.
"""

import importlib.util
import os
from pathlib import Path

SPEC = importlib.util.spec_from_file_location("check_site", Path(__file__).resolve().parents[2] / "docs" / "check_site.py")
check_site = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(check_site)
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 16


def _site(tmp_path: Path) -> Path:
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "a.png").write_bytes(PNG)
    for page in check_site.PAGES:
        path = tmp_path / page
        path.parent.mkdir(parents=True, exist_ok=True)
        up = "../" * page.count("/")
        path.write_text(f'<p><img alt="x" src="{up}figures/a.png"></p>')
    (tmp_path / "tutorial").mkdir()
    (tmp_path / "tutorial" / "index.html").write_text(
        "DeconvNet equals the reference within 0.0001 ... does not implement the deconvnet rule on model ... "
        "the top projection of feature 3 equals the reference's map of its one-hot seed")
    return tmp_path


def test_a_complete_site_passes(tmp_path):
    assert check_site.problems(_site(tmp_path)) == []


def test_missing_figures_old_figures_and_an_unexecuted_tutorial_are_named(tmp_path):
    site = _site(tmp_path)
    (site / "method" / "index.html").write_text("<p>no picture</p>")
    (site / "tutorial" / "index.html").write_text("<pre>code only</pre>")
    found = check_site.problems(site)
    assert found == ["method/index.html: no figure of figures/ written by this build",
                     "tutorial/index.html: missing or not executed (its checks' output is not on the page)"]
    os.utime(site / "figures" / "a.png", (0, 0))
    assert len(check_site.problems(site, since=1.0)) == len(check_site.PAGES) + 1
