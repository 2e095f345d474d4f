"""Golden cases for app ports: the exact tensors the Python side uses for an image.

``python -m convert.golden MODEL.tflite IMAGE -o DIR`` writes, for a model
``convert`` emitted and a real image: the image as ARGB ints (what Android's
``Bitmap.getPixels`` gives), the input tensor bytes fed to LiteRT, the output
tensor bytes LiteRT produced, the model, and the expected top-k, described in
``case.properties``. ``android_demo/core`` must reproduce them
(``GoldenTest``): the same crop, resize and quantisation, the same scores.

The image pipeline is the evaluation's (``keras_mixer.datasets.centre_crop``,
bilinear; tested to agree within one pixel level), written out in NumPy here
and in ``ImagePreprocessor.java`` and the web page: resize the image to cover
(height / crop, width / crop), keeping its aspect ratio, with TensorFlow's
antialiased bilinear filter (a triangle widened by the shrink factor, its
weights normalised over the image); take the centred crop of the model's
size; round each channel to an integer pixel (floor(v + 0.5)); quantise as
``runtime.quantize`` does. ``eval_crop`` is the crop the conversion scored
the model with (its report's ``data``; 1.0: the whole shorter side), taken
from the conversion, never from the metadata the app under test reads.
"""

from __future__ import annotations

import argparse
import os
import shutil

import numpy as np

from convert import runtime
from convert.metadata import read_metadata


