"""TFLite conversion of the tf_keras graph (``convert.runtime`` runs the result)."""

import tensorflow as tf

from keras_mixer.files import atomic_path

MODES = ("float32", "fp16", "dynamic", "int8")
IO_TYPES = {"uint8": tf.uint8, "int8": tf.int8, "float32": tf.float32}


def convert(tf_keras_model, mode="float32", representative=None, io="uint8"):
    """TFLite flatbuffer bytes.

    Args:
        tf_keras_model: the graph from ``convert.graph`` (float, or QAT).
        mode: "float32"; "fp16" (float16 weights); "dynamic" (int8 weights,
            float activations); "int8" (full integer: a QAT model, or PTQ with
            ``representative``).
        representative: for PTQ, a callable yielding lists of input arrays.
        io: input/output dtype of an int8 model: "uint8", "int8" or "float32".
    """
    return make_converter(tf_keras_model, mode, representative, io).convert()


def make_converter(tf_keras_model, mode="float32", representative=None, io="uint8"):
    """The configured ``tf.lite.TFLiteConverter`` behind ``convert``."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}; got {mode!r}.")
    converter = tf.lite.TFLiteConverter.from_keras_model(tf_keras_model)
    if mode != "float32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if mode == "fp16":
        converter.target_spec.supported_types = [tf.float16]
    if mode == "int8":
        if representative is not None:
            converter.representative_dataset = representative
        if io not in IO_TYPES:
            raise ValueError(f"io must be one of {', '.join(IO_TYPES)}; got {io!r}.")
        converter.inference_input_type = IO_TYPES[io]
        converter.inference_output_type = IO_TYPES[io]
    return converter


def write(flatbuffer, path):
    """Writes a model atomically: a finished file or none."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(flatbuffer)
