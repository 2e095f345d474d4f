"""Running TFLite models with LiteRT, and what the runtime makes of them.

Free of TensorFlow, so benchmark workers and apps' test helpers stay light:
``ai_edge_litert`` is used, else ``tflite_runtime``, else ``tf.lite``.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

import numpy as np

from mixer_base import internals

if TYPE_CHECKING:
    from ai_edge_litert.interpreter import Interpreter


def _litert():
    try:
        from ai_edge_litert import interpreter as litert
    except ImportError:
        try:
            from tflite_runtime import interpreter as litert
        except ImportError:
            import tensorflow as tf

            litert = tf.lite
    return litert


def interpreter(model: str | bytes, num_threads: int = 2, delegates: bool = True) -> Interpreter:
    """A LiteRT interpreter (ai_edge_litert, else tflite_runtime, else tf.lite)
    for a path or flatbuffer bytes, tensors allocated. ``delegates=False``
    keeps the default XNNPACK delegate off (to see the model's own ops)."""
    litert = _litert()
    kwargs = {"model_content": model} if isinstance(model, bytes) else {"model_path": model}
    if not delegates:
        kwargs["experimental_op_resolver_type"] = (
            litert.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        )
    runner = litert.Interpreter(num_threads=num_threads, **kwargs)
    runner.allocate_tensors()
    return runner


def run_all(runner: Interpreter, images: np.ndarray) -> np.ndarray:
    """Scores for a batch of raw-pixel images (N, H, W, 3), one ``run`` each."""
    return np.stack([run(runner, image, raw_pixels=True) for image in images])


def run(runner: Interpreter, pixels: np.ndarray, raw_pixels: bool = False) -> np.ndarray:
    """Scores for one image of raw pixels (H, W, 3), dequantised to float.

    A uint8/int8 model takes a uint8 image; a float array is refused unless
    ``raw_pixels`` says it holds 0-255 pixel values (``quantize``)."""
    inp, out = runner.get_input_details()[0], runner.get_output_details()[0]
    runner.set_tensor(inp["index"], quantize(pixels, inp, raw_pixels)[None])
    runner.invoke()
    return dequantize(runner.get_tensor(out["index"])[0], out)


def quantize(pixels: np.ndarray, detail: dict, raw_pixels: bool = False) -> np.ndarray:
    """Raw pixels as the tensor ``detail`` (from get_input_details) takes them:
    floor(x / scale + zero point + 0.5), clamped, for uint8/int8 (as the
    Android core does); float32 as they are.

    Every model of this package takes one image of raw 0-255 pixels
    (``preprocess_input`` is in the model), whatever its input type, so
    ``pixels`` must be an (H, W, 3) array of the model's size: integers
    within 0-255 (a 16-bit image is refused, not clipped), or floats with
    ``raw_pixels`` saying they are 0-255 values - preprocessed [-1, 1] values
    would give confident, wrong answers without a word."""
    x = _checked_pixels(pixels, detail, raw_pixels)
    if detail["dtype"] == np.float32:
        return x.astype(np.float32)
    scale, zero = detail["quantization"]
    info = np.iinfo(detail["dtype"])
    q = np.floor(x.astype(np.float64) / scale + zero + 0.5)
    return np.clip(q, info.min, info.max).astype(detail["dtype"])


def _checked_pixels(pixels, detail, raw_pixels):
    """``pixels`` as an array, or a ValueError saying why the model cannot take it."""
    x = np.asarray(pixels)
    takes = f"This model takes one ({', '.join(map(str, detail['shape'][1:]))}) image of raw pixels"
    if x.shape != tuple(detail["shape"][1:]):
        raise ValueError(f"{takes}; got an array of shape {x.shape}.")
    if x.dtype.kind == "f":
        if not raw_pixels:
            raise ValueError(
                f"{takes} (0-255, no preprocess_input; {np.dtype(detail['dtype']).name} in the "
                f"file); got a {x.dtype} array. Pass the image as uint8, or raw_pixels=True if "
                "the floats are 0-255 pixel values."
            )
        if not np.isfinite(x).all():
            raise ValueError(f"{takes}; got NaN or infinite values.")
    elif x.dtype.kind in "ui":
        if x.size and (x.min() < 0 or x.max() > 255):
            raise ValueError(
                f"{takes} (0-255); got {x.dtype} values from {x.min()} to {x.max()} "
                "(a 16-bit image? scale it to 8 bits)."
            )
    else:
        raise ValueError(f"{takes} (uint8, 0-255); got a {x.dtype} array.")
    return x


def softmax(logits: np.ndarray) -> np.ndarray:
    """Probabilities from logits over the last axis (the XNNPACK graph leaves
    the softmax to the app)."""
    e = np.exp(logits - logits.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def dequantize(values: np.ndarray, detail: dict) -> np.ndarray:
    """A uint8/int8 tensor's values as float32: (q - zero point) * scale."""
    if detail["dtype"] == np.float32:
        return values
    scale, zero = detail["quantization"]
    return (values.astype(np.float32) - zero) * np.float32(scale)


def op_census(model: str | bytes) -> tuple[dict, list[str]]:
    """{op type: {input dtype: count}} of a model (path or bytes), before any
    delegate, and the op types that take float inputs ("float islands")."""
    runner = interpreter(model, delegates=False)
    census = {}
    for op in internals.ops_details(runner):
        inputs = [t for t in op["inputs"] if t >= 0]
        dtype = internals.tensor_details(runner, inputs[0])["dtype"].__name__ if inputs else "none"
        census.setdefault(op["op_name"], Counter())[dtype] += 1
    float_ops = sorted(
        name
        for name, dtypes in census.items()
        if "float32" in dtypes and name not in ("QUANTIZE", "DEQUANTIZE")
    )
    return {name: dict(counts) for name, counts in census.items()}, float_ops


def delegation(runner: Interpreter) -> dict:
    """How the default delegate (XNNPACK) took over an interpreter's graph:
    ``{"partitions": N, "ops_outside": {op type: count}}``.

    Each DELEGATE node stands for one partition; walking back from its
    outputs to its inputs finds the ops it replaced. Ops reached by no walk
    run on LiteRT's builtin kernels."""
    ops = internals.ops_details(runner)
    producer = {
        int(t): op["index"] for op in ops if op["op_name"] != "DELEGATE" for t in op["outputs"]
    }
    delegates = [op for op in ops if op["op_name"] == "DELEGATE"]
    replaced = set()
    for delegate in delegates:
        boundary = {int(t) for t in delegate["inputs"]}
        pending = [int(t) for t in delegate["outputs"]]
        while pending:
            tensor = pending.pop()
            node = producer.get(tensor)
            if tensor in boundary or node is None or node in replaced:
                continue
            replaced.add(node)
            pending += [int(t) for t in ops[node]["inputs"] if t >= 0]
    outside = Counter(
        op["op_name"] for op in ops if op["op_name"] != "DELEGATE" and op["index"] not in replaced
    )
    return {"partitions": len(delegates), "ops_outside": dict(outside)}
