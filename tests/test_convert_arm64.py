"""``convert check-arm``: the tiny digits model's int8 file run on ARM64's int8
kernels (LiteRT's aarch64 wheel under QEMU), as a user runs it.

The emulation is prepared once per machine into the Keras cache by the
``emulation`` fixture, as for a user (qemu-user-static with apt, Debian's arm64
Python, the aarch64 wheels; 14 s the first time here); in CI a machine that
cannot prepare it fails with the line saying what to install."""

import json

import pytest

from convert import arm64, cli
from tests.conftest import missing
from tests.training_helpers import run_main


@pytest.fixture(scope="module")
def emulation():
    try:
        return arm64.prepare()
    except arm64.Unprepared as error:
        missing("ARM64 emulation (QEMU, Debian's arm64 Python, LiteRT's aarch64 wheel)", str(error))


@pytest.fixture(scope="module")
def int8_file(digits_model, tmp_path_factory):
    path = tmp_path_factory.mktemp("arm64") / "model_ptq.tflite"
    done = run_main(
        cli.main,
        *(digits_model, "--ptq", "--data", "digits", "-o", path),
        *("--eval-images", 32, "--calibration-images", 64, "--debug-images", 0),
    )
    assert done.returncode == 0, done.stderr
    return path


def test_the_int8_file_gives_x86_s_outputs_on_every_arm64_kernel_family(
    emulation, int8_file, tmp_path
):
    out = tmp_path / "arm.json"
    done = run_main(
        cli.main, "check-arm", int8_file, "--data", "digits", "--images", 24, "--json", out
    )
    assert done.returncode == 0, done.stderr
    results = json.loads(out.read_text())
    rows = {row["cpu"]: row for row in results["results"]}
    assert list(rows) == ["cortex-a53", "cortex-a76", "max"]
    assert [rows[cpu]["features"] for cpu in rows] == [
        ["neon"],
        ["neon", "dot"],
        ["neon", "dot", "i8mm"],
    ]  # what XNNPACK picks its int8 kernels by, as the emulated process sees it
    (found,) = results["files"]
    assert found["data"] == {"dataset": "digits", "eval_crop": 1.0, "resize_method": "bilinear"}
    for cpu, row in rows.items():
        assert row["partitions"] == 1, cpu
        assert row["ops_outside"] == {"QUANTIZE": 2}, cpu  # the uint8 edge only
        assert row["agreement_x86"] == 1.0 and row["top1"] == found["x86_top1"], cpu
        # ARM's requantisation may differ by a step; measured here: none (same bytes).
        assert row["max_steps"] <= 1 and row["differing"] < 0.05, (cpu, row)
        assert row["emulated_seconds"] > 0
    assert results["litert"]["arm64"] == "1.4.0"
    table = done.stdout
    assert "emulated s" in table and "QEMU's time, not a phone's" in table
    assert " ms" not in table and "latency" not in table.lower()
    assert table.count(" not reported; QUANTIZE x2") == 3


def test_an_unknown_cpu_model_is_refused_naming_the_known_ones(emulation, int8_file):
    done = run_main(cli.main, "check-arm", int8_file, "--data", "digits", "--cpus", "cortex-a99")
    assert done.returncode == 2
    assert "QEMU knows no CPU cortex-a99" in done.stderr and "cortex-a76" in done.stderr


def test_a_machine_that_cannot_prepare_is_told_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setenv("PATH", str(tmp_path))  # no apt-get, dpkg or QEMU
    done = run_main(cli.main, "check-arm", "model.tflite", "--data", "digits")
    assert done.returncode == 2
    assert "Model file 'model.tflite' does not exist" in done.stderr
    (tmp_path / "model.tflite").write_bytes(b"")
    done = run_main(cli.main, "check-arm", tmp_path / "model.tflite", "--data", "digits")
    assert done.returncode == 2
    assert done.stdout.startswith("[check-arm] preparing 1/3 (once): installing Debian's qemu")
    (line,) = done.stderr.splitlines()
    assert line.startswith("error: ARM64 emulation needs apt-get")
    assert line.endswith(
        "apt-get install qemu-user-static (Debian 12), with Debian's mirrors and "
        "PyPI reachable; then run again"
    )
