"""Child process of ``tests/explainers/test_threads.py``: ``explain`` and the user's own
``tf.GradientTape`` gradients on the same model, run from several threads at once.

Jobs: a new ``DeconvNet`` or ``Gradient`` explainer per call, one ``DeconvNet`` explainer shared by
its threads, and a tape gradient of the score. Prints one line ``ok <results checked>`` and exits
0 when every result equals the NumPy reference (DeconvNet maps, or the plain gradient for the
``Gradient`` explainer and the tape); prints the mismatches and exits 1 otherwise. A crash of TensorFlow shows as a
non-zero exit status (or a signal) to the parent, not as a failure of pytest itself.
"""

import sys
import threading

import keras
import numpy as np
import tensorflow as tf

from refdeconv import DeconvNet, Gradient, reference

L = keras.layers
THREADS, ROUNDS = (int(a) for a in sys.argv[1:3]) if len(sys.argv) > 2 else (3, 4)  # per job


def main() -> int:
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8, 8, 2)), L.Conv2D(4, 3, activation="relu"), L.MaxPooling2D(2),
                              L.Flatten(), L.Dense(6, activation="relu"), L.Dense(3)])
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 8, 8, 2)).astype("float32")
    labels = np.array([0, 1, 2, 1, 0])
    want = {rule: reference.attribution(model, x, labels, rule) for rule in ("deconvnet", "gradient")}
    tx = tf.constant(x)

    def tape():
        with tf.GradientTape() as g:
            g.watch(tx)
            score = tf.reduce_sum(model(tx, training=False) * tf.one_hot(labels, 3), axis=-1)
        return g.gradient(score, tx).numpy()

    want["tape"], want["shared"] = want["gradient"], want["deconvnet"]
    scale = {k: np.abs(v).max() for k, v in want.items()}
    shared = DeconvNet(model, batch_size=2)
    jobs = {"deconvnet": lambda: DeconvNet(model, batch_size=2).explain(x, labels).numpy(),
            "gradient": lambda: Gradient(model, batch_size=2).explain(x, labels).numpy(),
            "shared": lambda: shared.explain(x, labels).numpy(),
            "tape": tape}
    bad, done, start = [], [], threading.Barrier(THREADS * len(jobs))

    def worker(kind):
        start.wait()
        for _ in range(ROUNDS):
            try:
                got = jobs[kind]()
            except Exception as err:  # noqa: BLE001 - reported, not raised in a thread
                bad.append(f"{kind}: {type(err).__name__}: {err}")
                continue
            err = np.abs(got - want[kind]).max() / scale[kind]
            (done if err < 1e-5 else bad).append(f"{kind}: relative error {err:.3g}")

    threads = [threading.Thread(target=worker, args=(kind,)) for kind in jobs for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if bad:
        print("\n".join(bad))
        return 1
    print(f"ok {len(done)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
