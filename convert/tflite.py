"""TFLite conversion of the tf_keras graph, and running it with LiteRT."""

from collections import Counter

import numpy as np
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
    return converter.convert()


def write(flatbuffer, path):
    """Writes a model atomically: a finished file or none."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(flatbuffer)


def interpreter(model, num_threads=2, delegates=True):
    """A LiteRT interpreter (ai_edge_litert, else tflite_runtime, else tf.lite)
    for a path or flatbuffer bytes, tensors allocated. ``delegates=False``
    keeps the default XNNPACK delegate off (to see the model's own ops)."""
    try:
        from ai_edge_litert import interpreter as litert
    except ImportError:
        try:
            from tflite_runtime import interpreter as litert
        except ImportError:
            litert = tf.lite
    kwargs = {"model_content": model} if isinstance(model, bytes) else {"model_path": model}
    if not delegates:
        kwargs["experimental_op_resolver_type"] = \
            litert.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    runner = litert.Interpreter(num_threads=num_threads, **kwargs)
    runner.allocate_tensors()
    return runner


def run(runner, pixels):
    """Scores for one image of raw pixels (H, W, 3), dequantised to float."""
    inp, out = runner.get_input_details()[0], runner.get_output_details()[0]
    x = np.asarray(pixels, np.float32)[None]
    if inp["dtype"] != np.float32:
        scale, zero = inp["quantization"]
        info = np.iinfo(inp["dtype"])
        x = np.clip(np.round(x / scale + zero), info.min, info.max).astype(inp["dtype"])
    runner.set_tensor(inp["index"], x)
    runner.invoke()
    y = runner.get_tensor(out["index"])[0]
    if out["dtype"] != np.float32:
        scale, zero = out["quantization"]
        y = (y.astype(np.float32) - zero) * scale
    return y


def op_census(model):
    """{op type: {input dtype: count}} of a model (path or bytes), before any
    delegate, and the op types that take float inputs ("float islands")."""
    runner = interpreter(model, delegates=False)
    census = {}
    for op in runner._get_ops_details():
        inputs = [t for t in op["inputs"] if t >= 0]
        dtype = runner._get_tensor_details(inputs[0], 0)["dtype"].__name__ if inputs else "none"
        census.setdefault(op["op_name"], Counter())[dtype] += 1
    float_ops = sorted(name for name, dtypes in census.items()
                       if "float32" in dtypes and name not in ("QUANTIZE", "DEQUANTIZE"))
    return {name: dict(counts) for name, counts in census.items()}, float_ops
