"""``--logits float32``: the int8 body, the head in float inside the same
XNNPACK partition, float32 logits out; read by the metadata, MediaPipe and
the golden cases as today's files are."""

import json
import os

import numpy as np
import pytest

from convert import cli, golden, runtime
from convert.metadata import read_metadata
from convert.options import ConvertOptions
from keras_mixer.datasets import digits_folder
from tests.test_convert_cli import mediapipe, mediapipe_categories, one_line_refusal
from tests.training_helpers import run_main


@pytest.fixture(scope="module")
def files(digits_model, tmp_path_factory):
    """The digits model converted with PTQ twice, int8 and float32 logits
    (uint8 input both), through the command line: {logits: (path, report)}."""
    folder = tmp_path_factory.mktemp("logits")
    found = {}
    for logits in ("int8", "float32"):
        path = folder / f"{logits}.tflite"
        result = run_main(
            cli.main, digits_model, "--ptq", "--logits", logits, "-o", path, "--debug-images", "0"
        )
        assert result.returncode == 0, result.stderr[-3000:]
        found[logits] = (path, json.loads(path.with_suffix(".json").read_text()))
    return found


def test_float_logits_are_one_partition_float32_out_and_agree_at_least_as_int8_logits(files):
    path, report = files["float32"]
    _, int8 = files["int8"]
    runner = runtime.interpreter(str(path))
    inp, out = runner.get_input_details()[0], runner.get_output_details()[0]
    assert inp["dtype"] == np.uint8 and inp["quantization"] == (1.0, 0)  # raw pixels, as today
    assert out["dtype"] == np.float32 and int8["io"] == "uint8"
    assert (report["logits"], report["io"], report["output"]) == ("float32", "uint8", "logits")
    # One partition; only the uint8 input's requantisation runs outside it, and the one
    # float op (the head's FULLY_CONNECTED, after a DEQUANTIZE) is inside.
    assert report["xnnpack"] == {"partitions": 1, "ops_outside": {"QUANTIZE": 1}}
    assert report["float_ops"] == ["FULLY_CONNECTED"]
    assert report["ops"]["FULLY_CONNECTED"]["float32"] == 1
    assert report["ops"]["DEQUANTIZE"] == {"int8": 1}
    assert int8["xnnpack"] == {"partitions": 1, "ops_outside": {"QUANTIZE": 2}}
    assert int8["float_ops"] == [] and "DEQUANTIZE" not in int8["ops"]
    # No int8 output step: the logits agree with Keras at least as the int8 logits do.
    assert report["eval_images"] == int8["eval_images"] > 300
    assert report["top1_agreement"] >= int8["top1_agreement"]
    assert report["relative_l2"] < int8["relative_l2"]
    # The floor: the pooled features (the last int8 tensor) rounded, every other tensor float.
    floor = report["output_floor"]
    assert floor["rounded"] == "avg_pool" and 0 < floor["relative_l2"] < report["relative_l2"]
    assert floor["top1_agreement"] >= report["top1_agreement"] and floor["step"] > 0
    assert int8["output_floor"]["rounded"] == "logits"
    fidelity = report["graph_fidelity"]
    assert fidelity["step_of"].startswith("an int8 range spanning the graph's logits")
    assert fidelity["within_2_steps"] >= 0.99 and fidelity["top1_agreement"] >= 0.99
    assert int8["graph_fidelity"]["step"] == int8["output_floor"]["step"]


def test_float_logits_files_are_read_as_today_s_files(files, tmp_path):
    path, _ = files["float32"]
    model = path.read_bytes()
    metadata = read_metadata(model)
    assert metadata["output"] == "logits" and metadata["labels"] == [str(i) for i in range(10)]
    assert "with float32 logits" in metadata["description"]
    assert read_metadata(files["int8"][0].read_bytes())["output"] == "logits"
    # A golden case (the Android core's and the web page's): float32 logits, softmaxed.
    sevens = os.path.join(digits_folder(), "7")
    seven = os.path.join(sevens, sorted(os.listdir(sevens))[0])
    case = golden.write_case(str(path), seven, str(tmp_path / "case"), golden.conversion_crop(path))
    assert (case["output_type"], case["logits"], case["output_scale"]) == ("float32", "true", "0.0")
    raw = np.fromfile(tmp_path / "case" / "output.bin", "<f4")
    runner = runtime.interpreter(str(path), num_threads=1)
    pixels = np.fromfile(tmp_path / "case" / "input.bin", np.uint8).reshape(16, 16, 3)
    np.testing.assert_array_equal(raw, runtime.run(runner, pixels))
    probabilities = runtime.softmax(raw.astype(np.float64))
    top = [int(i) for i in case["top_indices"].split(",")]
    assert top[0] == int(np.argmax(raw)) and case["top_labels"].split(",")[0] == str(top[0])
    scores = [float(v) for v in case["top_scores"].split(",")]
    np.testing.assert_allclose(scores, probabilities[top], rtol=1e-6)


def test_mediapipe_image_classifier_runs_the_float_logits_model(files):
    mediapipe()  # before the work: missing, it fails (CI) or skips with its install line
    path, _ = files["float32"]
    sevens = os.path.join(digits_folder(), "7")
    argb = golden.argb_pixels(os.path.join(sevens, sorted(os.listdir(sevens))[0]))[0]
    pixels = golden.resized_pixels(argb, 16, 16).astype(np.uint8)  # the model's size
    expected = runtime.run(runtime.interpreter(str(path)), pixels)
    categories = mediapipe_categories(path, pixels)
    assert [c.index for c in categories] == list(np.argsort(-expected, kind="stable")[:3])
    for category in categories:  # names from the metadata's label file, the float logits
        assert category.category_name == str(category.index)
        assert category.score == pytest.approx(expected[category.index], abs=1e-5)


@pytest.mark.parametrize("mode", ["--fp16", "--dynamic-range", None])
def test_float_logits_with_a_float_mode_are_refused_in_one_line(digits_model, tmp_path, mode):
    name = {"--fp16": "fp16", "--dynamic-range": "dynamic", None: "float32"}[mode]
    args = [mode] if mode else []
    result = run_main(
        cli.main, digits_model, *args, "--logits", "float32", "-o", tmp_path / "m.tflite"
    )
    assert one_line_refusal(result) == (
        "error: --logits (logits) float32: float logits are for an int8 mode (--int8 or "
        f"--ptq); a {name} model's outputs are float already."
    )
    assert result.stdout == "" and not list(tmp_path.iterdir())  # before any work
    with pytest.raises(ValueError, match=r"^--logits \(logits\) must be one of int8, float32"):
        ConvertOptions(mode="ptq", logits="int4").checked()
    wrong = run_main(
        cli.main, digits_model, "--ptq", "--logits", "int4", "-o", tmp_path / "m.tflite"
    )
    assert wrong.returncode == 2 and "invalid choice: 'int4'" in wrong.stderr
