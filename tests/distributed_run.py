"""Run by ``tests/explainers/test_distributed.py`` in a fresh process: logical CPU devices (or a
worker of a two-process cluster) must be configured before TensorFlow starts.

``python tests/distributed_run.py replicas R``: with R logical CPUs, DeconvNet under
``MirroredStrategy`` (R replicas), ``OneDeviceStrategy`` and the strategy a model was built
under equals the one-device maps, in input order, for N = 0, 1, 2, R+1, 7 (arrays and Datasets).
``python tests/distributed_run.py replicas R --plant FAULT`` does the same with one of
:data:`FAULTS` planted first in a copy of ``distributed.run`` (the meta-tests of
``tests/explainers/test_distribution_faults.py``: the comparison must then fail).
``python tests/distributed_run.py worker I PORT0 PORT1 OUT``: worker I of a two-worker
``MultiWorkerMirroredStrategy`` on 127.0.0.1 explains the shared inputs and saves the gathered
maps to OUT.
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np


#: fault -> (line of ``refdeconv.explainers.distributed.run`` as written, the line planted).
FAULTS = {
    "replicas' maps gathered in reverse order": ("order = [results[r] for r in range(first, first + local)]",
                                                 "order = [results[r] for r in reversed(range(first, first + local))]"),
    "one replica's shard dropped, another's duplicated": ("order = [results[r] for r in",
                                                          "order = [results[first] for r in"),
    "the last shard's padding kept, the first rows dropped": ("for maps in order])[:n]", "for maps in order])[-n:]"),
}


def plant(fault: str) -> None:
    """Put a copy of ``distributed.run`` with ``fault`` planted where the explainer looks it up."""
    from refdeconv.explainers import distributed
    from tests.planting import planted_copy

    distributed.run = planted_copy(distributed.run, *FAULTS[fault])


def model_and_inputs(keras):
    """A seeded float64 conv/ReLU/max-pool/dense model and 7 inputs with their labels."""
    L = keras.layers
    inp = keras.Input((6, 6, 2), dtype="float64")
    h = L.MaxPooling2D(2, dtype="float64")(L.Conv2D(3, 3, padding="same", activation="relu", dtype="float64")(inp))
    model = keras.Model(inp, L.Dense(3, dtype="float64")(L.Flatten(dtype="float64")(h)))
    rng = np.random.default_rng(4)
    model.set_weights([rng.normal(size=w.shape) for w in model.get_weights()])
    return model, rng.normal(size=(7, 6, 6, 2)), np.arange(7) % 3


def replicas(count: int, fault: str | None = None) -> None:
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * count)
    if fault is not None:
        plant(fault)
    import keras

    from refdeconv import DeconvNet
    from refdeconv.testing import assert_maps_close

    model, x, labels = model_and_inputs(keras)
    devices = [d.name for d in tf.config.list_logical_devices("CPU")]
    mirrored = tf.distribute.MirroredStrategy(devices)
    with mirrored.scope():
        built_under, _, _ = model_and_inputs(keras)
    strategies = {"mirrored": (model, mirrored), "one device": (model, tf.distribute.OneDeviceStrategy(devices[-1])),
                  "the model's own": (built_under, None)}
    assert DeconvNet(built_under).strategy is mirrored, "the strategy the model was built under"
    for n in sorted({0, 1, 2, count + 1, 7}):
        want = DeconvNet(model, batch_size=4).explain(x[:n], labels[:n]).numpy()
        for name, (m, strategy) in strategies.items():
            explainer = DeconvNet(m, batch_size=4, strategy=strategy)
            got = explainer.explain(x[:n], labels[:n]).numpy()
            assert_maps_close(got, want, "float64", f"{name}, {count} replicas, N={n}, arrays")
            data = tf.data.Dataset.from_tensor_slices((x[:n], np.eye(3)[labels[:n]]))
            got = explainer.explain(data).numpy()
            assert_maps_close(got, want, "float64", f"{name}, {count} replicas, N={n}, Dataset")
    print("OK")


def worker(index: int, ports: list[str], out: str) -> None:
    os.environ["TF_CONFIG"] = json.dumps({"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
                                          "task": {"type": "worker", "index": index}})
    import keras
    import tensorflow as tf

    from refdeconv import DeconvNet

    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    model, x, labels = model_and_inputs(keras)
    maps = DeconvNet(model, batch_size=4, strategy=strategy).explain(x, labels).numpy()
    np.save(out, maps)
    print("OK")


if __name__ == "__main__":
    if sys.argv[1] == "replicas":
        replicas(int(sys.argv[2]), sys.argv[4] if sys.argv[3:4] == ["--plant"] else None)
    else:
        worker(int(sys.argv[2]), sys.argv[3:5], sys.argv[5])
