"""The convert CLI as a user runs it, on a tiny model trained on the digits."""

import json

import pytest

import keras
import keras_mixer
from tests.training_helpers import run_module, write_config
from training import load_config, train


@pytest.fixture(scope="module")
def digits_model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("digits")
    config = load_config(write_config(folder / "tiny.yaml", train={"epochs": 3, "steps_per_epoch": 20}))
    train(config, str(folder / "run"), verbose=0)
    return folder / "run" / "model.keras"


@pytest.mark.parametrize("flag, key", [("--ptq", "ptq_int8"), ("--int8", "qat_int8")])
def test_int8_conversion_writes_model_and_report(digits_model, tmp_path, flag, key):
    output = tmp_path / "model_int8.tflite"
    result = run_module("convert", digits_model, flag, "--data", "digits", "-o", output,
                        "--qat-steps", "10", "--qat-batch-size", "16", "--eval-images", "100")
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((tmp_path / "model_int8.json").read_text())
    assert {"ops", "float_ops", "accuracy", "top1_agreement", "size_bytes"} <= set(report)
    assert report["accuracy"]["float"] > 0.3 and key in report["accuracy"]
    assert report["ops"]["FULLY_CONNECTED"] == {"int8": 5}
    assert report["float_ops"] == []  # LayerNorm's decomposition included
    assert all(set(dtypes) <= {"int8", "uint8"} for dtypes in report["ops"].values())
    assert report["size_bytes"] == output.stat().st_size
    assert report["size_vs_float32"] == pytest.approx(
        report["size_bytes"] / report["float32_size_bytes"])
    assert report["top1_agreement"] >= 0.8


def test_float_modes(digits_model, tmp_path):
    for flag in ("--fp16", "--dynamic-range", None):
        output = tmp_path / f"m{flag}.tflite"
        args = [digits_model, "--data", "digits", "-o", output, "--eval-images", "50"]
        result = run_module("convert", *(args + [flag] if flag else args))
        assert result.returncode == 0, result.stderr[-3000:]
        report = json.loads(output.with_suffix(".json").read_text())
        assert report["top1_agreement"] >= 0.95


def test_bad_inputs_are_named(digits_model, tmp_path):
    def error_of(*args):
        result = run_module("convert", *args)
        assert result.returncode != 0 and "Traceback" not in result.stderr
        return result.stderr

    assert "does not exist" in error_of(tmp_path / "none.keras", "-o", tmp_path / "m.tflite")
    (tmp_path / "junk.keras").write_bytes(b"junk")
    assert "not a readable Keras model" in error_of(tmp_path / "junk.keras", "-o",
                                                    tmp_path / "m.tflite")
    plain = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    plain.save(tmp_path / "plain.keras")
    assert "is not a keras_mixer Mixer" in error_of(tmp_path / "plain.keras", "-o",
                                                    tmp_path / "m.tflite")
    assert "Output folder" in error_of(digits_model, "-o", tmp_path / "missing" / "m.tflite")
    three = keras_mixer.MlpMixer(4, 16, 1, 8, 32, input_shape=(16, 16, 3), classes=3)
    three.save(tmp_path / "three.keras")
    assert "has 10 classes; the model's head has 3" in error_of(
        tmp_path / "three.keras", "--data", "digits", "-o", tmp_path / "m.tflite")
    assert not list(tmp_path.glob("*.tflite"))