def argb_pixels(path: str) -> tuple[np.ndarray, int, int]:
    """(ARGB ints as uint32, width, height) of an image file."""
    from PIL import Image

    with Image.open(path) as image:
        rgb = np.asarray(image.convert("RGB"), np.uint32)
    argb = (0xFF << 24) | (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
    return argb.astype(np.uint32), rgb.shape[1], rgb.shape[0]


def covering_size(
    height: int, width: int, out_height: int, out_width: int, crop: float = 1.0
) -> tuple[int, int]:
    """(height, width) the image is resized to before the centred crop, in
    float32 as TensorFlow computes it (round half to even)."""
    f32 = np.float32
    shape = np.array([height, width], f32)
    scale = np.max(np.array([out_height, out_width], f32) / f32(crop) / shape)
    resized = np.round(shape * scale).astype(np.int64)  # NumPy rounds half to even, as TF
    return max(int(resized[0]), out_height), max(int(resized[1]), out_width)


def axis_weights(
    in_size: int, out_size: int, first: int, count: int
) -> list[tuple[int, np.ndarray]]:
    """[(first source index, weights)] of output pixels first .. first+count-1
    when ``in_size`` pixels are resized to ``out_size`` (TensorFlow's
    ScaleAndTranslate: triangle kernel, antialiased), in float32."""
    f32 = np.float32
    inv_scale = f32(1) / (f32(out_size) / f32(in_size))
    kernel_scale = max(inv_scale, f32(1))
    found = []
    for x in range(first, first + count):
        sample = (f32(x) + f32(0.5)) * inv_scale
        start = int(np.ceil(sample - kernel_scale - f32(0.5)))
        end = int(np.floor(sample + kernel_scale - f32(0.5)))
        start, end = min(max(start, 0), in_size - 1), min(max(end, 0), in_size - 1) + 1
        sources = np.arange(start, end, dtype=f32)
        weights = np.maximum(
            f32(0), f32(1) - np.abs((sources + f32(0.5) - sample) * (f32(1) / kernel_scale))
        )
        total = f32(0)
        for weight in weights:  # summed in order, as the Java core does
            total = f32(total + weight)
        found.append((start, weights / total))
    return found


def resized_pixels(
    argb: np.ndarray, out_height: int, out_width: int, crop: float = 1.0
) -> np.ndarray:
    """The model-size centred crop of ``argb`` (H, W) resized to cover
    (out / crop), as (out_height, out_width, 3) integer RGB pixels."""
    height, width = argb.shape
    covered = covering_size(height, width, out_height, out_width, crop)
    top, left = (covered[0] - out_height) // 2, (covered[1] - out_width) // 2
    rgb = np.stack([(argb >> shift) & 0xFF for shift in (16, 8, 0)], -1).astype(np.float64)
    rows = np.zeros((out_height, height))
    for i, (start, weights) in enumerate(axis_weights(height, covered[0], top, out_height)):
        rows[i, start : start + len(weights)] = weights
    cols = np.zeros((out_width, width))
    for j, (start, weights) in enumerate(axis_weights(width, covered[1], left, out_width)):
        cols[j, start : start + len(weights)] = weights
    value = np.einsum("jx,ixc->ijc", cols, np.einsum("iy,yxc->ixc", rows, rgb))
    return np.clip(np.floor(value + 0.5), 0, 255).astype(np.int64)


def write_case(
    model_path: str, image_path: str, folder: str, eval_crop: float, top_k: int = 3
) -> dict:
    """Writes one golden case into ``folder`` for an image prepared with
    ``eval_crop`` (the conversion's: ``conversion_crop``); returns its properties."""
    with open(model_path, "rb") as f:
        model = f.read()
    metadata = read_metadata(model)
    runner = runtime.interpreter(model, num_threads=1)
    inp, out = runner.get_input_details()[0], runner.get_output_details()[0]
    argb, width, height = argb_pixels(image_path)
    crop = eval_crop
    tensor = runtime.quantize(
        resized_pixels(argb.reshape(height, width), *inp["shape"][1:3], crop), inp, raw_pixels=True
    )
    runner.set_tensor(inp["index"], tensor[None])
    runner.invoke()
    raw = runner.get_tensor(out["index"])[0]
    scores = runtime.dequantize(raw, out).astype(np.float64)
    logits = metadata["output"] == "logits"
    if logits:
        scores = runtime.softmax(scores)
    best = np.argsort(-scores, kind="stable")[:top_k]

    os.makedirs(folder, exist_ok=True)
    shutil.copyfile(model_path, os.path.join(folder, "model.tflite"))
    argb.astype("<u4").tofile(os.path.join(folder, "image.argb"))
    tensor.astype(tensor.dtype.newbyteorder("<")).tofile(os.path.join(folder, "input.bin"))
    raw.astype(raw.dtype.newbyteorder("<")).tofile(os.path.join(folder, "output.bin"))
    properties = {
        "image_width": width,
        "image_height": height,
        "input_type": inp["dtype"].__name__,
        "input_height": inp["shape"][1],
        "input_width": inp["shape"][2],
        "input_scale": repr(float(inp["quantization"][0])),
        "input_zero_point": inp["quantization"][1],
        "output_type": out["dtype"].__name__,
        "output_count": out["shape"][-1],
        "output_scale": repr(float(out["quantization"][0])),
        "output_zero_point": out["quantization"][1],
        "logits": str(logits).lower(),
        "eval_crop": repr(float(crop)),
        "top_indices": ",".join(str(i) for i in best),
        "top_labels": ",".join(metadata["labels"][i] for i in best),
        "top_scores": ",".join(repr(float(np.float32(scores[i]))) for i in best),
    }
    with open(os.path.join(folder, "case.properties"), "w") as f:
        f.writelines(f"{key}={value}\n" for key, value in properties.items())
    return properties


def conversion_crop(model_path: str) -> float:
    """The evaluation crop the conversion of ``model_path`` scored it with,
    from its report beside it (``convert`` writes MODEL.json)."""
    from convert.outputs import report_path
    from keras_mixer.files import json_object

    report = json_object(report_path(model_path), "data")
    if report is None or "eval_crop" not in report["data"]:
        raise ValueError(
            f"{report_path(model_path)} (the conversion's report) is missing or names no "
            "eval_crop: a golden case takes its crop from the conversion, not the metadata."
        )
    return float(report["data"]["eval_crop"])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="a .tflite file written by convert (its report beside it)")
    parser.add_argument("image")
    parser.add_argument("-o", "--output", required=True, help="folder for the case")
    args = parser.parse_args(argv)
    try:
        crop = conversion_crop(args.model)
    except ValueError as error:
        parser.exit(2, f"error: {error}\n")
    print(write_case(args.model, args.image, args.output, crop))


if __name__ == "__main__":
    main()
