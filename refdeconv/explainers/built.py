"""Building an unbuilt Sequential model for the inputs it is explained on, or leaving it as it was.

An unbuilt ``Sequential`` model (no ``Input``, never called) has no input shape. Keras builds
it on its first call, for the shape of that call's data; ``explain`` does the same, with the
batch axis left free (``build((None, *sample_shape))``), so that the model works afterwards
on any batch size, as if ``predict`` had been called on the same data. The build is tried on
a clone first: if the model cannot be built for that shape, the error names ``inputs`` and the
user's model stays unbuilt, not half-built for a wrong shape.
"""

from __future__ import annotations

from ..keras_model import is_built, is_graph_model, library

def trial(model, sample_shape: tuple) -> tuple | None:
    """The output shape an unbuilt Sequential ``model`` would have for samples of ``sample_shape``,
    found on a clone (the model is not touched); ``None`` for any other model.

    Raises
    ------
    ValueError
        The model cannot be built for samples of that shape.
    """
    keras_library = library(model)
    if not (is_graph_model(model) and isinstance(model, keras_library.Sequential) and not is_built(model)):
        return None
    shape = (None, *map(int, sample_shape))
    try:
        clone = keras_library.models.clone_model(model)
        clone.build(shape)
        return tuple(clone.outputs[0].shape)
    except Exception as err:  # noqa: BLE001 - whatever Keras raises, the user's model is left as it was
        raise ValueError(f"inputs: the unbuilt model {model.name!r} cannot be built for samples of shape "
                         f"{shape[1:]} (its layers reject it: {type(err).__name__}: {err}); the model is left "
                         "unbuilt") from None


def build(model, sample_shape: tuple) -> None:
    """Build ``model`` for samples of ``sample_shape``, batch axis free (after :func:`trial`)."""
    model.build((None, *map(int, sample_shape)))
