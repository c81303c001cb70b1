"""Max-pool switches owned by refdeconv (``refdeconv.explainers.switches``).

Covers issue 23, item 1: inside refdeconv's traces every max-pool (1-, 2-, 3-D, ``valid`` and
``same`` padding, strides below, equal to and above the window, overlapping windows) sends each
window's signal to its first maximum in row-major window order, whatever kernel runs.

- :func:`unpool` on drawn geometries with integer values (ties everywhere) equals a loop written
  here from the definition, bitwise, and its window geometry is TensorFlow's forward pass's (each
  switch holds the pooled value TensorFlow computed).
- In child processes with oneDNN on and off (``TF_ENABLE_ONEDNN_OPTS``), the three rules' maps of
  tie-heavy pooling models are bitwise equal across the two builds and equal to the NumPy
  reference (TensorFlow's ``MaxPool3DGrad`` sends the signal to every tied maximum: measured, it
  made DeconvNet maps of a video net wrong by 0.73 of their scale).
- Outside refdeconv's traces, TensorFlow's own gradient is untouched.
"""

import itertools
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import assume, given
from hypothesis import strategies as st

from refdeconv import reference
from refdeconv.explainers import switches
from refdeconv.testing import assert_maps_close
from tests.switches_run import SPECS, build, inputs

SCRIPT = Path(__file__).resolve().parents[1] / "switches_run.py"
ROOT = SCRIPT.parents[1]
RULES = {"DeconvNet": "deconvnet", "Gradient": "gradient", "GuidedBackprop": "guided"}


def _switches(x, size, strides, before, pooled):
    """``{(n, *window, c): (maximum, its first position in row-major window order)}`` of ``x``
    for the windows of the pooled extents ``pooled``."""
    rank, found = len(size), {}
    for n, c in itertools.product(range(x.shape[0]), range(x.shape[-1])):
        for window in itertools.product(*[range(o) for o in pooled]):
            best, switch = -np.inf, None
            for offset in itertools.product(*[range(k) for k in size]):
                at = tuple(w * s + k - b for w, s, k, b in zip(window, strides, offset, before))
                if all(0 <= p < e for p, e in zip(at, x.shape[1:1 + rank])) and x[(n, *at, c)] > best:
                    best, switch = x[(n, *at, c)], at
            found[(n, *window, c)] = (best, switch)
    return found


def _kernel_geometry(shape, size, strides, padding):
    """The padding before the data (clamped at zero or not: kernels differ) under which TensorFlow's
    kernel pools a probe of distinct values (no ties) as the definition does."""
    probe = np.arange(np.prod(shape[1:-1]), dtype=np.float32).reshape(1, *shape[1:-1], 1)
    pooled = tf.nn.max_pool(probe, size, strides, padding).numpy()
    for clamped in (True, False):
        before = [switches.padding_before(n, o, k, s, padding, clamped)
                  for n, o, k, s in zip(shape[1:-1], pooled.shape[1:-1], size, strides)]
        found = _switches(probe, size, strides, before, pooled.shape[1:-1])
        if all(found[(0, *w, 0)][0] == pooled[(0, *w, 0)] for w in itertools.product(*map(range, pooled.shape[1:-1]))):
            return before
    raise AssertionError(f"no window geometry gives TensorFlow's pooling of {probe.ravel()}: {pooled.ravel()}")


def _unpooled_by_definition(x, y, u, size, strides, padding):
    """Each window's ``u`` added at its first maximum in row-major window order, under the window
    geometry of TensorFlow's kernel (each maximum checked to be TensorFlow's pooled value ``y``)."""
    found = _switches(x, size, strides, _kernel_geometry(x.shape, size, strides, padding), y.shape[1:-1])
    g = np.zeros_like(x)
    for n, c in itertools.product(range(x.shape[0]), range(x.shape[-1])):
        for window in itertools.product(*[range(o) for o in y.shape[1:-1]]):
            best, switch = found[(n, *window, c)]
            assert best == y[(n, *window, c)], f"window {window}: maximum {best}, TensorFlow pooled {y[(n, *window, c)]}"
            g[(n, *switch, c)] += u[(n, *window, c)]
    return g


@st.composite
def pools(draw):
    """``(input shape, window, strides, padding)`` of a 1-, 2- or 3-D max-pool with a non-empty output."""
    rank = draw(st.integers(1, 3), label="rank")
    size = tuple(draw(st.lists(st.integers(1, 3), min_size=rank, max_size=rank), label="window"))
    strides = tuple(draw(st.lists(st.integers(1, 3), min_size=rank, max_size=rank), label="strides"))
    extent = tuple(draw(st.lists(st.integers(1, 6), min_size=rank, max_size=rank), label="extent"))
    padding = draw(st.sampled_from(["VALID", "SAME"]), label="padding")
    assume(padding == "SAME" or all(n >= k for n, k in zip(extent, size)))
    return (draw(st.integers(1, 2), label="N"), *extent, draw(st.integers(1, 2), label="C")), size, strides, padding


@given(pool=pools(), seed=st.integers(0, 2**16), dtype=st.sampled_from(["float32", "float64", "float16"]))
def test_unpool_is_the_first_maximum_rule(pool, seed, dtype):
    shape, size, strides, padding = pool
    assume(len(size) < 3 or dtype == "float32")  # TensorFlow has a float32 MaxPool3D CPU kernel only
    rng = np.random.default_rng(seed)
    x = rng.integers(-1, 2, shape).astype(dtype)  # three values: windows tie often
    pool = tf.nn.max_pool if len(size) < 3 else tf.nn.max_pool3d
    y = pool(tf.constant(x), size, strides, padding)
    u = rng.integers(1, 4, y.shape).astype(dtype)
    befores = list(dict.fromkeys(tuple(switches.padding_before(n, o, k, s, padding, clamped)
                                       for n, o, k, s in zip(shape[1:-1], y.shape[1:-1], size, strides))
                                 for clamped in (True, False)))
    got = switches._unpooled(tf.constant(x), y, tf.constant(u), size, strides, befores, padding).numpy()
    expected = _unpooled_by_definition(x, y.numpy(), u, size, strides, padding)
    np.testing.assert_array_equal(got, expected, err_msg=f"unpool {shape} window {size} strides {strides} {padding}")


