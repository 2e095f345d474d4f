"""The benchmark scripts still run end to end (slow: they build full-size graphs)."""

import json
import os
import re
import subprocess
import sys

import numpy as np
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


def test_the_int8_bounds_groups_split_the_graph_and_the_budget_reads_the_curve(rng):
    """Every int8 tensor of the XNNPACK graph is in exactly one part of
    ``benchmarks/int8_bounds.py`` (a renamed layer would leave the bounds
    silently incomplete); "all" taps to the PTQ graph itself."""
    sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
    import int8_bounds

    from convert.calibrate import calibrate
    from convert.quantize import range_quantizers, tapped
    from tests.test_convert_quantize import graphs, pixels

    images = pixels(rng, 16)
    _, quantised = graphs(rng, images)
    calibrate(quantised, images)
    parts = {
        k: v for k, v in int8_bounds.GROUPS.items() if not k.startswith(("none", "all", "every"))
    }
    for name in range_quantizers(quantised):
        owners = [part for part, pattern in parts.items() if re.search(pattern, name)]
        assert len(owners) == 1, (name, owners)
    plain = quantised(images, training=False).numpy()
    with tapped(quantised, int8_bounds._Int8Where(int8_bounds.GROUPS["all (the PTQ graph)"])):
        np.testing.assert_array_equal(quantised(images, training=False).numpy(), plain)
    with tapped(quantised, int8_bounds._Bits(8)):  # the bit-width sweep's 8 bits: the graph
        np.testing.assert_array_equal(quantised(images, training=False).numpy(), plain)
    with tapped(quantised, int8_bounds._Int8Where(int8_bounds.GROUPS["none (int8 weights only)"])):
        weights_only = quantised(images, training=False).numpy()
    with tapped(quantised, int8_bounds._Bits(16)):
        sixteen = quantised(images, training=False).numpy()
    # (what is left at 16 bits is the calibrated ranges' clipping)
    assert np.abs(sixteen - weights_only).max() < 0.25 * np.abs(plain - weights_only).max()
    curve = [(0.0, 1.0), (0.01, 0.995), (0.02, 0.985)]
    assert int8_bounds.budget(curve, 0.99) == pytest.approx(0.015)
    assert int8_bounds.budget(curve, 0.999) == pytest.approx(0.002)
    assert int8_bounds.budget([(0.0, 0.98)], 0.99) == 0.0
    assert int8_bounds.budget(curve, 0.98) is None  # held even at the most noise measured
    layers = int8_bounds.block_outputs(quantised)
    assert layers[-1] == "head" and len(layers) == 1 + sum(
        layer.name.endswith("_token_residual") for layer in quantised.layers
    )
    stem, *_ = int8_bounds.divergence_rows(quantised, images.astype(np.uint8), ["stem", *layers])
    for run in ("xnnpack", "reference"):  # the file's first convolution is the graph's
        assert stem[run]["apart"] < 0.01 and stem[run]["max_steps"] <= 1, stem
