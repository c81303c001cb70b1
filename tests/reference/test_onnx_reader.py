"""The ONNX reader's conventions and refusals (issue 25, item 1): the three rules written out by
hand on integer graphs, the tie rule of ONNX's max-pools, the boundaries of the ReLU family
(``Relu``, ``Clip``, ``Max(x, 0)``, a ``Relu`` capped by ``Min``), one rule per kind of ReLU,
several inputs, a batch fixed at 1, cuts, and every refusal with the argument it names.
"""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper

from refdeconv import reference
from tests.reference.onnx_graphs import graph

N = helper.make_node
A = np.array([[1.0, -2.0, 1.0], [2.0, 1.0, -1.0]])  # (2, 3)
B = np.array([[1.0, -1.0], [-2.0, 1.0], [1.0, 3.0]])  # (3, 2)


def dense_relu(relu="Relu"):
    """``y = act(x A) B`` with ``act`` a ReLU written as ``relu``."""
    act = {"Relu": [N("Relu", ["h"], ["r"])], "Clip": [N("Clip", ["h", "zero"], ["r"])],
           "Max": [N("Max", ["h", "zero"], ["r"])]}[relu]
    return graph([N("MatMul", ["x", "a"], ["h"]), *act, N("MatMul", ["r", "b"], ["y"])], (2,),
                 {"a": A, "b": B, "zero": np.array(0.0)})


X = np.array([[1.0, 1.0], [2.0, -1.0]])  # x A = [[3, -1, 0], [0, -5, 3]]: a unit at z = 0 in each sample
Y = np.array([[1.0, 0.0], [0.0, 1.0]])


def by_hand(rule):
    u = Y @ B.T  # the signal reaching the ReLU
    active = X @ A > 0
    s = {"gradient": u * active, "deconvnet": np.maximum(u, 0), "guided": np.maximum(u, 0) * active}[rule]
    return s @ A.T


@pytest.mark.parametrize("relu", ["Relu", "Clip", "Max"])
@pytest.mark.parametrize("rule", ["deconvnet", "gradient", "guided"])
def test_each_relu_writing_gets_the_rule_written_out_by_hand(relu, rule):
    model = dense_relu(relu)
    np.testing.assert_array_equal(reference.forward(model, X), np.maximum(X @ A, 0) @ B)
    np.testing.assert_array_equal(reference.attribution(model, X, Y, rule), by_hand(rule))
    assert reference.compile(model).relu_kinds == [relu]


def test_a_rule_per_kind_of_relu():
    nodes = [N("MatMul", ["x", "a"], ["h"]), N("Relu", ["h"], ["r"]), N("Clip", ["r", "zero", "six"], ["c"]),
             N("MatMul", ["c", "b"], ["y"])]
    model = graph(nodes, (2,), {"a": A, "b": B, "zero": np.array(0.0), "six": np.array(6.0)})
    oracle = reference.compile(model)
    assert oracle.relu_kinds == ["Clip", "Relu"]
    mixed = oracle.attribution(X, Y, {"Relu": "deconvnet", "Clip": "gradient"})
    u, active = Y @ B.T, X @ A > 0
    np.testing.assert_array_equal(mixed, np.maximum(u * active, 0) @ A.T)  # Clip masks, then Relu rectifies
    with pytest.raises(ValueError, match="rule: a dict must give each kind"):
        oracle.attribution(X, Y, {"Relu": "deconvnet"})
    with pytest.raises(ValueError, match="rule"):
        oracle.attribution(X, Y, {"Relu": "deconvnet", "Clip": "lrp"})


def test_boundaries_of_clip_and_of_a_relu_capped_by_min():
    """``Clip(0, 6)`` is inactive at 0 and at 6 (PyTorch's ReLU6, TensorFlow's fused Relu6);
    ``Relu -> Min(., 6) -> Max(., 0)`` (tf2onnx's clip_by_value) is one capped ReLU active at 6."""
    x = np.array([[0.0, 6.0, 3.0, 7.0, -1.0]])
    clip = graph([N("Clip", ["x", "zero", "six"], ["y"])], (5,), {"zero": np.array(0.0), "six": np.array(6.0)})
    np.testing.assert_array_equal(reference.attribution(clip, x, np.ones((1, 5)), "gradient"), [[0, 0, 1, 0, 0]])
    capped = graph([N("Relu", ["x"], ["r"]), N("Min", ["r", "six"], ["m"]), N("Max", ["m", "zero"], ["y"])], (5,),
                   {"zero": np.array(0.0), "six": np.array(6.0)})
    oracle = reference.compile(capped)
    assert oracle.relu_kinds == ["Clip"]
    np.testing.assert_array_equal(oracle.forward(x), np.clip(x, 0, 6))
    np.testing.assert_array_equal(oracle.attribution(x, np.ones((1, 5)), "gradient"), [[0, 1, 1, 0, 0]])
    np.testing.assert_array_equal(oracle.attribution(x, -np.ones((1, 5)), "deconvnet"), np.zeros((1, 5)))
    np.testing.assert_array_equal(oracle.attribution(x, np.ones((1, 5)), "deconvnet"), np.ones((1, 5)))


