"""``explain`` and the user's own gradients on the same model, from several threads at once.

Covers issue 23, item 7 (d): new explainers (DeconvNet and Gradient), one explainer shared by
threads, and ``tf.GradientTape`` gradients of the same model, run concurrently (3 threads each,
4 rounds), never crash the process and each give the NumPy reference's values. Run in a child
process (``tests/threads_run.py``), bounded in time, so that a crash fails this test only.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "threads_run.py"
ROOT = SCRIPT.parents[1]


@pytest.mark.heavy  # a child process, about 7 s
def test_explain_and_tapes_in_threads_at_once_are_right():
    try:
        done = subprocess.run([sys.executable, str(SCRIPT)], cwd=ROOT, capture_output=True, text=True, timeout=240,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
    except subprocess.TimeoutExpired as err:
        raise AssertionError(f"timed out after 240 s: {(err.stdout or b'')[-3000:]!r}") from None
    assert done.returncode == 0 and done.stdout.strip() == "ok 48", (done.returncode, done.stdout[-3000:],
                                                                     done.stderr[-3000:])
