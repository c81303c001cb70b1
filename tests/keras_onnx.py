"""Keras models written out as ONNX for the tests, and two independent ONNX runtimes to check them.

Two exporters, both tf2onnx (1.17) underneath:

- ``"keras"``: Keras's own ``model.export(path, format="onnx")``, what a Keras user runs. It
  patches tf2onnx for NumPy 2 and converts the model's traced ``call``.
- ``"tf2onnx"``: ``tf2onnx.convert.from_keras`` (after the same patch). Needed for
  ``EfficientNetB0``: under ``model.export`` the mean and variance of its ``Normalization``
  layer become two extra graph *inputs* instead of constants (measured, Keras 3.15 / TF 2.21),
  and onnxruntime refuses to run the graph without them. ``from_keras`` freezes them. It fails
  on a plain ``Sequential`` (an output-name lookup written for tf.keras), so it is not the default.

The exported graph keeps the Keras model's layout (NHWC, ``(N, T, C)``): the exporter adds a
``Transpose`` after the input and works channels-first inside. A float64 model exports as a
double graph, with every constant the exporter folds (batch normalisation's scale) folded in
float64; onnxruntime has no double kernels for ``Conv``, ``Elu``, ``LeakyRelu``, ``Softplus``,
``GlobalMaxPool``, so it runs float32 graphs only.
"""

from __future__ import annotations

import contextlib
import io
import logging
from pathlib import Path

import numpy as np

EXPORTERS = ("keras", "tf2onnx")


def _tf2onnx():
    """tf2onnx, patched for NumPy 2 the way Keras patches it before its own export."""
    from keras.src.export.tf2onnx_lib import patch_tf2onnx

    patch_tf2onnx()
    import tf2onnx

    return tf2onnx


def export(model, path, exporter: str = "keras") -> Path:
    """Write ``model`` (a Keras 3 model with one input) to ``path`` as ONNX.

    Parameters
    ----------
    model : keras.Model
        Called once here on zeros (Keras's exporter needs a called model).
    path : str or os.PathLike
        Where the ``.onnx`` file goes.
    exporter : {"keras", "tf2onnx"}
        See the module docstring.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    import tensorflow as tf

    path = Path(path)
    shape = tuple(model.inputs[0].shape)
    dtype = model.inputs[0].dtype
    model(np.zeros((1, *shape[1:]), dtype))
    quiet = contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO())
    logging.getLogger("tf2onnx").setLevel(logging.ERROR)
    with quiet[0], quiet[1]:
        if exporter == "keras":
            model.export(str(path), format="onnx", verbose=False)
        elif exporter == "tf2onnx":
            spec = (tf.TensorSpec(shape, dtype, name="inputs"),)
            _tf2onnx().convert.from_keras(model, input_signature=spec, output_path=str(path))
        else:
            raise ValueError(f"exporter: expected one of {EXPORTERS}, got {exporter!r}")
    return path


def op_types(path) -> list[str]:
    """The op type of every node of the graph at ``path``, in graph order."""
    import onnx

    return [node.op_type for node in onnx.load(str(path)).graph.node]


class NegativePad(RuntimeError):
    """onnxruntime refuses a window op whose ``auto_pad="SAME_UPPER"`` pad comes out negative.

    tf2onnx writes ``auto_pad`` where the spatial extent is not static (after a ``Dense`` on a
    sequence); for a ``"same"`` pool narrower than its stride (``pool_size=1, strides=2`` on an
    extent of 2), ONNX's formula gives a total pad of -1, which TensorFlow (and the reference)
    take as 0 and onnxruntime rejects: "padding values must be non-negative" (measured, 1.32).
    """


def run_onnxruntime(path, x: np.ndarray) -> np.ndarray:
    """The graph's output on ``x`` (cast to the graph input's dtype) by onnxruntime, as float64.

    Raises
    ------
    NegativePad
        See its docstring.
    """
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (given,) = session.get_inputs()
    dtype = np.float64 if given.type == "tensor(double)" else np.float32
    try:
        return np.asarray(session.run(None, {given.name: x.astype(dtype)})[0], np.float64)
    except onnxruntime.capi.onnxruntime_pybind11_state.RuntimeException as err:
        if "padding values must be non-negative" in str(err):
            raise NegativePad(str(err)) from err
        raise

