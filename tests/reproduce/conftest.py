"""The studies' quick run, once per test session: every test of ``tests/reproduce`` reads the same
``results.json`` and figures (the quick mode trains a few small nets; running it once per test
module would multiply that by six)."""

import json

import pytest

pytest.importorskip("sklearn", reason="the reproduce extra (scikit-learn's digits) is not installed")
pytest.importorskip("skimage", reason="the reproduce extra (scikit-image's SSIM) is not installed")
pytest.importorskip("matplotlib", reason="the figures need matplotlib")


@pytest.fixture(scope="session")
def quick_run(tmp_path_factory):
    """``(folder, results)``: every study run in quick mode into a fresh folder, with its ``results.json``
    read back from the file (what a user gets, not the objects in memory)."""
    import matplotlib

    matplotlib.use("Agg")
    from refdeconv.reproduce import run

    out = tmp_path_factory.mktemp("reproduce")
    run(out, quick=True)
    return out, json.loads((out / "results.json").read_text())