@pytest.mark.parametrize("graph", [False, True], ids=["eager", "graph"])
@pytest.mark.parametrize("extent", [5, 6, 7])
def test_where_kernels_plan_windows_differently_ties_follow_the_kernel(extent, graph):
    """A 3-D pool with a stride above its window and ``"SAME"`` padding: Eigen's kernel skips a
    leading position where oneDNN's does not. On an all-zero input every geometry's windows hold the
    pooled zeros, so only the kernel's own geometry (probed on distinct values) can place the switches;
    in a graph too, where a constant probe would be pooled at optimisation time by another kernel."""
    x = np.zeros((1, extent, 2, 1, 1), np.float32)
    y = tf.nn.max_pool3d(x, (1, 1, 1), (3, 1, 1), "SAME")
    u = np.arange(1, y.shape.num_elements() + 1, dtype=np.float32).reshape(y.shape)
    befores = list(dict.fromkeys(tuple(switches.padding_before(n, o, 1, s, "SAME", clamped)
                                       for n, o, s in zip(x.shape[1:-1], y.shape[1:-1], (3, 1, 1)))
                                 for clamped in (True, False)))
    unpooled = lambda x, y, u: switches._unpooled(x, y, u, (1, 1, 1), (3, 1, 1), befores, "SAME")  # noqa: E731
    got = (tf.function(unpooled) if graph else unpooled)(tf.constant(x), y, tf.constant(u)).numpy()
    np.testing.assert_array_equal(got, _unpooled_by_definition(x, y.numpy(), u, (1, 1, 1), (3, 1, 1), "SAME"))


def test_outside_a_trace_tensorflow_gradient_is_untouched():
    """The user's own gradient of a tied 3-D window stays TensorFlow's (every tied maximum)."""
    switches.install()
    x = tf.zeros((1, 2, 2, 2, 1))
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.nn.max_pool3d(x, 2, 2, "VALID")
    expected = tf.raw_ops.MaxPool3DGrad(orig_input=x, orig_output=y, grad=tf.ones_like(y), ksize=[1, 2, 2, 2, 1],
                                        strides=[1, 2, 2, 2, 1], padding="VALID")
    np.testing.assert_array_equal(tape.gradient(y, x).numpy(), expected.numpy())


def _maps_in_child(flag: str, out: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_ENABLE_ONEDNN_OPTS": flag}
    done = subprocess.run([sys.executable, str(SCRIPT), str(out)], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0 and done.stdout.rstrip().endswith("OK"), (done.stdout + done.stderr)[-3000:]
    with np.load(out) as saved:
        return dict(saved)


@pytest.mark.heavy  # two child processes, seven models, three rules: about 25 s
def test_switches_whatever_the_build(tmp_path):
    """oneDNN on and off: each build's maps equal the reference's of the forward pass that build ran
    (bitwise equal across builds where the forward passes agree), for every pooling model and rule."""
    builds = {flag: _maps_in_child(flag, tmp_path / f"{flag}.npz") for flag in ("1", "0")}
    for name in SPECS:
        for flag, maps in builds.items():
            model, x = build(keras, name), inputs(name)
            if not np.array_equal(maps[f"{name}/forward"], reference.forward(model, x)):
                model = build(keras, name, twin=True)  # this build's kernel planned the windows otherwise
                np.testing.assert_array_equal(maps[f"{name}/forward"], reference.forward(model, x), err_msg=name)
            for method, rule in RULES.items():
                expected = reference.attribution(model, x, np.arange(3), rule=rule)
                assert_maps_close(maps[f"{name}/{method}"], expected, "float32", f"{name}, {rule}, oneDNN {flag}")
                if np.array_equal(builds["0"][f"{name}/forward"], builds["1"][f"{name}/forward"]):
                    np.testing.assert_array_equal(builds["0"][f"{name}/{method}"], builds["1"][f"{name}/{method}"],
                                                  err_msg=f"{name}, {rule}: oneDNN on and off differ")


@pytest.mark.parametrize("data_format", ["NHWC", "NCHW"])
def test_pool_formats_in_a_trace(data_format):
    """A ``MaxPool`` op of either data format gets refdeconv's switches inside a trace."""
    if data_format == "NCHW" and not tf.config.list_physical_devices("GPU"):
        pytest.skip("TensorFlow's CPU build has no NCHW max-pool kernel (a GPU runs this case)")
    switches.install()
    from refdeconv.explainers.override import override

    x = tf.constant(np.random.default_rng(0).integers(-1, 2, (2, 6, 6, 3)).astype("float32"))
    nchw = data_format == "NCHW"

    @tf.function(autograph=False)
    def unpooled(x):
        with override("deconvnet"):
            inp = tf.transpose(x, [0, 3, 1, 2]) if nchw else x
            y = tf.nn.max_pool2d(inp, 3, 2, "SAME", data_format=data_format)
            y = tf.transpose(y, [0, 2, 3, 1]) if nchw else y
            return y, tf.gradients(y, x, grad_ys=tf.ones_like(y))[0]

    y, got = unpooled(x)
    expected = _unpooled_by_definition(x.numpy(), y.numpy(), np.ones(y.shape, "float32"), (3, 3), (2, 2), "SAME")
    np.testing.assert_array_equal(got.numpy(), expected)
