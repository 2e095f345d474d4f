"""``convert benchmark`` as a user runs it, on tiny converted Mixers."""

import json
import os

import numpy as np
import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from convert import benchmark, tflite
from convert.calibrate import calibrate
from convert.forms import form
from convert.graph import build_graph, layer_norm_variances, mixer_spec, model_values
from convert.quantize import quantised_graph
from keras_mixer.files import plot_metadata
from tests.test_convert_graph import trained_like
from tests.training_helpers import folder_checksums, run_main, run_module


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bench")
    rng = np.random.default_rng(0)
    model = trained_like(rng)
    spec, values = mixer_spec(model), model_values(model)
    pixels = rng.integers(0, 256, (8, 16, 16, 3)).astype(np.float32)
    plain = build_graph(spec, values, batch_size=None)
    variances = layer_norm_variances(plain, pixels)
    paths = {
        "float32": folder / "float32.tflite",
        "plain": folder / "plain.tflite",
        "xnnpack": folder / "xnnpack.tflite",
    }
    tflite.write(tflite.convert(plain, "float32"), paths["float32"])
    for name in ("plain", "xnnpack"):
        graph = quantised_graph(spec, values, form(name, variances))
        calibrate(graph, pixels)
        tflite.write(tflite.convert(graph, "ptq", io="int8"), paths[name])
    # As convert writes it beside a model: the accuracy the plot uses.
    (folder / "xnnpack.json").write_text(
        json.dumps({"mode": "ptq", "accuracy": {"ptq_int8": 0.75}})
    )
    return paths


def test_side_by_side_table_json_and_plot(models, tmp_path):
    out = tmp_path / "bench.json"
    result = run_module(
        "convert",
        "benchmark",
        *models.values(),
        "--threads",
        "1,2",
        "--runs",
        "6",
        "--warmup",
        "1",
        "--json",
        out,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "ops outside XNNPACK" in result.stdout and "xnnpack" in result.stdout
    report = json.loads(out.read_text())
    rows = {(r["name"], r["threads"]): r for r in report["results"]}
    assert set(rows) == {(name, t) for name in models for t in (1, 2)}
    for row in rows.values():
        assert row["p10_ms"] <= row["median_ms"] <= row["p90_ms"] and row["runs"] == 5
        assert row["load_ms"] > 0 and row["peak_memory_mb"] > 0
    assert rows[("xnnpack", 2)]["partitions"] == 1 and rows[("xnnpack", 2)]["ops_outside"] == {}
    assert rows[("plain", 2)]["partitions"] > 1 and "GELU" in rows[("plain", 2)]["ops_outside"]
    assert rows[("xnnpack", 1)]["accuracy"] == 0.75 and rows[("float32", 1)]["accuracy"] is None
    assert out.with_suffix(".png").read_bytes()[:4] == b"\x89PNG"


def test_bad_input_is_named(models, tmp_path):
    before = folder_checksums(models["float32"].parent)
    missing = run_module("convert", "benchmark", tmp_path / "none.tflite")
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    threads = run_main(benchmark.main, models["float32"], "--threads", "two")
    assert threads.returncode == 2 and "thread counts are positive integers" in threads.stderr
    (tmp_path / "junk.tflite").write_bytes(b"junk")
    junk = run_main(benchmark.main, tmp_path / "junk.tflite")
    assert junk.returncode == 2 and f"Running '{tmp_path / 'junk.tflite'}' in LiteRT failed: " in (
        junk.stderr
    )
    folder = run_main(benchmark.main, tmp_path)
    assert (
        folder.returncode == 2
        and f"'{tmp_path}' is a directory; give the file in it" in folder.stderr
    )
    assert "Traceback" not in missing.stderr + threads.stderr + junk.stderr + folder.stderr
    many = len(os.sched_getaffinity(0)) + 1  # more threads than cores: measured, and said
    crowded = run_main(benchmark.main, models["float32"], "--threads", many, "--runs", "2")
    assert crowded.returncode == 0, crowded.stderr[-2000:]
    assert f"note: --threads {many} beyond this machine's {many - 1} CPU cores" in crowded.stdout
    # --json never replaces an input model, its conversion report or another file.
    (tmp_path / "notes.png").write_text("mine")
    Image.new("RGB", (4, 4)).save(tmp_path / "photo.png")  # a real PNG, not one of our plots
    curves = PngInfo()  # a training run's curves: our plot, but not a benchmark's
    for key, value in plot_metadata("training curves").items():
        curves.add_text(key, value)
    Image.new("RGB", (4, 4)).save(tmp_path / "training_curves.png", pnginfo=curves)
    for json_path, problem in (
        (models["float32"], "must end in .json"),
        (models["xnnpack"].with_suffix(".json"), "exists and is not a benchmark result"),
        (
            tmp_path / "notes.json",
            "notes.png' exists and is not a benchmark plot keras-mixer wrote",
        ),
        (
            tmp_path / "photo.json",
            "photo.png' exists and is not a benchmark plot keras-mixer wrote",
        ),
        (
            tmp_path / "training_curves.json",
            "training_curves.png' exists and is not a benchmark plot keras-mixer wrote",
        ),
    ):
        found = run_main(benchmark.main, models["xnnpack"], "--threads", "1", "--json", json_path)
        assert found.returncode == 2 and "Traceback" not in found.stderr
        assert problem in found.stderr and "[benchmark]" not in found.stdout  # before any work
    assert folder_checksums(models["float32"].parent) == before
    assert (tmp_path / "notes.png").read_text() == "mine"
    # Our own plot is ours to replace: a rerun writes over it.
    again = tmp_path / "again.json"
    for _ in range(2):
        rerun = run_main(
            benchmark.main, models["xnnpack"], "--threads", "1", "--runs", "2", "--json", again
        )
        assert rerun.returncode == 0, rerun.stderr[-2000:]
