"""The model carries its preprocessing: releases state it as published, a
loaded checkpoint and a training run record it in the model, and a
``model.keras`` copied alone converts and evaluates as in its run folder."""

import json
import shutil

import numpy as np
import pytest

import keras_mixer
from convert import cli
from convert.metadata import read_metadata
from keras_mixer import preprocessing, presets
from keras_mixer import weights as weights_lib
from tests.training_helpers import run_main, write_config
from tests.weights_helpers import (
    official_params,
    save_npz,
    save_safetensors,
    serve_tiny_as,
    tiny,
    to_timm,
)
from training import evaluate
from training.cli import train_main

# What google-research/vision_transformer publishes with the checkpoints
# (vit_jax/input_pipeline.py, vit_jax/preprocess.py): evaluation images
# resized whole to the model's size with tf.image.resize's default
# (bilinear), then `-1 + image / 255 * 2`.
VIT_JAX = {"eval_crop": 1.0, "resize_method": "bilinear"}


def vit_jax_value_range(pixels):
    return -1 + pixels / 255 * 2


@pytest.mark.parametrize("release", sorted(presets.RELEASES))
def test_every_release_states_its_preprocessing_as_published(release):
    stated = presets.RELEASES[release].preprocessing
    assert {"eval_crop": stated.eval_crop, "resize_method": stated.resize_method} == VIT_JAX
    pixels = np.arange(256, dtype=np.float64)
    scaled = (pixels[:, None] / 255 - np.array(stated.mean)) / np.array(stated.std)
    np.testing.assert_allclose(scaled, np.repeat(vit_jax_value_range(pixels)[:, None], 3, 1))
    np.testing.assert_allclose(
        keras_mixer.preprocess_input(pixels), vit_jax_value_range(pixels), atol=1e-12
    )
    assert stated.source and stated.image_size is None  # the model's own size


def saved_and_loaded(model, folder):
    path = folder / "m.keras"
    model.save(path)
    return keras_mixer.load_model(path)


def test_a_release_loaded_into_a_model_travels_in_its_file(rng, tmp_path, monkeypatch):
    origin = tmp_path / "origin"
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.setenv(weights_lib.ORIGIN_ENV, origin.as_uri())
    serve_tiny_as(monkeypatch, "gsam", "S/32")
    (origin / "gsam").mkdir(parents=True)
    save_npz(origin / "gsam" / "Mixer-S_32.npz", official_params(rng))
    model = tiny()
    assert preprocessing.of_model(model) is None  # nobody said
    keras_mixer.load_weights(model, "gsam", variant="S/32")
    found = preprocessing.of_model(saved_and_loaded(model, tmp_path))
    assert (found.eval_crop, found.resize_method) == (1.0, "bilinear")
    assert found.image_size == (16, 16) and "vit_jax" in found.source


def test_a_timm_file_with_its_config_json_carries_timm_s_preprocessing(rng, tmp_path):
    path = save_safetensors(tmp_path / "model.safetensors", to_timm(official_params(rng)))
    (tmp_path / "config.json").write_text(
        json.dumps(
            {
                "architecture": "mixer_b16_224",
                "pretrained_cfg": {
                    "crop_pct": 0.875,
                    "interpolation": "bicubic",
                    "crop_mode": "center",
                    "mean": [0.5, 0.5, 0.5],
                    "std": [0.5, 0.5, 0.5],
                },
            }
        )
    )
    found = preprocessing.of_model(saved_and_loaded(tiny(weights=path), tmp_path))
    assert (found.eval_crop, found.resize_method) == (0.875, "bicubic")
    assert str(tmp_path / "config.json") in found.source
    (tmp_path / "config.json").unlink()  # a bare file says nothing
    assert preprocessing.of_model(tiny(weights=path)) is None
    carrying = tiny()
    preprocessing.set_on_model(carrying, found)
    keras_mixer.load_weights(carrying, path)  # other weights: timm's crop no longer applies
    assert preprocessing.of_model(carrying) is None


def test_preprocessing_of_another_size_is_refused(tmp_path):
    model = tiny()
    wrong = keras_mixer.ImagePreprocessing(1.0, "bilinear", image_size=(32, 32))
    with pytest.raises(ValueError, match="32x32 images does not fit the model: it takes 16x16"):
        preprocessing.set_on_model(model, wrong)


@pytest.fixture(scope="module")
def cropped_run(tmp_path_factory):
    """A tiny digits run evaluated with settings no default has (crop 0.75,
    area resizing), trained as a user runs it; and its model.keras copied
    alone to another folder."""
    folder = tmp_path_factory.mktemp("cropped")
    config = write_config(folder / "tiny.yaml", train={"epochs": 1, "steps_per_epoch": 8})
    result = run_main(
        train_main,
        "--config",
        config,
        "--set",
        "data.eval_crop=0.75",
        "--set",
        "data.resize_method=area",
        "--output",
        folder / "run",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    alone = folder / "elsewhere" / "model.keras"
    alone.parent.mkdir()
    shutil.copy(folder / "run" / "model.keras", alone)
    return folder / "run" / "model.keras", alone


def converted(model_path, output):
    result = run_main(
        cli.main,
        model_path,
        "--int8",
        "--qat-steps",
        "3",
        "--qat-batch-size",
        "8",
        "--data",
        "digits",
        "-o",
        output,
        "--eval-images",
        "60",
        "--calibration-images",
        "32",
        "--debug-images",
        "0",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (line,) = [line for line in result.stdout.splitlines() if "] data: digits" in line]
    return line, json.loads(output.with_suffix(".json").read_text()), output.read_bytes()


def test_a_model_copied_alone_converts_as_in_its_run_folder(cropped_run, tmp_path):
    in_run, alone = cropped_run
    line, report, flatbuffer = converted(alone, tmp_path / "alone.tflite")
    _, run_report, _ = converted(in_run, tmp_path / "run.tflite")
    assert "eval_crop, resize_method from the model" in line and "ASSUMED" not in line
    assert "(eval_crop 0.75)" in line and "resized (area)" in line
    settings = ("dataset", "image_size", "eval_crop", "resize_method", "origins")
    assert {k: report["data"][k] for k in settings} == {k: run_report["data"][k] for k in settings}
    assert report["data"]["eval_crop"] == 0.75 and report["data"]["resize_method"] == "area"
    assert report["accuracy"] == run_report["accuracy"]
    # What an app reads from the file: the crop the conversion scored with.
    assert read_metadata(flatbuffer)["preprocessing"] == {
        "eval_crop": 0.75,
        "resize_method": "area",
    }


def test_a_model_copied_alone_evaluates_as_in_its_run_folder(cropped_run):
    in_run, alone = cropped_run
    lines = []
    found = evaluate.evaluate(str(alone), "digits", log=lines.append)
    in_folder = evaluate.evaluate(str(in_run), "digits", log=lambda _: None)
    for key in ("top1", "top5", "examples"):
        assert found[key] == in_folder[key]
    assert found["data"]["eval_crop"] == 0.75 and found["data"]["origins"]["eval_crop"] == "model"
    assert "eval_crop, resize_method from the model" in lines[0]


def test_preprocess_input_refuses_a_16_bit_image():
    image = np.full((4, 4, 3), 40000, np.uint16)
    with pytest.raises(ValueError, match=r"0-255.*uint16 values from 40000 to 40000.*16-bit"):
        keras_mixer.preprocess_input(image)
    eight_bit = np.arange(256, dtype=np.uint16)  # 16-bit storage of 8-bit values is fine
    np.testing.assert_allclose(keras_mixer.preprocess_input(eight_bit), eight_bit / 127.5 - 1)
