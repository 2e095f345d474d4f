"""``convert compare``: every model x mode x thread count converted, evaluated
and benchmarked; conversions reused; the trade-off's front and pick."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

import keras_mixer
from convert import cli
from convert import compare as compare_lib
from convert.compare import CompareOptions
from convert.tradeoff import Point, pareto, recommend
from keras_mixer.files import plot_metadata
from tests.test_files import strict_json
from tests.training_helpers import ROOT, command_env, run_main

POINTS = [
    Point("slow_best", 10.0, 0.95, 400),
    Point("fast_good", 2.0, 0.945, 100),
    Point("fastest_bad", 1.0, 0.80, 100),
    Point("dominated", 3.0, 0.90, 100),  # fast_good is faster and better
    Point("twin_a", 5.0, 0.95, 300),  # ties slow_best on top-1, faster: dominates it
    Point("twin_b", 5.0, 0.95, 200),  # identical to twin_a: both stay
    Point("as_fast_worse", 1.0, 0.75, 100),  # as fast as fastest_bad, less accurate: dominated
]


def test_the_pareto_front_keeps_only_undominated_points_fastest_first():
    assert [p.name for p in pareto(POINTS)] == ["fastest_bad", "fast_good", "twin_a", "twin_b"]
    assert pareto([]) == []


def test_the_recommendation_is_the_fastest_within_the_margin_ties_by_accuracy_then_size():
    assert recommend(POINTS, within=1.0)["name"] == "fast_good"  # 0.945 >= 0.95 - 0.01
    assert recommend(POINTS, within=0.4)["name"] == "twin_b"  # the smaller of the two twins
    assert recommend(POINTS, within=20)["name"] == "fastest_bad"
    tied = [Point("a", 1.0, 0.90, 10), Point("b", 1.0, 0.93, 10)]
    assert recommend(tied, within=5)["name"] == "b"  # as fast: the more accurate
    assert "within 1 top-1 points of the most accurate (0.9500)" in recommend(POINTS, 1.0)["reason"]
    assert recommend([], 1.0) is None


OPTIONS = CompareOptions(modes=("fp32", "ptq"), threads=(1, 2), runs=3, eval_images=64)


@pytest.fixture(scope="module")
def compared(digits_model, tmp_path_factory):
    folder = tmp_path_factory.mktemp("compare")
    lines = []
    results = compare_lib.compare([str(digits_model)], str(folder), OPTIONS, log=lines.append)
    return folder, results, lines


def test_every_model_mode_and_thread_count_is_a_row(compared):
    folder, results, lines = compared
    rows = results["rows"]
    assert sorted((r["name"], r["threads"]) for r in rows) == [
        ("run_float32", 1),
        ("run_float32", 2),
        ("run_ptq", 1),
        ("run_ptq", 2),
    ]
    on_disk = strict_json(folder / "compare.json")
    assert on_disk["rows"] == json.loads(json.dumps(rows))
    for count in ("1", "2"):  # the front written (and drawn) is the undominated points'
        points = [
            (r["name"], r["median_ms"], r["top1"]) for r in rows if str(r["threads"]) == count
        ]
        undominated = {
            name
            for name, latency, top1 in points
            if not any(
                (m <= latency and t >= top1) and (m, t) != (latency, top1) for _, m, t in points
            )
        }
        assert set(on_disk["front"]["litert"][count]) == undominated
    for row in rows:
        assert 0.5 < row["top1"] <= 1 and row["median_ms"] > 0 and row["size_bytes"] > 0
    float32 = next(r for r in rows if r["name"] == "run_float32")
    assert float32["top1_agreement"] == 1.0 and float32["relative_l2"] < 1e-4
    assert set(on_disk["recommended"]["litert"]) == {"1", "2"}
    printed = "\n".join(lines).splitlines()
    header = next(i for i, line in enumerate(printed) if line.startswith("file "))
    table = [line.split() for line in printed[header + 1 : header + 1 + len(rows)]]
    assert sorted((cells[0], int(cells[1])) for cells in table) == sorted(
        (r["name"], r["threads"]) for r in rows
    )
    assert sum(cells[-1] == "recommended" for cells in table) == 2  # one per thread count


def test_the_plot_is_written_and_not_blank(compared):
    folder, _, _ = compared
    picture = np.asarray(Image.open(folder / "compare.png").convert("L"), np.float64)
    assert picture.shape[1] > 800 and picture.std() > 10


def test_a_rerun_reuses_every_conversion(compared, digits_model, monkeypatch):
    folder, first, _ = compared
    calls = []
    import convert.pipeline

    monkeypatch.setattr(convert.pipeline, "to_tflite", lambda *a, **k: calls.append(a))
    lines = []
    again = compare_lib.compare([str(digits_model)], str(folder), OPTIONS, log=lines.append)
    assert calls == []
    assert sum("reused" in line for line in lines) == 2
    assert again["conversions"] == first["conversions"]


def test_bad_input_is_one_line(digits_model, tmp_path):
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "compare.json").write_text(
        json.dumps({"models": {"x": "x.keras"}, "conversions": {}})
    )
    three = keras_mixer.MlpMixer(4, 16, 1, 8, 32, input_shape=(16, 16, 3), classes=3)
    three.save(tmp_path / "three.keras")
    for args, message in [
        (["--modes", "fp32,int4"], "error: mode must be one of qat, ptq, fp16, dynamic, float32, "),
        (
            ["--threads", "1"],
            f"error: {tmp_path / 'other'} holds a comparison of other models (x.keras); "
            "choose another folder.",
        ),
    ]:
        output = tmp_path / ("other" if "--threads" in args else "new")
        result = run_main(cli.main, "compare", digits_model, *args, "-o", output)
        assert result.returncode == 2, result.stderr[-2000:]
        assert len(result.stderr.strip().splitlines()) == 1
        assert result.stderr.startswith(message), result.stderr
    assert not (tmp_path / "new").exists()  # a refused comparison leaves no empty folder
    result = run_main(
        cli.main, "compare", tmp_path / "three.keras", "--modes", "fp32", "-o", tmp_path / "c3"
    )
    assert result.returncode == 2 and result.stderr.startswith(
        f"error: {tmp_path / 'three.keras'}: Dataset digits has 10 classes; the model's head has 3"
    )
    assert not (tmp_path / "c3").exists()


def test_ctrl_c_leaves_a_valid_partial_compare_json(digits_model, tmp_path):
    output = tmp_path / "c"
    output.mkdir()
    earlier_plot = PngInfo()
    for key, value in plot_metadata("comparison").items():  # as our plots say
        earlier_plot.add_text(key, value)
    Image.new("RGB", (8, 8)).save(output / "compare.png", pnginfo=earlier_plot)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "convert",
            "compare",
            str(digits_model),
            "--modes",
            "fp32,fp16,dynamic,ptq",
            "--eval-images",
            "64",
            "-o",
            str(output),
        ],
        cwd=ROOT,
        env=command_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.time() + 300
    while not (output / "compare.json").exists() and time.time() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr[-2000:]
    assert stderr.strip().splitlines()[-1].startswith("interrupted: every finished conversion")
    partial = strict_json(output / "compare.json")
    assert 1 <= len(partial["conversions"]) < 4
    for name in partial["conversions"]:
        assert os.path.exists(output / f"{name}.tflite")
    assert not (output / "compare.png").exists()  # the earlier run's plot: not beside these


def test_the_deployment_view_builds_variants_and_shows_published_numbers(tmp_path, monkeypatch):
    from keras_mixer import presets

    monkeypatch.setitem(presets.PUBLISHED_TOP1, ("S/32", None), (68.5, "a paper, for the test"))
    tiny_s32 = lambda **kwargs: keras_mixer.MlpMixer(4, 16, 1, 8, 32, **kwargs)  # noqa: E731
    monkeypatch.setitem(keras_mixer.models.CONSTRUCTORS, "S/32", tiny_s32)  # a stand-in: seconds
    options = CompareOptions(
        modes=("fp32", "dynamic"),
        threads=(1,),
        runs=2,
        eval_images=16,
        variants=("S32",),
        variant_size=16,
    )
    lines = []
    results = compare_lib.compare([], str(tmp_path), options, log=lines.append)
    assert (tmp_path / "Mixer-S32.keras").exists()
    assert sorted(r["name"] for r in results["rows"]) == ["Mixer-S32_dynamic", "Mixer-S32_float32"]
    for row in results["rows"]:
        assert row["published_top1"] == 0.685 and row["published_source"] == "a paper, for the test"
    assert results["recommended"]["litert"]["1"]["top1"] == 0.685  # published, not measured
    printed = "\n".join(lines)
    assert "pub.top1" in printed and " 0.6850 " in printed
    with pytest.raises(ValueError, match="Unknown variant 'X/9'"):
        compare_lib.compare([], str(tmp_path), CompareOptions(variants=("X9",)))


def test_a_rerun_converts_again_when_the_data_settings_changed(digits_model, tmp_path):
    from convert.metadata import read_metadata
    from keras_mixer import preprocessing

    # An older model file, carrying no preprocessing: its run's config.json decides.
    run = tmp_path / "older_run"
    run.mkdir()
    model = keras_mixer.load_model(digits_model)
    preprocessing.set_on_model(model, None)
    model.save(run / "model.keras")
    config = json.loads((digits_model.parent / "config.json").read_text())
    (run / "config.json").write_text(json.dumps(config))
    options = CompareOptions(modes=("ptq",), threads=(1,), runs=3, eval_images=64)
    folder = tmp_path / "compare"
    first = compare_lib.compare([str(run / "model.keras")], str(folder), options, log=print)
    lines = []
    compare_lib.compare([str(run / "model.keras")], str(folder), options, log=lines.append)
    assert sum("reused" in line for line in lines) == 1  # nothing changed: reused

    config["data"]["eval_crop"] = 0.5  # the run's evaluation crop changed
    (run / "config.json").write_text(json.dumps(config))
    lines = []
    spelled_otherwise = os.path.relpath(run / "model.keras")  # the same file, another spelling
    again = compare_lib.compare([spelled_otherwise], str(folder), options, log=lines.append)
    assert not any("reused" in line for line in lines)
    (conversion,) = again["conversions"].values()
    assert conversion["key"]["data"]["eval_crop"] == 0.5
    assert conversion["top1"] != next(iter(first["conversions"].values()))["top1"]
    with Image.open(folder / "compare.png") as plot:  # one thread count: one panel, whole title
        assert plot.width >= 12 * 110
    written = read_metadata((folder / "older_run_ptq.tflite").read_bytes())
    assert written["preprocessing"]["eval_crop"] == 0.5


def test_a_rerun_converts_again_when_the_image_folder_changed(digits_model, tmp_path):
    from keras_mixer.datasets import digits_folder

    folder = tmp_path / "digits"
    for label in range(10):  # 20 digits a class, as a user's folder
        names = sorted(os.listdir(os.path.join(digits_folder(), str(label))))[:20]
        (folder / str(label)).mkdir(parents=True)
        for name in names:
            shutil.copy(os.path.join(digits_folder(), str(label), name), folder / str(label))
    options = CompareOptions(
        modes=("fp32",), threads=(1,), runs=2, eval_images=16, dataset=str(folder)
    )
    output = tmp_path / "compare"
    compare_lib.compare([str(digits_model)], str(output), options, log=lambda _: None)
    extra = sorted(os.listdir(os.path.join(digits_folder(), "3")))[30]
    shutil.copy(os.path.join(digits_folder(), "3", extra), folder / "3")  # one image more
    lines = []
    compare_lib.compare([str(digits_model)], str(output), options, log=lines.append)
    assert not any("reused" in line for line in lines)
