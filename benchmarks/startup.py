"""How soon each command answers ``--help`` and refuses a missing file: the
commands parse their arguments before importing TensorFlow
(``mixer_base.commands``), so ``--help`` should take well under a second.

    .venv/bin/python benchmarks/startup.py [--runs 5]

Runs each console script of the package (from this interpreter's bin/) as
a user would, ``--runs`` times; prints the median and slowest wall time and
writes benchmarks/results/startup.json and startup.png.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from harness import cpu_description, text_table, write_results  # noqa: E402

BIN = os.path.dirname(sys.executable)
COMMANDS = {  # name -> (console script, arguments); {tmp}: an empty folder
    "convert --help": ("convert", ["--help"]),
    "mixer-convert --help": ("mixer-convert", ["--help"]),
    "convert benchmark --help": ("convert", ["benchmark", "--help"]),
    "convert compare --help": ("convert", ["compare", "--help"]),
    "mixer-train --help": ("mixer-train", ["--help"]),
    "mixer-evaluate --help": ("mixer-evaluate", ["--help"]),
    "convert (missing model)": (
        "convert",
        ["{tmp}/missing.keras", "--ptq", "-o", "{tmp}/m.tflite"],
    ),
    "mixer-train (missing config)": (
        "mixer-train",
        ["--config", "{tmp}/no.yaml", "--output", "{tmp}/r"],
    ),
}


def timed(script, args, runs):
    """Wall seconds of ``runs`` runs of ``script args`` (a fresh empty folder each)."""
    seconds = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            command = [os.path.join(BIN, script), *(arg.format(tmp=tmp) for arg in args)]
            start = time.perf_counter()
            subprocess.run(command, capture_output=True, env={**os.environ, "PATH": BIN})
            seconds.append(time.perf_counter() - start)
    return seconds


def plot(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    figure, axes = plt.subplots(figsize=(8, 3.5))
    axes.barh([row["command"] for row in rows], [row["median_s"] for row in rows])
    axes.axvline(1.0, color="grey", linestyle="--", linewidth=1)
    axes.set_xlabel("seconds (median)")
    axes.invert_yaxis()
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--output", default=os.path.join(HERE, "results", "startup.json"))
    args = parser.parse_args()
    print(cpu_description(), flush=True)
    rows = []
    for name, (script, arguments) in COMMANDS.items():
        seconds = timed(script, arguments, args.runs)
        rows.append(
            {
                "command": name,
                "median_s": statistics.median(seconds),
                "max_s": max(seconds),
                "runs": args.runs,
            }
        )
    print(
        text_table(
            rows,
            [
                ("command", -30, lambda r: r["command"]),
                ("median s", 9, lambda r: f"{r['median_s']:.2f}"),
                ("max s", 7, lambda r: f"{r['max_s']:.2f}"),
            ],
        )
    )
    png = write_results(
        {"cpu": cpu_description(), "rows": rows}, args.output, lambda path: plot(rows, path)
    )
    print(f"wrote {args.output} and {png}")


if __name__ == "__main__":
    main()
