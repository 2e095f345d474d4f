"""The benchmark scripts still run end to end (slow: they build full-size graphs)."""

import json
import subprocess
import sys

import pytest

from tests.training_helpers import ROOT


@pytest.mark.slow
def test_latency_benchmark_runs_and_the_xnnpack_graph_stays_whole(tmp_path):
    output = tmp_path / "latency.json"
    result = subprocess.run(
        [
            sys.executable,
            "benchmarks/latency.py",
            "--variants",
            "S/32",
            "--runs",
            "2",
            "--output",
            str(output),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "2", "PATH": ""},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (summary,) = json.loads(output.read_text())["summary"]
    assert summary["delegation"]["int8_xnnpack"] == {"partitions": 1, "ops_outside": {}}
    assert summary["delegation"]["int8_plain"]["partitions"] > 1
    assert output.with_suffix(".png").read_bytes()[:4] == b"\x89PNG"
