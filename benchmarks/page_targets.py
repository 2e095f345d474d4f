"""Which file for which target, measured: ``convert compare --runtime
litert,browser`` on the digits demo's model and on Mixer-S/16 at 224.

    .venv/bin/python benchmarks/page_targets.py [--digits runs/digits/model.keras]

The digits model (``python3 run.py demo`` trains it) in every mode; Mixer-S/16
at 224 with random weights and a 10-class head fitted to the digits resized to
224 (a linear probe: logistic regression on its pooled features of the
training split), so that its top-1 and the agreement between files mean
something, in every mode (``--skip-s16-qat`` leaves out QAT, whose training
at 224 takes most of the script's time on two cores). Each file is
evaluated and timed in LiteRT (Python, this CPU) and in the web demo's page
(LiteRT.js in headless Chromium) at 1 and 2 threads, one comparison per
model, in one run of this script.

Writes benchmarks/results/page_targets.json and .png (median latency per
mode, LiteRT beside the page), and each comparison's own folder
(compare.json, compare.png) under benchmarks/results/page_targets/.
"""

import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RESULTS = os.path.join(HERE, "results")
sys.path.insert(0, ROOT)

from harness import cpu_description, random_classifier, text_table, write_results  # noqa: E402

SIZE = 224
ALL_MODES = ("float32", "fp16", "dynamic", "ptq", "qat")


def probe_classifier(folder, variant="S16"):
    """Mixer-``variant`` at 224, random body, its head fitted to the digits'
    whole training split (saved once in ``folder``)."""
    path = os.path.join(folder, f"{variant}_probe.keras")
    if os.path.exists(path):
        return path
    import keras
    from sklearn.linear_model import LogisticRegression

    import keras_mixer
    from convert.samples import collect
    from keras_mixer import datasets

    model = random_classifier(variant)
    config = dict(datasets.data_settings(None, "digits", (SIZE, SIZE), {}).config, cache=False)
    train = datasets.read_split("digits", "train", config)
    pixels, labels = collect(datasets.evaluation_batches(train, config, 32, scale=False), None)
    print(f"fitting {variant}'s head on {len(labels)} digits at {SIZE}", flush=True)
    features = keras.Model(model.input, model.get_layer("head").input)
    pooled = features.predict(keras_mixer.preprocess_input(pixels), batch_size=32)
    mean, std = pooled.mean(0), pooled.std(0) + 1e-6  # standardised: the fit converges
    probe = LogisticRegression(max_iter=3000, C=0.1).fit((pooled - mean) / std, labels)
    kernel = probe.coef_.T / std[:, None]  # the standardisation folded into the head
    head = model.get_layer("head")
    head.kernel.assign(kernel.astype("float32"))
    head.bias.assign((probe.intercept_ - mean @ kernel).astype("float32"))
    model.save(path)
    return path


def compared(name, path, modes, folder, args):
    from convert.compare import CompareOptions, compare

    options = CompareOptions(
        modes=modes,
        threads=(1, 2),
        runs=args.runs,
        eval_images=args.eval_images,
        runtimes=("litert", "browser"),
    )
    return compare([path], os.path.join(folder, name), options)


def plot(found, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(found), figsize=(7 * len(found), 4.2))
    for ax, (name, results) in zip(axes, found.items(), strict=True):
        modes = results["options"]["modes"]
        bars = [(rt, n) for rt in ("litert", "browser") for n in (1, 2)]
        width = 0.8 / len(bars)
        for i, (runtime, threads) in enumerate(bars):
            by_mode = {
                r["mode"]: r["median_ms"]
                for r in results["rows"]
                if r["runtime"] == runtime and r["threads"] == threads
            }
            ax.bar(
                [m + (i - 1.5) * width for m in range(len(modes))],
                [by_mode.get(mode, 0) for mode in modes],
                width,
                label=f"{'page' if runtime == 'browser' else 'LiteRT'} {threads}T",
            )
        ax.set_xticks(range(len(modes)), modes)
        ax.set_yscale("log")
        ax.set_ylim(top=ax.get_ylim()[1] * 4)  # room for the legend above the bars
        ax.set_ylabel("median ms per image")
        ax.set_title(name)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--digits", default=os.path.join(ROOT, "runs/digits/model.keras"))
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--eval-images", type=int, default=100)
    parser.add_argument("--skip-s16-qat", action="store_true", help="no QAT file for S/16")
    parser.add_argument("--output", default=os.path.join(RESULTS, "page_targets.json"))
    args = parser.parse_args()
    if not os.path.exists(args.digits):
        sys.exit(f"error: {args.digits} does not exist: run `python3 run.py demo` first")
    from convert.targets import targets_text

    folder = os.path.join(RESULTS, "page_targets")
    os.makedirs(folder, exist_ok=True)
    print(cpu_description(), flush=True)
    found = {
        "digits (demo)": compared("digits", args.digits, ALL_MODES, folder, args),
        f"S/16 at {SIZE} (probe head)": compared(
            "S16_224",
            probe_classifier(folder),
            ALL_MODES[:-1] if args.skip_s16_qat else ALL_MODES,
            folder,
            args,
        ),
    }
    columns = [
        ("model", -26, lambda r: r["model"]),
        ("mode", -8, lambda r: r["mode"]),
        ("top-1", 6, lambda r: f"{r['top1']:.3f}"),
    ]
    for runtime, label in (("litert", "LiteRT"), ("browser", "page")):
        for n in (1, 2):
            columns.append(
                (f"{label} {n}T ms", 11, lambda r, k=(runtime, n): f"{r.get(k, float('nan')):.2f}")
            )
    rows = []
    for model, results in found.items():
        for mode in results["options"]["modes"]:
            row = {"model": model, "mode": mode}
            for r in (r for r in results["rows"] if r["mode"] == mode):
                row[(r["runtime"], r["threads"])] = r["median_ms"]
                if r["runtime"] == "litert":
                    row["top1"] = r["top1"]
            rows.append(row)
    print(text_table(rows, columns))
    for model, results in found.items():
        print(f"{model}:\n{targets_text(results['targets'])}")
    report = {"cpu": cpu_description(), "comparisons": found}
    png = write_results(report, args.output, lambda path: plot(found, path))
    print(f"wrote {args.output} and {png}")


if __name__ == "__main__":
    main()
