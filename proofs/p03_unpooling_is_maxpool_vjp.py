"""P3. Unpooling through switches is the max-pool vector-Jacobian product, ties included.

Statement
---------
Let `m = maxpool(x)` be windowed max-pooling (1-D or 2-D, any pool size and
strides, `"valid"` or `"same"` padding). For each window `w` let its *switch*
`sigma(w)` be the position of its maximum, ties broken by taking the **first
maximum in row-major order within the window**. Define unpooling of a signal
`u` (of `m`'s shape) by

    unpool(u)[p] = sum over windows w with sigma(w) = p of u[w]

(overlapping windows that share a switch **accumulate**). Then `unpool` is the
vector-Jacobian product TensorFlow computes for max-pooling on CPU, it is what
the reference computes, and it is the DeconvNet map of a model made of one
max-pooling layer (no ReLU is involved, so every rule gives it).

The tie rule is part of the claim: "the average among tied maxima" and "the
last maximum" are other valid subgradient conventions, and they give other
maps (counterexample below).

Assumptions
-----------
- Windowed max-pooling (`MaxPooling1D/2D`, `tf.nn.max_pool`). Global max-pooling
  is `reduce_max` in TensorFlow, whose gradient splits the signal equally
  among tied maxima: a different tie rule, also checked below.
- Padding with `"same"` pads with `-inf` (padding never wins a window);
  TensorFlow puts `floor(total / 2)` of the padding before the data.
- CPU, TensorFlow 2.21 (DESIGN.md section 3: measured with oneDNN on and off).

Derivation
----------
1. Away from ties, `m[w] = x[sigma(w)]` with `sigma` locally constant in `x`, so
   `m` is locally the linear selection `x -> (x[sigma(w)])_w` and its VJP is the
   transposed selection: `x*[p] = sum_{w: sigma(w) = p} u[w]`, the accumulation
   over every window whose switch is `p` (Zeiler and Fergus's switches).
2. At a tie, `m` is not differentiable; any convex combination of the tied
   positions is a valid subgradient choice. TensorFlow's kernel records one
   index per window (the first maximum it meets scanning the window row by
   row) and scatters `u` to it; the reference's `switch_index` is `argmax`,
   which returns the first maximum in the same row-major order.
3. With integer inputs and integer `u`, every value and every accumulated
   sum is an exactly represented float, so the identity is checked
   bitwise, and ties are common: after a ReLU all-zero windows tie.
4. Counterexample to the other conventions: `x = 0` on a 3x3 grid, 2x2 windows
   with stride 1 (four overlapping, fully tied windows), `u = 1`:
   first maximum -> `[[1,1,0],[1,1,0],[0,0,0]]` (TensorFlow);
   last maximum -> `[[0,0,0],[0,1,1],[0,1,1]]`;
   average -> `[[.25,.5,.25],[.5,1,.5],[.25,.5,.25]]`.

References
----------
- M. D. Zeiler, R. Fergus, "Visualizing and Understanding Convolutional
  Networks", ECCV 2014, arXiv:1311.2901, sec. 2.1 ("Unpooling"), fig. 1.
- TensorFlow `MaxPoolGrad` / `MaxPoolGradWithArgmax` kernels (the first index
  found wins).
- DESIGN.md section 3 (max-pool switches).
"""

from __future__ import annotations

import tensorflow as tf
from _common import IMPLEMENTATIONS, keras, layer, maps, np, pytest, sequential

L = keras.layers

#: (pool size, strides, padding, input extent) per case; overlapping windows where strides < pool size.
CASES = [
    ((2, 2), (1, 1), "valid", (5, 6)),
    ((3, 3), (2, 2), "same", (7, 6)),
    ((3, 2), (1, 2), "same", (6, 5)),
    ((2, 2), (2, 2), "valid", (6, 6)),
    ((3,), (1,), "valid", (9,)),
    ((3,), (2,), "same", (8,)),
]
CHANNELS = 2


