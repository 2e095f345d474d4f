"""The convert CLI as a user runs it, on a tiny model trained on the digits."""

import importlib.util
import json
import os
import pathlib
import re
import resource
import signal
import subprocess
import sys

import keras
import numpy as np
import pytest

import keras_mixer
from convert import cli, runtime
from convert.metadata import read_metadata
from keras_mixer.datasets import digits_folder
from tests.conftest import missing
from tests.test_files import strict_json
from tests.training_helpers import ROOT, folder_checksums, run_main, run_module


@pytest.mark.parametrize("flag, key", [("--ptq", "ptq_int8"), ("--int8", "qat_int8")])
def test_int8_conversion_writes_model_and_report(digits_model, tmp_path, flag, key):
    output = tmp_path / "model_int8.tflite"
    result = run_main(  # in this process (test_float_modes runs the command as a process)
        cli.main,
        digits_model,
        flag,
        "--data",
        "digits",
        "-o",
        output,
        "--qat-steps",
        "10",
        "--qat-batch-size",
        "16",
        "--eval-images",
        "100",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((tmp_path / "model_int8.json").read_text())
    assert {
        "ops",
        "float_ops",
        "accuracy",
        "top1_agreement",
        "size_bytes",
        "relative_l2",
        "graph_fidelity",
        "calibration",
    } <= set(report)
    # The fixture is ~85% accurate; int8 costs it at most a few of these 100 images.
    assert report["accuracy"]["float"] >= 0.8
    assert abs(report["accuracy"][key] - report["accuracy"]["float"]) <= 0.05
    assert report["float_ops"] == []  # LayerNorm's decomposition included
    assert all(set(dtypes) <= {"int8", "uint8"} for dtypes in report["ops"].values())
    # The XNNPACK graph: 1 partition; only the uint8 <-> int8 edges run outside it.
    assert report["graph"] == "xnnpack" and report["output"] == "logits"
    assert not {"GELU", "RSQRT", "SQUARED_DIFFERENCE", "SOFTMAX"} & set(report["ops"])
    assert report["xnnpack"] == {"partitions": 1, "ops_outside": {"QUANTIZE": 2}}
    assert report["size_bytes"] == output.stat().st_size
    assert report["bytes_per_weight"] == pytest.approx(report["size_bytes"] / report["weights"])
    assert report["top1_agreement"] >= 0.8
    metadata = read_metadata(output.read_bytes())
    assert metadata["labels"] == [str(d) for d in range(10)]
    assert metadata["name"] and "digits" in metadata["description"]
    assert (metadata["mean"], metadata["std"]) == ([0.0], [1.0])  # raw pixels, scale folded
    assert metadata["output"] == "logits"
    # How the apps prepare images: as the model was evaluated (the run's config).
    assert metadata["preprocessing"] == {"eval_crop": 1.0, "resize_method": "bilinear"}
    errors = [row["rmse_per_scale"] for row in report["layer_errors"]]
    assert len(errors) > 20 and errors == sorted(errors, reverse=True)
    assert {"FULLY_CONNECTED", "CONV_2D"} <= {row["op"] for row in report["layer_errors"]}
    # GELU's tensors are ranked, but not its sigmoid input, clamped by design.
    layers = [row["layer"] for row in report["layer_errors"]]
    assert any("_gelu" in layer for layer in layers)
    assert not any(layer.endswith("gate_input") for layer in layers)


def test_keep_float_writes_selective_model(digits_model, tmp_path):
    output = tmp_path / "m.tflite"
    result = run_main(
        cli.main,
        digits_model,
        "--ptq",
        "--keep-float",
        "2",
        "--graph",
        "plain",
        "--data",
        "digits",
        "-o",
        output,
        "--eval-images",
        "100",
        "--benchmark",
        "--threads",
        "1",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(output.with_suffix(".json").read_text())
    # TFLite's own LayerNorm decomposition and GELU: XNNPACK runs them in pieces.
    assert report["ops"]["FULLY_CONNECTED"] == {"int8": 5} and "GELU" in report["ops"]
    assert report["xnnpack"]["partitions"] > 1 and "RSQRT" in report["xnnpack"]["ops_outside"]
    assert report["output"] == "logits"  # int8 models leave the softmax to the app
    selective = report["keep_float"]
    worst = [row["layer"] for row in report["layer_errors"] if row["op"] != "MEAN"]
    assert selective["float_layers"] == worst[:2]
    assert selective["float_ops"] and report["float_ops"] == []
    assert (tmp_path / "m_keep_float2.tflite").stat().st_size == selective["size_bytes"]
    assert abs(selective["accuracy"] - report["accuracy"]["ptq_int8"]) <= 0.02
    # --benchmark: the model beside its float32 twin, with their accuracies.
    bench = json.loads((tmp_path / "m_benchmark.json").read_text())
    assert [row["name"] for row in bench["results"]] == ["m_float32", "m"]
    assert bench["results"][1]["accuracy"] == report["accuracy"]["ptq_int8"]
    float32 = json.loads((tmp_path / "m_float32.json").read_text())
    assert bench["results"][0]["accuracy"] == float32["accuracy"]["float32"]
    assert (tmp_path / "m_benchmark.png").exists() and "ops outside XNNPACK" in result.stdout


def mediapipe():
    """The mediapipe module, or the test fails (CI) or skips saying how to install it."""
    if importlib.util.find_spec("mediapipe") is None:
        missing("mediapipe", "python3 run.py test installs it (run.py's MEDIAPIPE)")
    import mediapipe

    return mediapipe


def mediapipe_categories(model_path, pixels):
    """MediaPipe's ImageClassifier's top 3 categories for a .tflite file on
    ``pixels`` (uint8, the model's size)."""
    mp = mediapipe()
    from mediapipe.tasks.python import BaseOptions, vision

    options = vision.ImageClassifierOptions(
        base_options=BaseOptions(model_asset_path=str(model_path)), max_results=3
    )
    with vision.ImageClassifier.create_from_options(options) as classifier:
        found = classifier.classify(mp.Image(image_format=mp.ImageFormat.SRGB, data=pixels))
    return found.classifications[0].categories


def test_mediapipe_image_classifier_runs_the_int8_model(digits_model, tmp_path):
    mp = mediapipe()
    output = tmp_path / "m.tflite"
    result = run_main(
        cli.main,
        digits_model,
        "--ptq",
        "--data",
        "digits",
        "-o",
        output,
        "--eval-images",
        "20",
        "--debug-images",
        "0",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    sevens = os.path.join(digits_folder(), "7")
    seven = os.path.join(sevens, sorted(os.listdir(sevens))[0])
    image = mp.Image.create_from_file(seven)
    size = keras.saving.load_model(digits_model).input_shape[1]
    pixels = keras.ops.convert_to_numpy(
        keras.ops.image.resize(image.numpy_view()[None], (size, size))
    )
    pixels = np.clip(np.round(pixels[0]), 0, 255).astype(np.uint8)
    expected = runtime.run(runtime.interpreter(str(output)), pixels)
    categories = mediapipe_categories(output, pixels)
    assert len(categories) == 3 and categories[0].score == pytest.approx(expected.max(), abs=1e-6)
    for category in categories:  # names from the metadata's label file
        assert category.category_name == str(category.index)
        assert category.score == pytest.approx(expected[category.index], abs=1e-6)


@pytest.mark.parametrize("kill", [signal.SIGKILL, signal.SIGINT])
def test_killed_conversion_leaves_no_model(digits_model, tmp_path, kill):
    output, errors = tmp_path / "out" / "m.tflite", tmp_path / "stderr.txt"
    output.parent.mkdir()
    command = [
        sys.executable,
        "-u",
        "-m",
        "convert",
        str(digits_model),
        "--int8",
        "--data",
        "digits",
        "-o",
        str(output),
        "--qat-epochs",
        "50",
        "--eval-images",
        "20",
    ]
    with (
        open(errors, "w") as stderr,
        subprocess.Popen(
            command,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env={**os.environ, "KERAS_BACKEND": "tensorflow"},
            # Ctrl-C reaches the CLI even where the test runner ignores SIGINT.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        ) as proc,
    ):
        for line in proc.stdout:
            if "quantisation-aware training" in line:
                break
        proc.send_signal(kill)
    assert list(output.parent.iterdir()) == []
    if kill == signal.SIGKILL:
        assert proc.wait() == -signal.SIGKILL
    else:
        assert proc.wait() == 130
        message = errors.read_text()
        assert "Traceback" not in message and f"interrupted: {output} not written" in message


# (least top-1 agreement with Keras, largest relative L2 of the scores), from
# measured margins: float32 computes the same function (relative L2 ~1e-7).
FLOAT_FIDELITY = {None: (1.0, 1e-4), "--fp16": (0.99, 0.01), "--dynamic-range": (0.97, 0.05)}


def test_float_modes(digits_model, tmp_path):
    for flag in ("--fp16", "--dynamic-range", None):
        output = tmp_path / f"m{flag}.tflite"
        args = [digits_model, "--data", "digits", "-o", output, "--eval-images", "50"]
        # The float32 default as a user runs it; the others in this process (no TF import).
        result = run_main(cli.main, *args, flag) if flag else run_module("convert", *args)
        assert result.returncode == 0, result.stderr[-3000:]
        report = json.loads(output.with_suffix(".json").read_text())
        agreement, distance = FLOAT_FIDELITY[flag]
        assert report["top1_agreement"] >= agreement and report["relative_l2"] < distance, flag


def test_bad_inputs_are_named(digits_model, tmp_path):
    def error_of(*args):
        result = run_main(cli.main, *args)
        assert result.returncode == 2 and "Traceback" not in result.stderr
        return result.stderr

    result = run_module("convert", tmp_path / "none.keras", "-o", tmp_path / "m.tflite")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "does not exist" in result.stderr
    (tmp_path / "junk.keras").write_bytes(b"junk")
    assert "is not a whole .keras file" in error_of(
        tmp_path / "junk.keras", "-o", tmp_path / "m.tflite"
    )
    plain = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    plain.save(tmp_path / "plain.keras")
    assert "is not a keras_mixer Mixer" in error_of(
        tmp_path / "plain.keras", "-o", tmp_path / "m.tflite"
    )
    assert "Output folder" in error_of(digits_model, "-o", tmp_path / "missing" / "m.tflite")
    (tmp_path / "folder.tflite").mkdir()
    (tmp_path / "notes.tflite").write_bytes(b"my notes")
    (tmp_path / "mine.json").write_text('{"my": "notes"}')
    (tmp_path / "m_benchmark.png").write_text("not a plot")
    before = folder_checksums(tmp_path)
    model_before = folder_checksums(digits_model.parent)
    for output, problem in [
        (tmp_path / "plain.keras", "must end in .tflite"),
        (tmp_path / "m.json", "must end in .tflite"),
        (tmp_path / "folder.tflite", "is a directory"),
        (tmp_path / "notes.tflite", "is not a TFLite model"),
    ]:
        assert problem in error_of(tmp_path / "plain.keras", "-o", output)
    # Nor may a file written beside the model replace a file of another kind.
    for args, problem in [
        (["-o", tmp_path / "mine.tflite"], "mine.json' exists and is not a conversion report"),
        (
            ["--benchmark", "--threads", "1", "-o", tmp_path / "m.tflite"],
            "m_benchmark.png' exists and is not a benchmark plot keras-mixer wrote",
        ),
    ]:
        assert problem in error_of(digits_model, "--ptq", *args)
    assert folder_checksums(tmp_path) == before
    assert (
        "--calibration (calibration) must be one of minmax, percentile, mse; got 'median'"
        in error_of(digits_model, "--ptq", "--calibration", "median", "-o", tmp_path / "m.tflite")
    )
    assert "--qat-steps (qat_steps) must be a whole number of at least 1; got 0" in error_of(
        digits_model, "--int8", "--qat-steps", "0", "-o", tmp_path / "m.tflite"
    )
    refused = run_main(
        cli.main, digits_model, "--ptq", "--threads", "0", "-o", tmp_path / "m.tflite"
    )
    assert refused.returncode == 2 and refused.stderr == (
        "error: argument --threads: thread counts are positive integers like 1,2,4; got '0' "
        "(see convert --help)\n"
    )
    assert refused.stdout == ""  # refused before any work: not one stage began
    assert not (tmp_path / "m.tflite").exists()
    assert "QAT needs at least one batch of 5000 training images; digits has" in error_of(
        digits_model, "--int8", "--qat-batch-size", "5000", "-o", tmp_path / "m.tflite"
    )
    three = keras_mixer.MlpMixer(4, 16, 1, 8, 32, input_shape=(16, 16, 3), classes=3)
    three.save(tmp_path / "three.keras")
    assert "has 10 classes; the model's head has 3" in error_of(
        tmp_path / "three.keras", "--data", "digits", "-o", tmp_path / "m.tflite"
    )
    del before  # three.keras was written since
    assert sorted(path.name for path in tmp_path.glob("*.tflite")) == [
        "folder.tflite",
        "notes.tflite",
    ]
    assert folder_checksums(digits_model.parent) == model_before


def test_the_seed_draws_the_calibration_images_not_the_evaluation_ones(digits_model):
    from convert.clock import Clock
    from convert.options import ConvertOptions
    from convert.pipeline import resolve_data
    from convert.samples import load_samples

    model = keras_mixer.load_model(digits_model)

    def samples(seed):
        options = ConvertOptions(
            mode="qat", calibration_images=40, eval_images=30, seed=seed, qat_batch_size=8
        ).checked()
        options = resolve_data(options, model, str(digits_model))
        found = load_samples(model, options, Clock(lambda _: None))
        first_batch = next(iter(found.train_batches))[0].numpy()
        return found.eval_pixels, found.calibration, first_batch

    zero, again, one = samples(0), samples(0), samples(1)
    assert all(np.array_equal(a, b) for a, b in zip(zero, again))  # reproducible
    assert np.array_equal(zero[0], one[0])  # the same evaluation images
    assert not np.array_equal(zero[1], one[1]) and not np.array_equal(zero[2], one[2])


def test_qat_that_helps_is_what_is_written(digits_model, tmp_path):
    # Ranges from two calibration images are poor; 40 QAT steps mend them.
    common = ["--data", "digits", "--eval-images", "100", "--calibration-images", "2"]
    common += ["--debug-images", "0"]
    ptq = run_main(cli.main, digits_model, "--ptq", "-o", tmp_path / "ptq.tflite", *common)
    qat_flags = ["--qat-steps", "40", "--qat-learning-rate", "3e-3"]
    trained = run_main(
        cli.main, digits_model, "--int8", "-o", tmp_path / "qat.tflite", *qat_flags, *common
    )
    assert ptq.returncode == 0 and trained.returncode == 0, trained.stderr[-3000:]
    assert "writing the trained graph (higher top-1 agreement after training)" in trained.stdout
    report = json.loads((tmp_path / "qat.json").read_text())
    ptq_report = json.loads((tmp_path / "ptq.json").read_text())
    assert report["qat"]["written"] == "trained"
    held_back = report["qat"]["held_back"]
    assert held_back["trained"]["top1_agreement"] > held_back["calibrated"]["top1_agreement"]
    # The file is the trained graph: nearer the float model than the calibrated one's file.
    assert report["relative_l2"] < 0.8 * ptq_report["relative_l2"]
    assert report["top1_agreement"] > ptq_report["top1_agreement"]


@pytest.mark.parametrize(
    "trained, calibrated, wins",
    [
        ((0.95, 0.2), (0.94, 0.1), True),  # more images agree: wins, even with larger logit error
        ((0.93, 0.05), (0.94, 0.2), False),  # fewer agree: loses, even with smaller error
        ((0.94, 0.1), (0.94, 0.2), True),  # as many: the smaller logit error decides
        ((0.94, 0.1), (0.94, 0.1), True),  # a tie: trained (what the user asked for)
        ((0.94, 0.3), (0.94, 0.2), False),
        ((0.94, None), (0.94, None), True),  # zero logits: nothing to compare
    ],
)
def test_the_qat_decision(trained, calibrated, wins):
    from convert.qat import better

    def scores(pair):
        return {"top1_agreement": pair[0], "relative_l2": pair[1]}

    assert better(scores(trained), scores(calibrated))[0] is wins


def test_qat_that_made_the_graph_worse_writes_the_calibrated_one(digits_model, tmp_path):
    common = [
        "--data",
        "digits",
        "--eval-images",
        "40",
        "--calibration-images",
        "32",
        "--debug-images",
        "0",
    ]
    ptq = run_main(cli.main, digits_model, "--ptq", "-o", tmp_path / "ptq.tflite", *common)
    wrecked = run_main(
        cli.main,
        digits_model,
        "--int8",
        "-o",
        tmp_path / "qat.tflite",
        "--qat-steps",
        "5",
        "--qat-learning-rate",
        "100",
        *common,
    )
    assert ptq.returncode == 0 and wrecked.returncode == 0, wrecked.stderr[-3000:]
    assert "writing the calibrated graph (lower top-1 agreement after training)" in wrecked.stdout
    report = json.loads((tmp_path / "qat.json").read_text())
    assert report["qat"]["written"] == "calibrated"
    held_back = report["qat"]["held_back"]
    assert held_back["images"] == 144  # every tenth of the 1,435 digits training images
    assert held_back["trained"]["top1_agreement"] < held_back["calibrated"]["top1_agreement"]
    # What was written is the calibrated graph: the PTQ conversion's file, output for output.
    images = np.random.default_rng(0).integers(0, 256, (8, 16, 16, 3), dtype=np.uint8)
    for image in images:
        np.testing.assert_array_equal(
            runtime.run(runtime.interpreter(str(tmp_path / "qat.tflite")), image),
            runtime.run(runtime.interpreter(str(tmp_path / "ptq.tflite")), image),
        )


def one_line_refusal(result):
    assert result.returncode == 2, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr[-2000:]
    return lines[0]


def test_values_a_conversion_cannot_mean_are_refused_before_any_work(digits_model, tmp_path):
    output = tmp_path / "m.tflite"
    for args, message in [
        (
            ["--int8", "--qat-learning-rate", "nan"],
            "--qat-learning-rate (qat_learning_rate) must be a finite number above 0; got nan.",
        ),
        (
            ["--int8", "--qat-learning-rate=-1e-4"],
            "--qat-learning-rate (qat_learning_rate) must be a finite number above 0; got -0.0001.",
        ),
        (
            ["--int8", "--qat-learning-rate", "inf"],
            "--qat-learning-rate (qat_learning_rate) must be a finite number above 0; got inf.",
        ),
    ]:
        result = run_main(cli.main, digits_model, *args, "-o", output)
        assert one_line_refusal(result) == f"error: {message}"
        assert result.stdout == ""  # not one stage began
    nan_model = keras.saving.load_model(digits_model)
    kernel = nan_model.get_layer("MixerBlock_0").channel_mixing.dense_1.kernel
    kernel.assign(np.where(np.eye(*kernel.shape) > 0, np.nan, kernel.numpy()))
    nan_model.save(tmp_path / "diverged.keras")
    diverged = (
        f"error: Model {nan_model.name!r} has NaN/inf weights in layer 'MixerBlock_0' "
        "(MixerBlock_0/channel_mixing/Dense_1/kernel: 16 of 512 values); it cannot be scored or "
        "converted (was it saved from a run whose loss diverged?)."
    )
    assert (
        one_line_refusal(run_main(cli.main, tmp_path / "diverged.keras", "--ptq", "-o", output))
        == diverged
    )
    # mixer-evaluate scored it anyway (NaN top-1) before; now it refuses alike.
    from training import evaluate

    scored = run_main(evaluate.main, tmp_path / "diverged.keras", "--data", "digits")
    assert scored.returncode == 2 and one_line_refusal(scored) == diverged
    refusal = one_line_refusal(
        run_main(cli.main, digits_model, "--ptq", "--keep-float", "9999", "-o", output)
    )
    assert re.fullmatch(
        r"error: --keep-float \(keep_float\) 9999: this model's xnnpack int8 graph has (\d+) "
        r"layers that can be "
        r"kept in float; choose at most \1\.",
        refusal,
    )
    assert sorted(os.listdir(tmp_path)) == ["diverged.keras"]


@pytest.mark.parametrize("io", ["uint8", "int8", "float32"])
def test_every_io_type_gives_a_valid_meaningful_report(digits_model, tmp_path, io):
    from convert.pipeline import to_tflite

    output = tmp_path / "m.tflite"
    to_tflite(  # a path, as the CLI takes
        str(digits_model), str(output), mode="ptq", io=io, eval_images=96, log=lambda _: None
    )
    report = strict_json(tmp_path / "m.json")
    assert report["io"] == io and "non_finite" not in report
    fidelity = report["graph_fidelity"]
    # Finite and close; tests/test_convert_fidelity.py holds the file to its graph. (One
    # image in 96 lay 3 steps out with float32 I/O when TensorFlow ran on one thread.)
    assert fidelity["within_2_steps"] >= 0.97 and 0 <= fidelity["max_steps"] < 8
    assert report["top1_agreement"] >= 0.97
    detail = runtime.interpreter(str(output)).get_input_details()[0]
    assert detail["dtype"] == {"uint8": np.uint8, "int8": np.int8, "float32": np.float32}[io]


def test_a_conversion_in_progress_refuses_a_second_to_the_same_output(digits_model, tmp_path):
    from keras_mixer.files import held

    output = tmp_path / "m.tflite"
    with held(output):  # as a conversion running in another process holds it
        before = folder_checksums(tmp_path)
        # flock locks are per open file: this process's second conversion meets its first's
        refusal = one_line_refusal(run_main(cli.main, digits_model, "--ptq", "-o", output))
        assert folder_checksums(tmp_path) == before
    quick = ["--eval-images", "32", "--debug-images", "0"]
    assert refusal == (
        f"error: Output {output} is being written by another run (process {os.getpid()}); wait "
        "for it to finish or choose another output."
    )
    assert run_main(cli.main, digits_model, "--ptq", *quick, "-o", output).returncode == 0
    assert sorted(os.listdir(tmp_path)) == ["m.json", "m.tflite"]  # the lock went with the run


def test_a_full_disk_names_the_file_and_the_limit_and_leaves_no_half_pair(digits_model, tmp_path):
    output = tmp_path / "m.tflite"

    def small_files():  # as `ulimit -f 20` does: no file over 20 KB
        resource.setrlimit(resource.RLIMIT_FSIZE, (20 * 1024, 20 * 1024))

    result = run_module(
        "convert",
        digits_model,
        "--ptq",
        "--eval-images",
        "32",
        "-o",
        output,
        preexec_fn=small_files,
    )
    assert one_line_refusal(result) == (
        f"error: No room to write {output}: this process may write files of at most 20 KB "
        "(ulimit -f)"
    )
    assert os.listdir(tmp_path) == []


def test_few_calibration_images_give_one_warning_with_the_measured_effect(digits_model, tmp_path):
    result = run_main(
        cli.main,
        digits_model,
        "--ptq",
        "--calibration-images",
        "4",
        "--eval-images",
        "96",
        "--debug-images",
        "0",
        "-o",
        tmp_path / "m.tflite",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    warnings = [line for line in result.stdout.splitlines() if "warning:" in line]
    assert len(warnings) == 1
    report = strict_json(tmp_path / "m.json")
    distance = report["relative_l2"]
    assert (
        f"warning: only 4 calibration images (at least 32 advised): this model's int8 "
        f"outputs lie at relative L2 {distance:.3f} from Keras" in warnings[0]
    )
    assert report["calibration"]["warning"] in warnings[0]


def test_a_model_whose_logits_are_all_zero_converts_with_qat(tmp_path):
    """A head never trained (zero-initialised, as when a checkpoint's head does
    not fit): no logit error to measure, said as n/a rather than a crash."""
    untrained = keras_mixer.MlpMixer(4, 16, 1, 8, 32, input_shape=(16, 16, 3), classes=10)
    untrained.save(tmp_path / "untrained.keras")
    result = run_main(
        cli.main,
        tmp_path / "untrained.keras",
        "--int8",
        "--qat-steps",
        "2",
        "--eval-images",
        "32",
        "--debug-images",
        "0",
        "-o",
        tmp_path / "m.tflite",
    )
    assert result.returncode == 0, result.stderr
    assert "relative L2 n/a (the Keras model's scores are all zero)" in result.stdout
    assert strict_json(tmp_path / "m.json")["relative_l2"] is None


def test_an_output_folder_that_cannot_be_written_is_refused_before_any_work(digits_model, tmp_path):
    folder = tmp_path / "read_only"
    folder.mkdir()
    folder.chmod(0o555)
    if os.geteuid() == 0:  # root writes through permission bits: a folder the kernel refuses
        folder = pathlib.Path("/sys")
    result = run_main(cli.main, digits_model, "--ptq", "-o", folder / "m.tflite")
    assert one_line_refusal(result).startswith(f"error: Output folder '{folder}' is not writable (")
    assert result.stdout == ""  # not one stage began
