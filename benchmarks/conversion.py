"""Conversion speed: wall time and peak memory of ``convert`` as a user runs it.

    .venv/bin/python benchmarks/conversion.py [--variants S16,B16] [--modes ptq,qat]

Mixer variants at 224 with random weights and a 10-class head (std 0.02),
each converted by the ``convert`` CLI in its own process with the default
per-layer report: ``--ptq --data digits --eval-images 50``, and for ``int8``
(QAT) the same with ``--qat-steps 2 --qat-batch-size 8``. Wall time and peak
RSS come from the child's own resource usage; the stage seconds from the
report, so QAT's cost beyond its training steps is read off directly.

Writes benchmarks/results/conversion.json and conversion.png.
"""

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RESULTS = os.path.join(HERE, "results")
sys.path.insert(0, ROOT)

from harness import cpu_description, random_classifier, text_table, write_results  # noqa: E402

# QAT timed on two short steps: the conversion's cost, not the training's.
QAT_STEPS = ["--qat-steps", "2", "--qat-batch-size", "8"]


def random_model(variant, folder):
    """``harness.random_classifier(variant)`` saved as .keras in ``folder`` once."""
    path = os.path.join(folder, f"{variant}.keras")
    if not os.path.exists(path):
        random_classifier(variant).save(path)
    return path


def timed_conversion(model, mode, output):
    """Runs ``python -m convert`` once; returns wall seconds, peak RSS (GB), the report."""
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "2"}
    from convert.modes import MODES

    recipe = MODES[mode]
    flags = [recipe.flags[0], *(QAT_STEPS if recipe.trains else [])]
    command = [
        sys.executable,
        "-m",
        "convert",
        model,
        *flags,
        "--data",
        "digits",
        "--eval-images",
        "50",
        "-o",
        output,
    ]
    start = time.perf_counter()
    child = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"convert failed on {model} ({mode}): status {status}")
    with open(os.path.splitext(output)[0] + ".json") as f:
        report = json.load(f)
    return wall, usage.ru_maxrss / 2**20, report


def table(rows):
    return text_table(
        rows,
        [
            ("variant", -8, lambda row: row["variant"]),
            ("mode", -5, lambda row: row["mode"]),
            ("wall s", 7, lambda row: f"{row['wall_s']:.1f}"),
            ("peak GB", 8, lambda row: f"{row['peak_gb']:.2f}"),
            ("train s", 8, lambda row: f"{row['train_s']:.1f}"),
            ("beyond training s", 18, lambda row: f"{row['beyond_training_s']:.1f}"),
            (
                " stages (s)",
                0,
                lambda row: (
                    " "
                    + ", ".join(f"{name} {seconds:.0f}" for name, seconds in row["stages"].items())
                ),
            ),
        ],
    )


def plot(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4))
    labels = [f"{row['variant']} {row['mode']}" for row in rows]
    bottom = [0.0] * len(rows)
    for stage in dict.fromkeys(name for row in rows for name in row["stages"]):
        heights = [row["stages"].get(stage, 0.0) for row in rows]
        axis.bar(labels, heights, bottom=bottom, label=stage)
        bottom = [b + h for b, h in zip(bottom, heights)]
    axis.set_ylabel("seconds (report stages)")
    axis.set_title("convert --data digits --eval-images 50")
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", default="S16,B16")
    parser.add_argument("--modes", default="ptq,qat", help="names of convert.modes.MODES")
    parser.add_argument("--output", default=os.path.join(RESULTS, "conversion.json"))
    args = parser.parse_args()
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    print(cpu_description(), flush=True)
    folder = os.path.join(RESULTS, "conversion")
    os.makedirs(folder, exist_ok=True)
    rows = []
    for variant in args.variants.split(","):
        model = random_model(variant, folder)
        for mode in args.modes.split(","):
            print(f"[conversion] Mixer-{variant} {mode}", flush=True)
            wall, peak, report = timed_conversion(
                model, mode, os.path.join(folder, f"{variant}_{mode}.tflite")
            )
            train = report["seconds"].get("train", 0.0)
            rows.append(
                {
                    "variant": variant,
                    "mode": mode,
                    "wall_s": wall,
                    "peak_gb": peak,
                    "train_s": train,
                    "beyond_training_s": wall - train,
                    "stages": report["seconds"],
                }
            )
            print(table(rows), flush=True)
    png = write_results(
        {"cpu": cpu_description(), "rows": rows}, args.output, lambda path: plot(rows, path)
    )
    print(f"wrote {args.output} and {png}")


if __name__ == "__main__":
    main()