def test_max_pool_switches_take_the_first_maximum_in_row_major_order():
    x = np.array([[[[1.0, 2.0, 2.0], [2.0, 0.0, 1.0], [2.0, 2.0, 2.0]]]])  # (1, 1, 3, 3), NCHW
    model = graph([N("MaxPool", ["x"], ["y"], kernel_shape=[2, 2], strides=[1, 1])], (1, 3, 3))
    maps = reference.attribution(model, x, np.ones((1, 1, 2, 2)), "deconvnet")
    # windows: [[1,2],[2,0]] -> (0,1); [[2,2],[0,1]] -> (0,1); [[2,0],[2,2]] -> (1,0); [[0,1],[2,2]] -> (2,1)
    np.testing.assert_array_equal(maps[0, 0], [[0, 2, 0], [1, 0, 0], [0, 1, 0]])


def test_global_max_pool_switches_unless_tensorflow_wrote_it_and_reduce_max_splits_ties():
    x = np.array([[[[3.0, 1.0], [3.0, 3.0]]]])
    pool = graph([N("GlobalMaxPool", ["x"], ["y"])], (1, 2, 2))
    np.testing.assert_array_equal(reference.attribution(pool, x, np.ones((1, 1, 1, 1)), "gradient")[0, 0],
                                  [[1, 0], [0, 0]])
    pool.producer_name = "tf2onnx"  # Keras's export: TensorFlow's reduce_max gradient splits the tie
    np.testing.assert_allclose(reference.attribution(pool, x, np.ones((1, 1, 1, 1)), "gradient")[0, 0],
                               [[1 / 3, 0], [1 / 3, 1 / 3]], rtol=1e-15)
    reduce = graph([N("ReduceMax", ["x"], ["y"], axes=[2, 3], keepdims=0)], (1, 2, 2), opset=13)
    np.testing.assert_allclose(reference.attribution(reduce, x, np.ones((1, 1)), "gradient")[0, 0],
                               [[1 / 3, 0], [1 / 3, 1 / 3]], rtol=1e-15)


def test_several_inputs_by_name_or_in_order_and_a_cut():
    nodes = [N("Add", ["x", "z"], ["s"]), N("Relu", ["s"], ["r"]), N("MatMul", ["r", "b"], ["y"])]
    model = graph(nodes, (3,), {"b": B}, inputs={"z": (3,)})
    x, z = np.array([[1.0, -2.0, 0.5]]), np.array([[0.5, 1.0, -1.0]])
    in_order = reference.attribution(model, [x, z], Y[:1], "deconvnet")
    by_name = reference.attribution(model, {"z": z, "x": x}, Y[:1], "deconvnet")
    assert isinstance(by_name, dict) and isinstance(in_order, list)
    np.testing.assert_array_equal(by_name["x"], in_order[0])
    np.testing.assert_array_equal(by_name["z"], in_order[1])
    np.testing.assert_array_equal(reference.forward(model, [x, z], output_layer="r"), np.maximum(x + z, 0))
    with pytest.raises(ValueError, match=r"inputs: dict keys must be the model's input names \['x', 'z'\]"):
        reference.forward(model, {"x": x, "w": z})


def test_a_batch_fixed_at_one_runs_sample_by_sample():
    fixed = graph([N("MatMul", ["x", "a"], ["h"]), N("Relu", ["h"], ["r"]), N("Flatten", ["r"], ["y"])], (2,),
                  {"a": A}, batch=1)
    free = graph([N("MatMul", ["x", "a"], ["h"]), N("Relu", ["h"], ["r"]), N("Flatten", ["r"], ["y"])], (2,), {"a": A})
    x, y = np.array([[1.0, 1.0], [2.0, -1.0], [0.5, 3.0]]), np.eye(3)
    np.testing.assert_array_equal(reference.attribution(fixed, x, y, "deconvnet"),
                                  reference.attribution(free, x, y, "deconvnet"))
    two = graph([N("Relu", ["x"], ["y"])], (2,), batch=2)
    with pytest.raises(ValueError, match="inputs: the graph's batch is fixed at 2 samples, got 3"):
        reference.forward(two, x)