def unpool(x, u, pool, strides, padding, tie: str = "first") -> np.ndarray:
    """Unpooling written from the definition, window by window (2-D, NHWC).

    Parameters
    ----------
    x : numpy.ndarray
        Input of the max-pooling, ``(N, H, W, C)``.
    u : numpy.ndarray
        Signal at its output, ``(N, Ho, Wo, C)``.
    pool, strides : tuple of int
        Window size and strides.
    padding : {"valid", "same"}
    tie : {"first", "last", "average"}
        Which of several tied maxima receives the window's signal.

    Returns
    -------
    numpy.ndarray
        ``(N, H, W, C)``.
    """
    before = []
    for n, k, s, o in zip(x.shape[1:3], pool, strides, u.shape[1:3]):
        before.append(max((o - 1) * s + k - n, 0) // 2 if padding == "same" else 0)
    out = np.zeros_like(x, dtype=np.float64)
    for b, i, j, c in np.ndindex(u.shape):
        r0, q0 = i * strides[0] - before[0], j * strides[1] - before[1]
        cells = [(r, q) for r in range(r0, r0 + pool[0]) for q in range(q0, q0 + pool[1])
                 if 0 <= r < x.shape[1] and 0 <= q < x.shape[2]]  # row-major, padding left out
        top = max(x[b, r, q, c] for r, q in cells)
        winners = [cell for cell in cells if x[b, cell[0], cell[1], c] == top]
        chosen = {"first": winners[:1], "last": winners[-1:], "average": winners}[tie]
        for r, q in chosen:
            out[b, r, q, c] += u[b, i, j, c] / len(chosen)
    return out


def unpool_nd(x, u, case, tie: str = "first") -> np.ndarray:
    """:func:`unpool` for a 1-D (``(N, T, C)``) or 2-D case."""
    pool, strides, padding, _ = case
    if len(pool) == 2:
        return unpool(x, u, pool, strides, padding, tie)
    return unpool(x[:, None], u[:, None], (1, *pool), (1, *strides), padding, tie)[:, 0]


def tf_maxpool_vjp(x, u, case) -> np.ndarray:
    """TensorFlow's own gradient of ``<maxpool(x), u>`` (``tf.nn.max_pool``)."""
    pool, strides, padding, _ = case
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        score = tf.reduce_sum(tf.nn.max_pool(xt, pool, strides, padding.upper()) * u)
    return tape.gradient(score, xt).numpy()


def pool_model(case):
    """``Input -> MaxPooling -> Flatten``: its map for targets ``u`` (flattened) is ``unpool(u)``."""
    pool, strides, padding, extent = case
    cls = L.MaxPooling2D if len(pool) == 2 else L.MaxPooling1D
    return sequential((*extent, CHANNELS), layer(cls, pool, strides=strides, padding=padding), layer(L.Flatten))


def tied_case(case, seed: int = 0):
    """Integer inputs with many ties (``relu`` of integers in [-2, 2]) and integer signals ``u``."""
    rng = np.random.default_rng([seed, len(case[0])])
    x = np.maximum(rng.integers(-2, 3, (2, *case[3], CHANNELS)), 0).astype(np.float64)
    shape = tf.nn.max_pool(x, case[0], case[1], case[2].upper()).shape
    u = rng.integers(-3, 4, shape).astype(np.float64)
    return x, u


def check_unpooling_is_vjp(case, impl: str) -> None:
    """Bitwise: model map (``impl``) == unpooling by first maximum == TensorFlow's max-pool gradient."""
    x, u = tied_case(case)
    expected = unpool_nd(x, u, case, "first")
    np.testing.assert_array_equal(tf_maxpool_vjp(x, u, case), expected, err_msg=f"tf gradient {case}")
    got = maps(pool_model(case), x, u.reshape(len(u), -1), "deconvnet", impl)
    np.testing.assert_array_equal(got, expected, err_msg=f"{impl} DeconvNet map of a max-pool {case}")


def check_tie_counterexample(impl: str) -> None:
    """Derivation step 4: TensorFlow and ``impl`` give the first-maximum map, not the other two."""
    case = ((2, 2), (1, 1), "valid", (3, 3))
    x, u = np.zeros((1, 3, 3, 1)), np.ones((1, 2, 2, 1))
    first = np.array([[1.0, 1, 0], [1, 1, 0], [0, 0, 0]])[None, :, :, None]
    last = np.array([[0.0, 0, 0], [0, 1, 1], [0, 1, 1]])[None, :, :, None]
    average = np.array([[0.25, 0.5, 0.25], [0.5, 1, 0.5], [0.25, 0.5, 0.25]])[None, :, :, None]
    for tie, table in (("first", first), ("last", last), ("average", average)):
        np.testing.assert_array_equal(unpool(x, u, (2, 2), (1, 1), "valid", tie), table)
    model = sequential((3, 3, 1), layer(L.MaxPooling2D, 2, strides=1), layer(L.Flatten))
    got = maps(model, x, u.reshape(1, -1), "deconvnet", impl)
    np.testing.assert_array_equal(tf_maxpool_vjp(x, u, case), first)
    np.testing.assert_array_equal(got, first, err_msg=f"{impl}: ties must go to the first maximum")
    for other in (last, average):
        assert not np.array_equal(got, other)


def check_accumulation(impl: str) -> None:
    """Overlapping windows sharing one switch add their signals: the centre gets ``sum(u)``."""
    x = np.zeros((1, 3, 3, 1))
    x[0, 1, 1, 0] = 1.0
    u = np.array([1.0, 2.0, 3.0, 4.0]).reshape(1, 2, 2, 1)
    model = sequential((3, 3, 1), layer(L.MaxPooling2D, 2, strides=1), layer(L.Flatten))
    expected = np.zeros_like(x)
    expected[0, 1, 1, 0] = 10.0
    np.testing.assert_array_equal(maps(model, x, u.reshape(1, -1), "deconvnet", impl), expected)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize("case", CASES, ids=str)
def test_unpooling_is_the_maxpool_vjp(case, impl):
    check_unpooling_is_vjp(case, impl)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_ties_go_to_the_first_maximum(impl):
    check_tie_counterexample(impl)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_overlapping_windows_accumulate(impl):
    check_accumulation(impl)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_global_max_pool_splits_ties_equally(impl):
    """The limit: ``GlobalMaxPooling2D`` is ``reduce_max``, whose ties share the signal equally."""
    model = sequential((2, 3, 1), layer(L.GlobalMaxPooling2D))
    got = maps(model, np.zeros((1, 2, 3, 1)), np.ones((1, 1)), "deconvnet", impl)
    np.testing.assert_array_equal(got, np.full((1, 2, 3, 1), 1.0 / 6.0))


if __name__ == "__main__":
    import sys

    sys.exit(pytest.main([__file__, "-q"]))
