"""Golden cases for app ports: the exact tensors the Python side uses for an image.

``python -m convert.golden MODEL.tflite IMAGE -o DIR`` writes, for a model
``convert`` emitted and a real image: the image as ARGB ints (what Android's
``Bitmap.getPixels`` gives), the input tensor bytes fed to LiteRT, the output
tensor bytes LiteRT produced, the model, and the expected top-k, described in
``case.properties``. ``android_demo/core`` must reproduce them
(``GoldenTest``): the same crop, resize and quantisation, the same scores.

The image pipeline (also ``ImagePreprocessor.java``): the largest centred
square, bilinear resize with half-pixel centres, each channel rounded to an
integer pixel (floor(v + 0.5)), then quantised as ``runtime.quantize`` does.
"""

import argparse
import os
import shutil

import numpy as np

from convert import runtime
from convert.metadata import read_metadata


def argb_pixels(path):
    """(ARGB ints as uint32, width, height) of an image file."""
    from PIL import Image

    with Image.open(path) as image:
        rgb = np.asarray(image.convert("RGB"), np.uint32)
    argb = (0xFF << 24) | (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
    return argb.astype(np.uint32), rgb.shape[1], rgb.shape[0]


def resized_pixels(argb, out_height, out_width):
    """The centred square of ``argb`` (H, W) resized to (out_height, out_width, 3)
    integer RGB pixels, computed as the Android core computes them."""
    height, width = argb.shape
    side = min(width, height)
    if side < out_height or side < out_width:
        raise ValueError(f"Image {width}x{height} is smaller than the model's "
                         f"{out_width}x{out_height} input.")
    top, left = (height - side) // 2, (width - side) // 2
    crop = argb[top:top + side, left:left + side]
    rgb = np.stack([(crop >> shift) & 0xFF for shift in (16, 8, 0)], -1).astype(np.float64)

    def taps(size):
        s = np.clip((np.arange(size) + 0.5) * (side / size) - 0.5, 0.0, side - 1.0)
        low = np.floor(s).astype(int)
        return low, np.minimum(low + 1, side - 1), (s - low)[:, None]

    y0, y1, fy = taps(out_height)
    x0, x1, fx = taps(out_width)
    fy = fy[:, :, None]
    value = (1 - fy) * ((1 - fx) * rgb[y0][:, x0] + fx * rgb[y0][:, x1]) \
        + fy * ((1 - fx) * rgb[y1][:, x0] + fx * rgb[y1][:, x1])
    return np.clip(np.floor(value + 0.5), 0, 255).astype(np.int64)


def write_case(model_path, image_path, folder, top_k=3):
    """Writes one golden case into ``folder``; returns its properties."""
    with open(model_path, "rb") as f:
        model = f.read()
    metadata = read_metadata(model)
    runner = runtime.interpreter(model, num_threads=1)
    inp, out = runner.get_input_details()[0], runner.get_output_details()[0]
    argb, width, height = argb_pixels(image_path)
    tensor = runtime.quantize(resized_pixels(argb.reshape(height, width), *inp["shape"][1:3]),
                              inp, raw_pixels=True)
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
        "image_width": width, "image_height": height,
        "input_type": inp["dtype"].__name__, "input_height": inp["shape"][1],
        "input_width": inp["shape"][2], "input_scale": repr(float(inp["quantization"][0])),
        "input_zero_point": inp["quantization"][1],
        "output_type": out["dtype"].__name__, "output_count": out["shape"][-1],
        "output_scale": repr(float(out["quantization"][0])),
        "output_zero_point": out["quantization"][1], "logits": str(logits).lower(),
        "top_indices": ",".join(str(i) for i in best),
        "top_labels": ",".join(metadata["labels"][i] for i in best),
        "top_scores": ",".join(repr(float(np.float32(scores[i]))) for i in best),
    }
    with open(os.path.join(folder, "case.properties"), "w") as f:
        f.writelines(f"{key}={value}\n" for key, value in properties.items())
    return properties


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="a .tflite file written by convert")
    parser.add_argument("image")
    parser.add_argument("-o", "--output", required=True, help="folder for the case")
    args = parser.parse_args(argv)
    print(write_case(args.model, args.image, args.output))


if __name__ == "__main__":
    main()
