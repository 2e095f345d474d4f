"""A converted file's evaluation images, drawn and prepared as its conversion
evaluated them, for running the file elsewhere (``convert check-arm``'s
emulated ARM64, ``convert compare``'s page) against its x86 LiteRT run."""

from __future__ import annotations


def evaluation_images(path, dataset, count, size, classes):
    """(pixels, labels, info) of ``count`` evaluation images of ``dataset`` (default:
    the report's), prepared as the file's conversion evaluated them (else as it carries):
    0-255 floats as resized, not rounded, which a float32 input takes as they are and a
    uint8 one quantises (``runtime.quantize(..., raw_pixels=True)``), as convert's run did."""
    import dataclasses

    from convert.golden import conversion_crop
    from convert.metadata import read_metadata
    from convert.outputs import report_path
    from convert.samples import collect
    from keras_mixer import datasets
    from keras_mixer.files import json_object

    report = json_object(report_path(path)) or {}
    data = report.get("data") if isinstance(report.get("data"), dict) else {}
    dataset = dataset or report.get("dataset")
    if not dataset:
        raise ValueError(f"No conversion report beside {path} names its dataset: give --data.")
    try:
        with open(path, "rb") as f:
            carried = read_metadata(f.read())["preprocessing"] or {}
    except ValueError:
        carried = {}
    try:
        crop = conversion_crop(path)
    except ValueError:
        crop = carried.get("eval_crop")
    method = data.get("resize_method") or carried.get("resize_method")
    settings = datasets.data_settings(
        None, dataset, size, {"eval_crop": crop, "resize_method": method}
    )
    config = dict(settings.config, cache=False)
    config["val_fraction"] = data.get("val_fraction", config["val_fraction"])
    val = datasets.read_split(dataset, "val", config)
    if val.num_classes != classes:
        raise ValueError(f"{dataset} has {val.num_classes} classes; {path} gives {classes} scores.")
    buffer = min(val.size, config["shuffle_buffer"])  # drawn across classes, as convert draws
    val = dataclasses.replace(val, examples=val.examples.shuffle(buffer, seed=0))
    pixels, labels = collect(datasets.evaluation_batches(val, config, 64, scale=False), count)
    accuracy = report.get("accuracy") if isinstance(report.get("accuracy"), dict) else {}
    info = {
        "data": {key: config[key] for key in ("dataset", "eval_crop", "resize_method")},
        "float_top1_in_report": accuracy.get("float"),
        "report_eval_images": report.get("eval_images"),
    }
    return pixels, labels, info
