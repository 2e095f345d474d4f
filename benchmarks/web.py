"""The web demo's speed: LiteRT.js in headless Chromium against Python LiteRT.

    .venv/bin/python benchmarks/web.py [--digits MODEL.tflite] [--variant S16] [--runs 50]

Two int8 models (uint8 I/O): the digits demo's (``python3 run.py demo``
writes it) and Mixer-``variant`` at 224 with random weights and a 10-class
head, converted with ``convert --ptq --data digits``. Each is timed in one
run of this script by Python LiteRT at one thread (set, invoke, get) and by
the page's own benchmark (web_demo/src/benchmark.js: the same input, the
tensor made and read back each run) at 1 and 2 threads, the page served
cross-origin isolated by web_demo/serve.py. Medians of ``--runs`` runs after
one warm-up; the ratio page / Python at one thread.

Writes benchmarks/results/web.json and web.png.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RESULTS = os.path.join(HERE, "results")
sys.path.insert(0, ROOT)
from harness import cpu_description, random_classifier, text_table, write_results  # noqa: E402


def variant_model(variant, folder):
    """Mixer-``variant`` int8 (random weights), converted once into ``folder``."""
    path = os.path.join(folder, f"{variant}_int8.tflite")
    if os.path.exists(path):
        return path
    keras_path = os.path.join(folder, f"{variant}.keras")
    random_classifier(variant).save(keras_path)
    command = [sys.executable, "-m", "convert", keras_path, "--ptq", "--data", "digits"]
    command += ["--eval-images", "50", "--debug-images", "0", "-o", path]
    env = {**os.environ, "KERAS_BACKEND": "tensorflow"}
    subprocess.run(command, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    return path


def python_median_ms(path, runs):
    """Median ms of set + invoke + get in Python LiteRT at one thread."""
    import numpy as np

    from convert import runtime

    runner = runtime.interpreter(path, num_threads=1)
    inp, out = runner.get_input_details()[0], runner.get_output_details()[0]
    image = np.full(inp["shape"], 128, inp["dtype"])
    times = []
    for _ in range(runs + 1):
        started = time.perf_counter()
        runner.set_tensor(inp["index"], image)
        runner.invoke()
        runner.get_tensor(out["index"])
        times.append(time.perf_counter() - started)
    return 1000 * statistics.median(times[1:])


def page_rows(models, runs):
    """{name: the page's benchmark rows at 1 and 2 threads} for each model, in one browser."""
    from convert import browser

    folder = os.path.dirname(next(iter(models.values())))
    found = {}
    with browser.open_page({"/files/": folder}) as page:
        for name, path in models.items():
            page.evaluate(browser.LOAD_JS, "/files/" + os.path.basename(path))
            found[name] = page.evaluate(browser.BENCHMARK_JS, [runs, [1, 2]])["rows"]
    return found


def plot(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(rows), figsize=(4.5 * len(rows), 3.6))
    for ax, row in zip(axes if len(rows) > 1 else [axes], rows, strict=True):
        labels = ["Python 1T"] + [f"page {t}T" for t in row["page_ms"]]
        values = [row["python_ms"], *row["page_ms"].values()]
        ax.bar(labels, values, color=["#777"] + ["#2f6fed"] * len(row["page_ms"]))
        ax.set_title(row["model"])
        ax.set_ylabel("median ms per image")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--digits", default=os.path.join(ROOT, "runs/digits/model_int8.tflite"))
    parser.add_argument("--variant", default="S16")
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--output", default=os.path.join(RESULTS, "web.json"))
    args = parser.parse_args()
    if not os.path.exists(args.digits):
        sys.exit(f"error: {args.digits} does not exist: run `python3 run.py demo` first")
    folder = os.path.join(RESULTS, "web_models")
    os.makedirs(folder, exist_ok=True)
    digits = os.path.join(folder, "digits_int8.tflite")
    with open(args.digits, "rb") as source, open(digits, "wb") as copy:
        copy.write(source.read())
    models = {"digits (demo)": digits, f"{args.variant} 224": variant_model(args.variant, folder)}
    print(cpu_description(), flush=True)
    python = {name: python_median_ms(path, args.runs) for name, path in models.items()}
    page = page_rows(models, args.runs)
    rows = []
    for name in models:
        page_ms = {row["threads"]: row["median_ms"] for row in page[name]}
        rows.append(
            {
                "model": name,
                "python_ms": python[name],
                "page_ms": page_ms,
                "page_compile_ms": page[name][0]["compile_ms"],
                "ratio_1_thread": page_ms[1] / python[name],
            }
        )
    print(
        text_table(
            rows,
            [
                ("model", -14, lambda r: r["model"]),
                ("Python 1T ms", 12, lambda r: f"{r['python_ms']:.2f}"),
                ("page 1T ms", 10, lambda r: f"{r['page_ms'][1]:.2f}"),
                ("page 2T ms", 10, lambda r: f"{r['page_ms'].get(2, float('nan')):.2f}"),
                ("page/Python 1T", 14, lambda r: f"{r['ratio_1_thread']:.2f}x"),
            ],
        )
    )
    report = {"cpu": cpu_description(), "runs": args.runs, "rows": rows}
    png = write_results(report, args.output, lambda path: plot(rows, path))
    print(f"wrote {args.output} and {png}")


if __name__ == "__main__":
    main()