@pytest.mark.parametrize("nodes, shape, message", [
    ([N("Abs", ["x"], ["y"], name="the_abs")], (3,), "node 'the_abs' of op type Abs"),
    ([N("Transpose", ["x"], ["y"], perm=[1, 0])], (3,), "op type Transpose .*moves the batch axis"),
    ([N("Reshape", ["x", "s"], ["y"])], (3,), "op type Reshape .*moves the batch axis"),
    ([N("Softmax", ["x"], ["y"], axis=0)], (3,), "op type Softmax .*batch axis"),
    # what TorchScript writes for AdaptiveMaxPool1d(1) after ONNX's shape inference over-counted a ceil-mode pool
    ([N("MaxPool", ["x"], ["y"], kernel_shape=[4])], (1, 3), "op type MaxPool .*larger than its padded input"),
])
def test_what_the_reader_does_not_model_is_refused_by_name(nodes, shape, message):
    model = graph(nodes, shape, {"s": np.array([3, 2], np.int64)} if nodes[0].op_type == "Reshape" else None,
                  batch=2, shapes_known=nodes[0].op_type != "MaxPool")
    with pytest.raises(NotImplementedError, match=message):
        reference.attribution(model, np.ones((2, *shape)), np.ones((2, 3)))


def test_bad_models_inputs_and_targets_name_the_argument(tmp_path):
    model = dense_relu()
    with pytest.raises(ValueError, match=r"inputs: expected shape \('N', 2\)|inputs: expected shape \(None, 2\)"):
        reference.forward(model, np.ones((2, 3)))
    with pytest.raises(TypeError, match="inputs: expected a real numeric array"):
        reference.forward(model, np.array([["a", "b"]]))
    with pytest.raises(ValueError, match="inputs: contains NaN"):
        reference.forward(model, np.array([[np.nan, 1.0]]))
    with pytest.raises(ValueError, match="targets: expected shape"):
        reference.attribution(model, X, np.ones((2, 3)))
    with pytest.raises(ValueError, match="model: cannot read"):
        reference.forward(str(tmp_path / "missing.onnx"), X)
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a protobuf at all")
    with pytest.raises(ValueError, match="model: .* not an ONNX model|model: not a valid ONNX model"):
        reference.forward(junk, X)
    with pytest.raises(TypeError, match="model: expected a Keras 3 model, an onnx.ModelProto"):
        reference.forward(str(tmp_path / "model.h5"), X)
    with pytest.raises(ValueError, match="output_layer: expected the name of a value"):
        reference.forward(model, X, output_layer="nowhere")
    two = graph([N("Relu", ["x"], ["y"]), N("Neg", ["x"], ["w"])], (2,), outputs=("y", "w"))
    with pytest.raises(ValueError, match="model: the graph has 2 outputs"):
        reference.forward(two, X)


def test_the_users_arrays_are_not_changed():
    x, y = X.copy(), Y.copy()
    reference.attribution(dense_relu(), x, y, "deconvnet")
    np.testing.assert_array_equal(x, X)
    np.testing.assert_array_equal(y, Y)


@pytest.mark.parametrize("nodes, kind", [
    ([N("MaxPool", ["x"], ["y"], kernel_shape=[2, 2])], "MaxPool"),
    ([N("GlobalMaxPool", ["x"], ["y"])], "MaxPool"),
    ([N("ReduceMax", ["x"], ["y"], axes=[2, 3], keepdims=0)], "Reduce"),
    ([N("Slice", ["x", "s0", "e0", "a"], ["p"]), N("Slice", ["x", "s1", "e1", "a"], ["q"]),
      N("Max", ["p", "q"], ["y"])], "Binary"),
])
def test_near_ties_of_onnx_maxima_are_found(nodes, kind):
    from refdeconv.conformance.maxima import max_pool_ties, near_ties

    weights = {"s0": np.array([0], np.int64), "e0": np.array([1], np.int64), "s1": np.array([1], np.int64),
               "e1": np.array([2], np.int64), "a": np.array([3], np.int64)}
    model = graph(nodes, (1, 2, 2), weights, opset=13)
    oracle = reference.compile(model)
    near = np.array([[[[1.0, 1.0 + 1e-12], [0.5, 0.25]]]])
    far = np.array([[[[1.0, 0.5], [0.5, 0.25]]]])
    assert [entry.split(" ")[0] for entry in near_ties(oracle, [near], "float64")] == [kind]
    assert near_ties(oracle, [far], "float64") == []
    tied = np.array([[[[1.0, 1.0], [0.5, 0.25]]]])
    assert max_pool_ties(oracle, [tied]) == (kind in ("MaxPool", "Reduce"))  # exact ties a convention decides
    assert not max_pool_ties(oracle, [far])


