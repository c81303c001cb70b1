"""Explaining with ``tf.distribute``: maps over several replicas equal the one-device maps.

Covers: ``MirroredStrategy`` over 2 and 3 logical CPU devices, ``OneDeviceStrategy`` and the
strategy a model was built under, for N not divisible by the replicas, N smaller than the
replicas and N = 0, arrays and Datasets, in input order (each in a fresh process,
``tests/distributed_run.py``: logical devices must exist before TensorFlow starts); a two-worker
``MultiWorkerMirroredStrategy`` of two local processes on 127.0.0.1, bounded in time, whose
gathered maps equal the one-device maps on both workers; unsupported strategies and non-strategies
are refused naming ``strategy``; ``refdeconv explain --strategy mirrored`` writes the maps of a run without one.
"""

import os
import socket
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from refdeconv import DeconvNet
from refdeconv.testing import assert_maps_close
from tests.distributed_run import model_and_inputs

SCRIPT = Path(__file__).resolve().parents[1] / "distributed_run.py"
ROOT = SCRIPT.parents[1]


def _run(*args):
    return subprocess.Popen([sys.executable, str(SCRIPT), *map(str, args)], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})


def _finish(process, timeout=240) -> str:
    try:
        out, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        out, _ = process.communicate()
        raise AssertionError(f"timed out after {timeout} s:\n{out[-3000:]}") from None
    assert process.returncode == 0 and out.rstrip().endswith("OK"), out[-3000:]
    return out


@pytest.mark.parametrize("replicas", [2, pytest.param(3, marks=pytest.mark.heavy)])  # 3: heavy, the default run keeps under its 8 minutes (docs/verification.md, 'Time budget')
def test_replicas_of_one_machine_equal_one_device(replicas):
    _finish(_run("replicas", replicas))


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.mark.heavy  # the default run keeps under its 8 minutes (docs/verification.md, 'Time budget')
def test_two_workers_gather_the_one_device_maps(tmp_path):
    ports = _free_ports(2)
    workers = [_run("worker", i, *ports, tmp_path / f"maps{i}.npy") for i in range(2)]
    for process in workers:
        _finish(process)
    model, x, labels = model_and_inputs(keras)
    want = DeconvNet(model, batch_size=4).explain(x, labels).numpy()
    for i in range(2):
        assert_maps_close(np.load(tmp_path / f"maps{i}.npy"), want, "float64", f"worker {i}'s gathered maps")


def test_unsupported_strategies_are_refused():
    model, _, _ = model_and_inputs(keras)
    with pytest.raises(TypeError, match="strategy: expected a tf.distribute.Strategy"):
        DeconvNet(model, strategy="mirrored")
    central = tf.distribute.experimental.CentralStorageStrategy()
    with pytest.raises(ValueError, match="strategy: CentralStorageStrategy is not supported"):
        DeconvNet(model, strategy=central)


@pytest.mark.heavy  # the default run keeps under its 8 minutes (docs/verification.md, 'Time budget')
def test_the_command_line_writes_the_same_maps_with_a_strategy(tmp_path):
    """``refdeconv explain --strategy mirrored`` (one CPU replica here) writes, through its memory
    map, the maps of a run without a strategy."""
    model, x, labels = model_and_inputs(keras)
    model.save(tmp_path / "m.keras")
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "t.npy", labels)
    for name, extra in (("plain", []), ("mirrored", ["--strategy", "mirrored"])):
        run = subprocess.run([sys.executable, "-m", "refdeconv", "explain", "--model", tmp_path / "m.keras",
                              "--inputs", tmp_path / "x.npy", "--targets", tmp_path / "t.npy", "--batch-size", "2",
                              "--out", tmp_path / f"{name}.npy", *extra], cwd=ROOT, capture_output=True, text=True,
                             env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=240)
        assert run.returncode == 0, run.stderr[-2000:]
    assert_maps_close(np.load(tmp_path / "mirrored.npy"), np.load(tmp_path / "plain.npy"), "float64", "--strategy")
