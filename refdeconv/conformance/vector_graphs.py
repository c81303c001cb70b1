"""The test vectors as ONNX graphs, written from their layer dicts and weights: a peer (PyTorch,
onnxruntime, any ONNX reader) runs a vector without rebuilding its network.

Each graph is written node by node with ``onnx.helper`` from the vector's layer vocabulary
(:data:`refdeconv.conformance.networks.VOCABULARY`), not exported from Keras, so writing it needs
``onnx`` only, and the same vectors give byte-identical files.

Layout and dtype
----------------
The graph takes the vector's ``inputs`` as they are stored: channels last, ``(N, W)``,
``(N, T, C)`` or ``(N, H, W, C)``, batch axis ``N`` free. A spatial input is transposed to
channels first once, at the start, for ONNX's ``Conv``/``MaxPool``/``AveragePool``, and back to
channels last before ``Flatten``, so the flattened order is TensorFlow's and the dense kernels are
the vector's own. Conv kernels ``(k..., in, out)`` are stored ``(out, in, k...)``; ``"same"``
padding is written as TensorFlow's explicit pads (the smaller half before). The graph is float32:
the vectors' weights and inputs are multiples of 1/1024 (or small integers), exact in float32, so
the graph holds exactly the vector's numbers and runs in onnxruntime, whose CPU ``Conv`` has no
double kernel. Opset 13, IR version 7.

Nodes: ``Transpose``, ``Conv`` (with bias), ``MaxPool``, ``AveragePool`` (``count_include_pad=0``,
as Keras), ``Relu``, ``Flatten``, ``Gemm``.
"""

from __future__ import annotations

import numpy as np

OPSET, IR_VERSION = 13, 7


def _pads(extent: list[int], size: list[int], strides: list[int], padding: str) -> tuple[list[int], list[int]]:
    """``(pads, output extent)`` of a window op, TensorFlow's ``"same"`` split written out."""
    if padding == "valid":
        return [0] * 2 * len(extent), [(e - k) // s + 1 for e, k, s in zip(extent, size, strides)]
    out = [-(-e // s) for e, s in zip(extent, strides)]
    total = [max((o - 1) * s + k - e, 0) for o, s, k, e in zip(out, strides, size, extent)]
    return [t // 2 for t in total] + [t - t // 2 for t in total], out


def graph(name: str, layers: list, input_shape: tuple, arrays: dict):
    """The ONNX model of one vector.

    Parameters
    ----------
    name : str
        The vector's name (the graph's name).
    layers : list of dict
        The vector's chain of layers.
    input_shape : tuple of int
        One sample's shape, channels last.
    arrays : dict
        The vector's arrays; ``layer{i}_kernel`` and ``layer{i}_bias`` are read.

    Returns
    -------
    onnx.ModelProto
        Checked by ``onnx.checker``; input ``inputs``, output ``outputs`` (the logits).
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes, weights = [], []
    value, spatial, extent = "inputs", len(input_shape) > 1, list(input_shape[:-1])
    rank = len(input_shape) + 1

    def add(op: str, where: str, inputs: list, **attributes) -> None:
        nonlocal value
        out = f"{where}_{op.lower()}"
        nodes.append(helper.make_node(op, [value, *inputs], [out], name=out, **attributes))
        value = out

    def constant(key: str, array: np.ndarray) -> str:
        weights.append(numpy_helper.from_array(np.asarray(array, np.float32), key))
        return key

    if spatial:
        add("Transpose", "inputs", [], perm=[0, rank - 1, *range(1, rank - 1)])
    for i, spec in enumerate(layers):
        kind = spec["type"]
        if kind in ("conv1d", "conv2d", "maxpool1d", "maxpool2d", "avgpool1d", "avgpool2d"):
            size = list(spec.get("kernel_size", spec.get("pool_size")))
            pads, extent = _pads(extent, size, list(spec["strides"]), spec["padding"])
            window = {"kernel_shape": size, "strides": list(spec["strides"]), "pads": pads}
            if kind.startswith("conv"):
                kernel = arrays[f"layer{i}_kernel"]
                kernel = np.transpose(kernel, (kernel.ndim - 1, kernel.ndim - 2, *range(kernel.ndim - 2)))
                bias = constant(f"layer{i}_bias", arrays[f"layer{i}_bias"])
                add("Conv", f"layer{i}", [constant(f"layer{i}_kernel", kernel), bias], **window)
            else:
                add("MaxPool" if kind.startswith("max") else "AveragePool", f"layer{i}", [], **window,
                    **({} if kind.startswith("max") else {"count_include_pad": 0}))
        elif kind == "relu":
            add("Relu", f"layer{i}", [])
        elif kind == "flatten":
            if spatial:
                add("Transpose", f"layer{i}", [], perm=[0, *range(2, rank), 1])
            add("Flatten", f"layer{i}", [], axis=1)
            spatial = False
        else:  # dense
            add("Gemm", f"layer{i}", [constant(f"layer{i}_kernel", arrays[f"layer{i}_kernel"]),
                            constant(f"layer{i}_bias", arrays[f"layer{i}_bias"])])
    nodes.append(helper.make_node("Identity", [value], ["outputs"], name="outputs"))
    given = helper.make_tensor_value_info("inputs", TensorProto.FLOAT, ["N", *input_shape])
    output = helper.make_tensor_value_info("outputs", TensorProto.FLOAT, ["N", layers[-1]["units"]])
    model = helper.make_model(helper.make_graph(nodes, name, [given], [output], weights),
                              opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION,
                              producer_name="refdeconv.conformance.vector_graphs")
    onnx.checker.check_model(model)
    return model