def test_a_tie_of_max_or_min_sends_the_signal_to_the_first_operand():
    nodes = [N("Slice", ["x", "s0", "e0", "a"], ["p"]), N("Slice", ["x", "s1", "e1", "a"], ["q"]),
             N("Max", ["p", "q"], ["hi"]), N("Min", ["p", "q"], ["lo"]), N("Concat", ["hi", "lo"], ["y"], axis=1)]
    weights = {"s0": np.array([0], np.int64), "e0": np.array([2], np.int64), "s1": np.array([2], np.int64),
               "e1": np.array([4], np.int64), "a": np.array([1], np.int64)}
    model = graph(nodes, (4,), weights, opset=13)
    x = np.array([[1.0, 3.0, 1.0, 2.0]])  # p = [1, 3], q = [1, 2]: Max and Min tie in the first place
    maps = reference.attribution(model, x, np.array([[1.0, 10.0, 100.0, 1000.0]]), "gradient")
    np.testing.assert_array_equal(maps, [[1.0 + 100.0, 10.0, 0.0, 1000.0]])


def test_the_forward_check_holds_the_graph_to_the_tolerance_of_its_dtype():
    from refdeconv.conformance.map_audit import forward_check
    from refdeconv.conformance.model_audit import UnsupportedModel

    model, x = dense_relu(), X
    output = reference.forward(model, x)
    scale = np.abs(output).max(axis=1, keepdims=True)
    assert forward_check(model, [x], output + 0.5e-9 * scale, ["x"]).startswith(("onnxruntime", "onnx"))
    with pytest.raises(UnsupportedModel, match="differs from .* by 2e-09 of the output's scale"):
        forward_check(model, [x], output + 2e-9 * scale, ["x"])


def test_a_reshape_may_merge_samples_into_whole_rows_and_back():
    """Keras's ``Tensordot`` (a ``Dense`` on a sequence, as tf2onnx exports it): ``(N, T, C)`` to
    ``(N T, C)``, a ``MatMul``, and back to ``(N, T, U)``: each sample's values stay in whole rows."""
    nodes = [N("Reshape", ["x", "rows"], ["r"]), N("MatMul", ["r", "w"], ["m"]), N("Relu", ["m"], ["h"]),
             N("Reshape", ["h", "back"], ["y"])]
    w = np.array([[1.0, -1.0], [2.0, 0.5], [-1.0, 1.0]])
    x = np.random.default_rng(5).standard_normal((2, 4, 3))
    model = graph(nodes, (4, 3), {"rows": np.array([8, 3], np.int64), "back": np.array([2, 4, 2], np.int64),
                                  "w": w}, batch=2)
    u = np.random.default_rng(6).standard_normal((2, 4, 2))
    np.testing.assert_allclose(reference.forward(model, x), np.maximum(x @ w, 0), rtol=1e-15)
    np.testing.assert_allclose(reference.attribution(model, x, u, "deconvnet"), np.maximum(u, 0) @ w.T, rtol=1e-15)


def test_the_forward_check_of_a_float64_graph_onnxruntime_cannot_run_uses_onnx_at_float32():
    """onnxruntime has no float64 ``Conv``; onnx's evaluator computes ``Erf`` in float32: a right
    float64 graph with both is not taken for a misread one."""
    from refdeconv.conformance.map_audit import forward_check
    from refdeconv.conformance.model_audit import UnsupportedModel

    model = graph([N("Conv", ["x", "w"], ["c"]), N("Erf", ["c"], ["y"])], (1, 4), {"w": np.ones((1, 1, 2))})
    x = np.random.default_rng(2).standard_normal((2, 1, 4))
    output = reference.forward(model, x)
    assert "ReferenceEvaluator" in forward_check(model, [x], output, ["x"])
    with pytest.raises(UnsupportedModel, match="misread"):
        forward_check(model, [x], output + 1e-3 * np.abs(output).max(), ["x"])


def test_questions_on_the_same_inputs_share_one_forward_pass_and_changed_inputs_get_a_new_one():
    oracle = reference.compile(dense_relu())
    x = X.copy()
    first = oracle.run([x])[1]
    assert oracle.run([x.copy()])[1] is first  # the same values: one forward pass for every question
    x[0, 0] = -7.0  # changed in place
    np.testing.assert_array_equal(oracle.forward(x), np.maximum(x @ A, 0) @ B)


def test_a_one_input_model_takes_a_dict_keyed_by_its_input_name():
    maps = reference.attribution(dense_relu(), {"x": X}, Y, "deconvnet")
    assert list(maps) == ["x"]
    np.testing.assert_array_equal(maps["x"], by_hand("deconvnet"))
    with pytest.raises(ValueError, match=r"inputs: dict keys must be the model's input names \['x'\], got \['z'\]"):
        reference.forward(dense_relu(), {"z": X})
