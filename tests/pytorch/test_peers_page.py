"""docs/peers.md is what docs/gen_peers.py writes now (issue 25, item 4).

The page audits Captum, zennit and Xplique on every architecture family; it holds no timing or
error magnitude, so the same versions write the same page. Regenerating it takes about 8 minutes
on 2 cores: the ``torch`` tier, which needs the peers (torch, onnx, captum, zennit, xplique).
A stale page fails with the first line that differs: run ``python docs/gen_peers.py``.
"""

import importlib.util
import runpy
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"

pytestmark = pytest.mark.torch


@pytest.mark.skipif(any(importlib.util.find_spec(p) is None for p in ("torch", "onnx", "captum", "zennit", "xplique")),
                    reason="the peers page needs torch, onnx, captum, zennit and xplique")
def test_the_committed_peers_page_is_what_the_script_writes(tmp_path):
    try:
        import xplique.attributions  # noqa: F401
    except ImportError as err:  # installed with --no-deps, without what it imports
        pytest.skip(f"xplique 2.0.2 does not import ({err}): pip install deprecated einops opencv-python-headless "
                    "scikit-learn scikit-image tensorflow-probability")
    generate = runpy.run_path(str(DOCS / "gen_peers.py"))["main"]
    written = generate(["--out", str(tmp_path / "peers.md")]).read_text().splitlines()
    committed = (DOCS / "peers.md").read_text().splitlines()
    differing = next((i for i, (a, b) in enumerate(zip(written, committed)) if a != b), None)
    assert written == committed, (
        f"docs/peers.md is stale (run python docs/gen_peers.py): line {differing} is now "
        f"{written[differing] if differing is not None else '(length differs)'!r}")
