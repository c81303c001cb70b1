"""Eager execution turned off in the process (issue 23, item 5).

Covers: after ``tf.compat.v1.disable_eager_execution()`` (which iNNvestigate and some SHAP
explainers call), building an explainer raises a ``RuntimeError`` up front, before it reads the
model, naming the cause and the way out (a separate process); it never fails later with
TensorFlow's ``'SymbolicTensor' object has no attribute 'numpy'``. Turning eager execution off
cannot be undone, so the check runs in a child process.
"""

import subprocess
import sys

CHILD = """
import tensorflow as tf
tf.compat.v1.disable_eager_execution()
import keras
from refdeconv import DeconvNet
model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="relu"), keras.layers.Dense(2)])
for what in (model, object()):  # the check comes first: before the model is read
    try:
        DeconvNet(what)
    except RuntimeError as err:
        print("RuntimeError:", err)
    else:
        print("no error")
"""


def test_explainer_refuses_a_process_without_eager_execution():
    done = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=300)
    lines = [line for line in done.stdout.splitlines() if line.startswith(("RuntimeError", "no error"))]
    assert done.returncode == 0 and len(lines) == 2, f"child failed: {done.stdout}\n{done.stderr[-3000:]}"
    for line in lines:
        assert line.startswith("RuntimeError"), f"DeconvNet built without eager execution: {line}"
        for word in ("tf.compat.v1.disable_eager_execution()", "eager execution", "separate process", "spawn"):
            assert word in line, f"the error does not mention {word!r}: {line}"
