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


@pytest.fixture(scope="module")
def entry(quick_run, request):
    """``(folder, entry)``: the entry of the test module's study (its ``KEY``) in the session's quick run;
    the fields, verdict and figure every entry shares are checked once for all in ``test_results.py``."""
    return quick_run[0], quick_run[1][request.module.KEY]
