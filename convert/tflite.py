"""TFLite conversion of the deployment graph (``convert.runtime`` runs the result)."""

from __future__ import annotations

import contextlib
import warnings
from typing import TYPE_CHECKING

import tensorflow as tf

from convert import modes
from convert.modes import IO_TYPES, LOGITS_TYPES, Mode
from keras_mixer.files import atomic_path
from mixer_base import internals

if TYPE_CHECKING:
    import tf_keras

IN_MEMORY_WEIGHTS = 30_000_000  # Mixer-S/16: 18.5M; Mixer-B/16: 59.9M


def convert(
    graph: tf_keras.Model, mode: Mode | str = modes.FLOAT32, io: str = "uint8", logits: str = "int8"
) -> bytes:
    """TFLite flatbuffer bytes of ``graph`` at batch 1.

    Args:
        graph: a float graph (``convert.graph.build_graph``) for the float
            modes; a quantised graph (``convert.quantize.quantised_graph``)
            for the integer ones, whose every range the converter takes from
            the graph.
        mode: a ``convert.modes.Mode`` or its name.
        io: input/output dtype of an integer model: "uint8", "int8" or "float32".
        logits: an integer model's output: "int8" (the ``io`` type) or
            "float32" (a graph whose head is left float:
            ``convert.building.FLOAT_HEAD``; the input stays ``io``).
    """
    with contextlib.ExitStack() as stack:
        if modes.get(mode).integer:
            from convert.quantize import kernels_on_grid

            stack.enter_context(kernels_on_grid(graph))
        converter = make_converter(graph, mode, io, logits)
        with warnings.catch_warnings():
            # An int8 input's range is the graph's own (the pixel input's fixed
            # fake-quantisation), not the statistics this warning asks for.
            warnings.filterwarnings("ignore", "Statistics for quantized inputs were expected")
            return converter.convert()


def make_converter(
    graph: tf_keras.Model, mode: Mode | str = modes.FLOAT32, io: str = "uint8", logits: str = "int8"
) -> tf.lite.TFLiteConverter:
    """The configured ``tf.lite.TFLiteConverter`` behind ``convert``. The
    graph is traced at a static batch of 1 whatever its own batch size: the
    int8 converter needs static shapes."""
    mode = modes.get(mode)
    if io not in IO_TYPES:
        raise ValueError(f"io must be one of {', '.join(IO_TYPES)}; got {io!r}.")
    if logits not in LOGITS_TYPES:
        raise ValueError(f"logits must be one of {', '.join(LOGITS_TYPES)}; got {logits!r}.")
    signature = tf.TensorSpec((1, *graph.input_shape[1:]), tf.float32, name="images")
    function = tf.function(lambda images: graph(images, training=False))
    # Given a trackable, the converter saves it as a SavedModel first and
    # loads it back: a module holding just the variables (given the Keras
    # model, the save would trace every layer again). Given none, it freezes
    # the function in memory: 10 s less for a Mixer-S/16, but ~16 bytes of
    # memory per weight byte (3.8 GB against 1.6 GB for a Mixer-B/16). Models
    # up to IN_MEMORY_WEIGHTS weights take the quick path.
    holder = None
    if graph.count_params() > IN_MEMORY_WEIGHTS:
        holder = tf.Module()
        holder.weights = list(graph.variables)
    converter = internals.quick_freezing_converter(
        [function.get_concrete_function(signature)], holder
    )
    if mode.optimise:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if mode.float16:
        converter.target_spec.supported_types = [tf.float16]
    if mode.integer:
        converter.inference_input_type = tf.as_dtype(io)
        converter.inference_output_type = tf.as_dtype(io if logits == "int8" else logits)
    return converter


def write(flatbuffer: bytes, path: str) -> None:
    """Writes a model atomically: a finished file or none."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(flatbuffer)
